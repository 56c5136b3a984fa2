//! Byte-exact cross-check of `engineio-proto`'s codecs against the reference parser,
//! `engine.io-parser` from npm: 5.x for protocol 4 and 2.x for protocol 3.
//!
//! The packages are installed on first use into `<target>/npm-peers/` (see
//! [`engineio_tests::npm_peer_dir`]); `tests/node/parser_crosscheck.js` runs them in one Node.js
//! process, batched requests as JSON lines.
//!
//! For every flavour (v4 payload, v4 WebSocket frame, v4 packet text form, v3 text payload,
//! v3 binary payload, v3 XHR payload with binary support, v3 WebSocket frame, v3 packet text
//! form, v3 base64 packet) and every generated packet sequence:
//! - our encoding equals the reference's, byte for byte (same kind: string or binary), and our
//!   decoder turns the reference's encoding back into the original packets;
//! - the reference's decoder turns our encoding back into the original packets.
//!
//! Generated sequences stay inside the model both sides share (see `engineio-proto`'s docs):
//! close, upgrade and noop carry no data, only messages carry binary, base64 is what encoders
//! write. A v4 payload cannot carry `\x1e` inside a text packet (it is the separator, on both
//! sides), so sequences with one are only compared on encoding there.
//!
//! The reference process compares its own results with ours and sends back only the ones that
//! differ (see `check` in the script), so matching results need not travel back.
//!
//! Replay: the run prints its seed; a failure names the case.
//! `ENGINEIO_CROSSCHECK_SEED=<seed> ENGINEIO_CROSSCHECK_CASE=<n> cargo test -p engineio-tests
//! --test parser_crosscheck` runs that one case. `ENGINEIO_CROSSCHECK_CASES=<n>` changes the
//! number of cases.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{v3_binary, v3_text, v4};
use engineio_proto::{
    ContentType, DecodeLimits, Frame, Message, Packet, PacketType, PayloadFormat, ProtocolVersion,
    Str,
};
use engineio_tests::{node_script, npm_peer_dir, npm_peer_version, truncate, NodeProcess};
use serde_json::{json, Value};

const PACKAGES: &[&str] = &[
    "parser5@npm:engine.io-parser@5",
    "parser2@npm:engine.io-parser@2",
];

const DEFAULT_SEED: u64 = 0x000e_6e10_c0de_c5ee;
const DEFAULT_CASES: usize = 3000;
/// Cases per request line to the reference process.
const BATCH: usize = 50;
/// Failures collected before the run stops.
const MAX_FAILURES: usize = 20;

fn reference() -> NodeProcess {
    let dir = npm_peer_dir("parser", PACKAGES);
    println!(
        "reference: engine.io-parser {} (protocol 4) and {} (protocol 3), in {}",
        npm_peer_version(&dir, "parser5"),
        npm_peer_version(&dir, "parser2"),
        dir.display()
    );
    NodeProcess::spawn(&node_script("parser_crosscheck.js"), &dir)
}

// ---------------------------------------------------------------------------------------------
// Values and packets as the reference process speaks them.

/// A body or frame: a JavaScript string or a Buffer.
#[derive(Clone, PartialEq, Eq)]
enum Val {
    Str(String),
    Bin(Bytes),
}

impl Val {
    /// Appends the value's JSON to a request line. Data goes as base64 (text as the base64 of
    /// its UTF-8: `{"utf8": ...}`), which needs no JSON escaping: the line is built by copying,
    /// which keeps the test fast in debug builds.
    fn write_json(&self, line: &mut String) {
        match self {
            Val::Str(s) => write_b64_field(line, "{\"utf8\":\"", s.as_bytes()),
            Val::Bin(b) => write_b64_field(line, "{\"bin\":\"", b),
        }
        line.push('}');
    }

    fn from_json(v: &Value) -> Result<Val, String> {
        match (v.get("str"), v.get("bin")) {
            (Some(Value::String(s)), None) => Ok(Val::Str(s.clone())),
            (None, Some(Value::String(b))) => B64
                .decode(b)
                .map(|b| Val::Bin(b.into()))
                .map_err(|e| format!("bad base64 from the reference: {e}")),
            _ => Err(format!("not a value: {}", truncate(&v.to_string(), 500))),
        }
    }

    fn from_frame(f: Frame) -> Val {
        match f {
            Frame::Text(s) => Val::Str(s.into()),
            Frame::Binary(b) => Val::Bin(b),
        }
    }

    fn from_utf8(b: BytesMut) -> Val {
        Val::Str(String::from_utf8(b.to_vec()).expect("our text encodings are UTF-8"))
    }

    fn str(&self) -> Result<Str, String> {
        match self {
            Val::Str(s) => Ok(Str::from(s.as_str())),
            Val::Bin(_) => Err("expected a string, got binary".into()),
        }
    }

    fn bin(&self) -> Result<Bytes, String> {
        match self {
            Val::Bin(b) => Ok(b.clone()),
            Val::Str(_) => Err("expected binary, got a string".into()),
        }
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Str(s) => write!(
                f,
                "str({} bytes) {}",
                s.len(),
                truncate(&format!("{s:?}"), 600)
            ),
            Val::Bin(b) => {
                let hex: String = b.iter().take(200).map(|x| format!("{x:02x}")).collect();
                let more = if b.len() > 200 { "…" } else { "" };
                write!(f, "bin({} bytes) {hex}{more}", b.len())
            }
        }
    }
}

/// Appends `prefix`, the base64 of `data` and a closing quote.
fn write_b64_field(line: &mut String, prefix: &str, data: &[u8]) {
    line.push_str(prefix);
    B64.encode_string(data, line);
    line.push('"');
}

/// Appends a packet's JSON to a request line: `{"type": ..., "utf8"|"bin": <base64>}`, no data
/// key for close, upgrade and noop.
fn write_packet_json(line: &mut String, p: &Packet) {
    let ty = match p.packet_type() {
        PacketType::Open => "open",
        PacketType::Close => "close",
        PacketType::Ping => "ping",
        PacketType::Pong => "pong",
        PacketType::Message => "message",
        PacketType::Upgrade => "upgrade",
        PacketType::Noop => "noop",
    };
    line.push_str("{\"type\":\"");
    line.push_str(ty);
    line.push('"');
    match p {
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) | Packet::Message(Message::Text(s)) => {
            write_b64_field(line, ",\"utf8\":\"", s.as_bytes())
        }
        Packet::Message(Message::Binary(b)) => write_b64_field(line, ",\"bin\":\"", b),
        Packet::Close | Packet::Upgrade | Packet::Noop => {}
    }
    line.push('}');
}

/// A packet the reference decoded, in our model. Data `undefined` is empty text (v2 leaves
/// it undefined for a packet with no data); close, upgrade and noop must come without data.
fn packet_from_json(v: &Value) -> Result<Packet, String> {
    let bad = || {
        format!(
            "unexpected packet from the reference: {}",
            truncate(&v.to_string(), 500)
        )
    };
    let text = || match (v.get("data"), v.get("bin")) {
        (None, None) => Ok(Str::new()),
        (Some(Value::String(s)), None) => Ok(Str::from(s.as_str())),
        _ => Err(bad()),
    };
    if v.get("ill_formed").is_some() {
        return Err(format!("the reference produced a lone surrogate: {v}"));
    }
    let empty = |p: Packet| match (v.get("data"), v.get("bin")) {
        (None, None) => Ok(p),
        _ => Err(bad()),
    };
    match v.get("type").and_then(Value::as_str) {
        Some("open") => Ok(Packet::Open(text()?)),
        Some("close") => empty(Packet::Close),
        Some("ping") => Ok(Packet::Ping(text()?)),
        Some("pong") => Ok(Packet::Pong(text()?)),
        Some("message") => match v.get("bin") {
            Some(b) => {
                let b = b.as_str().ok_or_else(bad)?;
                let b = B64.decode(b).map_err(|_| bad())?;
                if v.get("data").is_some() {
                    return Err(bad());
                }
                Ok(Packet::binary(b))
            }
            None => Ok(Packet::text(text()?)),
        },
        Some("upgrade") => empty(Packet::Upgrade),
        Some("noop") => empty(Packet::Noop),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------------
// Flavours: one encoding each, ours and the reference's.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// `payload::v4` vs v5 `encodePayload` / `decodePayload`.
    V4Payload,
    /// `Frame` (v4) vs v5 `encodePacket(p, true)` / `decodePacket`.
    V4Frame,
    /// `Packet::encode_text` (v4) vs v5 `encodePacket(p, false)` / `decodePacket`.
    V4PacketText,
    /// `payload::v3_text` vs v2 `encodePayload(packets, false)` / `decodePayload`.
    V3Text,
    /// `payload::v3_binary` vs v2 `encodePayloadAsBinary` / `decodePayloadAsBinary`.
    V3Binary,
    /// `PayloadFormat::V3 { binary: true }` vs v2 `encodePayload(packets, true)` / `decodePayload`.
    V3Auto,
    /// `Frame` (v3) vs v2 `encodePacket(p, true)` / `decodePacket`.
    V3Frame,
    /// `Packet::encode_text` (v3) vs v2 `encodePacket(p, false)` / `decodePacket`.
    V3PacketText,
    /// `Packet::encode_text` (v3) of a binary message vs v2 `encodeBase64Packet` / `decodePacket`.
    V3Base64,
}

const V4: ProtocolVersion = ProtocolVersion::V4;
const V3: ProtocolVersion = ProtocolVersion::V3;
const UNLIMITED: DecodeLimits = DecodeLimits::UNLIMITED;

impl Flavour {
    /// Whether the flavour encodes one packet (else a sequence).
    fn per_packet(self) -> bool {
        matches!(
            self,
            Flavour::V4Frame
                | Flavour::V4PacketText
                | Flavour::V3Frame
                | Flavour::V3PacketText
                | Flavour::V3Base64
        )
    }

    fn ours_encode(self, packets: &[Packet]) -> Val {
        let mut out = BytesMut::new();
        let single = || {
            assert_eq!(packets.len(), 1);
            &packets[0]
        };
        match self {
            Flavour::V4Payload => {
                v4::encode(packets, &mut out);
                Val::from_utf8(out)
            }
            Flavour::V4Frame => Val::from_frame(Frame::encode(single(), V4, &mut out)),
            Flavour::V4PacketText => {
                single().encode_text(V4, &mut out);
                Val::from_utf8(out)
            }
            Flavour::V3Text => {
                v3_text::encode(packets, &mut out);
                Val::from_utf8(out)
            }
            Flavour::V3Binary => {
                v3_binary::encode(packets, &mut out);
                Val::Bin(out.freeze())
            }
            Flavour::V3Auto => match (PayloadFormat::V3 { binary: true }).encode(packets, &mut out)
            {
                ContentType::Text => Val::from_utf8(out),
                ContentType::Binary => Val::Bin(out.freeze()),
                ContentType::Javascript => unreachable!("not JSONP"),
            },
            Flavour::V3Frame => Val::from_frame(Frame::encode(single(), V3, &mut out)),
            Flavour::V3PacketText | Flavour::V3Base64 => {
                single().encode_text(V3, &mut out);
                Val::from_utf8(out)
            }
        }
    }

    fn ours_decode(self, val: &Val) -> Result<Vec<Packet>, String> {
        let mut out = Vec::new();
        let frame = |v: ProtocolVersion| -> Result<Packet, String> {
            let f = match val {
                Val::Str(s) => Frame::Text(Str::from(s.as_str())),
                Val::Bin(b) => Frame::Binary(b.clone()),
            };
            f.decode(v, usize::MAX).map_err(|e| e.to_string())
        };
        let text = |v: ProtocolVersion| -> Result<Packet, String> {
            Packet::decode_text(val.str()?, v).map_err(|e| e.to_string())
        };
        let r = match self {
            Flavour::V4Payload => v4::decode(val.str()?.into_bytes(), &UNLIMITED, &mut out),
            Flavour::V4Frame => return frame(V4).map(|p| vec![p]),
            Flavour::V4PacketText => return text(V4).map(|p| vec![p]),
            Flavour::V3Text => v3_text::decode(val.str()?.into_bytes(), &UNLIMITED, &mut out),
            Flavour::V3Binary => v3_binary::decode(val.bin()?, &UNLIMITED, &mut out),
            Flavour::V3Auto => {
                let (binary_body, body) = match val {
                    Val::Str(s) => (false, Bytes::from(s.clone())),
                    Val::Bin(b) => (true, b.clone()),
                };
                PayloadFormat::V3 { binary: true }.decode(binary_body, body, &UNLIMITED, &mut out)
            }
            Flavour::V3Frame => return frame(V3).map(|p| vec![p]),
            Flavour::V3PacketText | Flavour::V3Base64 => return text(V3).map(|p| vec![p]),
        };
        r.map(|()| out).map_err(|e| e.to_string())
    }

    /// The flavour's name in `parser_crosscheck.js`.
    fn js_name(self) -> &'static str {
        match self {
            Flavour::V4Payload => "v4.payload",
            Flavour::V4Frame => "v4.frame",
            Flavour::V4PacketText => "v4.packetText",
            Flavour::V3Text => "v3.text",
            Flavour::V3Binary => "v3.binary",
            Flavour::V3Auto => "v3.auto",
            Flavour::V3Frame => "v3.frame",
            Flavour::V3PacketText => "v3.packetText",
            Flavour::V3Base64 => "v3.base64",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks: a request to the reference and what its answer must be.

/// One flavour applied to one sequence of a batch (or one packet of it).
///
/// The reference process compares its results with ours itself and answers `"same"` when they
/// are equal, so that matching results (nearly all) need not travel back:
/// - encoding: the reference encodes the packets; the result must be `ours`, same kind (string
///   or binary), same bytes. Our decoder must then get the packets back from those bytes.
/// - decoding (if `roundtrip`): the reference decodes `ours`; it must get the packets.
struct Check {
    flavour: Flavour,
    /// Index of the sequence in the batch.
    seq: usize,
    /// For per-packet flavours, the packet's index in the sequence.
    at: Option<usize>,
    /// What is encoded: the sequence, or the one packet.
    packets: Vec<Packet>,
    ours: Val,
    roundtrip: bool,
}

impl Check {
    fn new(
        flavour: Flavour,
        seq: usize,
        at: Option<usize>,
        packets: &[Packet],
        roundtrip: bool,
    ) -> Check {
        Check {
            flavour,
            seq,
            at,
            packets: packets.to_vec(),
            ours: flavour.ours_encode(packets),
            roundtrip,
        }
    }

    /// Appends the request's JSON to a request line.
    fn write_request(&self, line: &mut String) {
        let mut head = json!({
            "op": "check",
            "flavour": self.flavour.js_name(),
            "seq": self.seq,
            "decode": self.roundtrip,
        });
        if let Some(at) = self.at {
            head["at"] = json!(at);
        }
        let head = head.to_string();
        line.push_str(&head[..head.len() - 1]); // without its closing brace
        line.push_str(",\"ours\":");
        self.ours.write_json(line);
        line.push('}');
    }

    /// `Err` describes the mismatch.
    fn verify(&self, answer: &Value) -> Result<(), String> {
        let Check {
            flavour,
            packets,
            ours,
            roundtrip,
            ..
        } = self;
        if let Some(e) = answer.get("error") {
            return Err(format!("{flavour:?}: the reference process failed: {e}"));
        }
        // (a) The reference's encoding is ours, byte for byte; our decoder reads it back.
        let encode = &answer["encode"];
        if encode != "same" {
            if let Some(e) = encode.get("error") {
                return Err(format!("{flavour:?}: the reference's encoder threw: {e}"));
            }
            let theirs = Val::from_json(&encode["value"])?;
            return Err(format!(
                "{flavour:?}: encodings differ{}\n  ours:      {ours:?}\n  reference: {theirs:?}\n  \
                 our decoder on the reference's: {}",
                first_difference(ours, &theirs),
                match flavour.ours_decode(&theirs) {
                    Ok(p) => describe_packets(&p),
                    Err(e) => e,
                }
            ));
        }
        if *roundtrip {
            // The reference's bytes are ours: decode them here.
            let decoded = flavour.ours_decode(ours).map_err(|e| {
                format!("{flavour:?}: our decoder refused the (common) encoding {ours:?}: {e}")
            })?;
            if decoded != *packets {
                return Err(format!(
                    "{flavour:?}: our decoder got other packets from the (common) encoding \
                     {ours:?}: {}",
                    describe_packets(&decoded)
                ));
            }
            // (b) The reference decodes our encoding into the packets.
            let decode = &answer["decode"];
            if decode != "same" {
                if let Some(e) = decode.get("error") {
                    return Err(format!("{flavour:?}: the reference's decoder threw: {e}"));
                }
                let got: Result<Vec<Packet>, String> = decode["packets"]
                    .as_array()
                    .ok_or_else(|| format!("no packets in {}", truncate(&decode.to_string(), 500)))?
                    .iter()
                    .map(packet_from_json)
                    .collect();
                return Err(format!(
                    "{flavour:?}: the reference decoded our encoding {ours:?} into other \
                     packets: {}",
                    match got {
                        Ok(p) => describe_packets(&p),
                        Err(e) => e,
                    }
                ));
            }
        }
        Ok(())
    }
}

/// Where two values first differ, with some bytes of each from a little before that point.
fn first_difference(ours: &Val, theirs: &Val) -> String {
    let bytes = |v: &Val| match v {
        Val::Str(s) => Bytes::from(s.clone()),
        Val::Bin(b) => b.clone(),
    };
    let (a, b) = (bytes(ours), bytes(theirs));
    let at = a.iter().zip(b.iter()).take_while(|(x, y)| x == y).count();
    if at == a.len() && at == b.len() {
        return " (same bytes, but one is a string and the other binary)".into();
    }
    let from = at.saturating_sub(16);
    let window = |v: &Bytes| {
        let w = &v[from.min(v.len())..(at + 24).min(v.len())];
        format!("{:?}", String::from_utf8_lossy(w))
    };
    format!(
        " (lengths {} and {}); first different byte at {at}; from byte {from}:\n  ours:      \
         {}\n  reference: {}",
        a.len(),
        b.len(),
        window(&a),
        window(&b)
    )
}

fn describe_packets(packets: &[Packet]) -> String {
    let parts: Vec<String> = packets
        .iter()
        .map(|p| match p {
            Packet::Message(Message::Binary(b)) if b.len() > 64 => {
                format!(
                    "Message(Binary({} bytes, starting {:02x?}))",
                    b.len(),
                    &b[..16]
                )
            }
            p => truncate(&format!("{p:?}"), 400),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn has_record_separator(packets: &[Packet]) -> bool {
    packets.iter().any(|p| match p {
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) | Packet::Message(Message::Text(s)) => {
            s.contains('\x1e')
        }
        _ => false,
    })
}

/// The checks for one packet sequence (number `seq` of its batch), over every flavour that
/// applies.
fn checks_for(seq: usize, packets: &[Packet]) -> Vec<Check> {
    let mut checks = Vec::new();
    if !packets.is_empty() {
        // `\x1e` in a text packet splits it on both sides: only the encodings must agree.
        let roundtrip = !has_record_separator(packets);
        checks.push(Check::new(
            Flavour::V4Payload,
            seq,
            None,
            packets,
            roundtrip,
        ));
    }
    for flavour in [Flavour::V3Text, Flavour::V3Binary, Flavour::V3Auto] {
        checks.push(Check::new(flavour, seq, None, packets, true));
    }
    for (at, p) in packets.iter().enumerate() {
        let one = std::slice::from_ref(p);
        for flavour in [
            Flavour::V4Frame,
            Flavour::V4PacketText,
            Flavour::V3Frame,
            Flavour::V3PacketText,
        ] {
            checks.push(Check::new(flavour, seq, Some(at), one, true));
        }
        if p.is_binary() {
            checks.push(Check::new(Flavour::V3Base64, seq, Some(at), one, true));
        }
    }
    checks
}

/// Sends a batch (the sequences once, then every check) and verifies the answers; returns
/// the failures as (index into `checks`, description).
fn run_checks(
    node: &mut NodeProcess,
    seqs: &[Vec<Packet>],
    checks: &[Check],
) -> Vec<(usize, String)> {
    let mut line = String::from("{\"seqs\":[");
    for (i, seq) in seqs.iter().enumerate() {
        line.push_str(if i == 0 { "[" } else { ",[" });
        for (j, p) in seq.iter().enumerate() {
            if j > 0 {
                line.push(',');
            }
            write_packet_json(&mut line, p);
        }
        line.push(']');
    }
    line.push_str("],\"ops\":[");
    for (i, c) in checks.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        c.write_request(&mut line);
    }
    line.push_str("]}");
    let answer = node.request_line(&line);
    let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|e| {
        panic!(
            "the reference answered invalid JSON ({e}): {}",
            truncate(&answer, 2000)
        )
    });
    let Some(answers) = answer.as_array().filter(|a| a.len() == checks.len()) else {
        panic!(
            "the reference answered {} to {} requests",
            truncate(&answer.to_string(), 2000),
            checks.len()
        );
    };
    checks
        .iter()
        .zip(answers)
        .enumerate()
        .filter_map(|(i, (c, a))| c.verify(a).err().map(|e| (i, e)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generation, from a fixed seed.

/// SplitMix64: small, and its output for a seed never changes.
struct Rng(u64);

impl Rng {
    fn for_case(seed: u64, case: usize) -> Rng {
        let mut r = Rng(seed ^ (case as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

const SPECIAL_TEXTS: &[&str] = &[
    "probe",
    "b",
    "bAQID",
    "b4AQID",
    "0:",
    "12:4x",
    ":",
    "1:",
    "4",
    "null",
    "undefined",
    "[]",
    "\u{2028}\u{2029}",
    "\u{feff}",
    "\u{fffd}",
    "😀",
    "€",
    "\0",
    "𝄞",
    "{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}",
];

const SPECIAL_CHARS: &[char] = &[
    '€', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}', '\u{fffe}', '\u{ffff}', '\u{80}',
    '\u{7ff}', '\u{800}', '\u{d7ff}', '\u{e000}', 'é', 'ß', 'Ω', '中',
];

const ASTRAL_CHARS: &[char] = &[
    '😀',
    '🎉',
    '𝄞',
    '🀄',
    '\u{10000}',
    '\u{10ffff}',
    '👨',
    '\u{1f3fb}',
];

fn gen_char(rng: &mut Rng, allow_rs: bool) -> char {
    let from = |rng: &mut Rng, lo: u32, hi: u32| {
        // Surrogates are not chars: retry until we miss them (they are a small part of any range).
        loop {
            let c = lo + rng.below((hi - lo) as usize) as u32;
            if let Some(c) = char::from_u32(c) {
                return c;
            }
        }
    };
    match rng.below(100) {
        0..=39 => from(rng, 0x20, 0x7f),
        40..=49 => rng.pick(&['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ':']),
        50..=57 => match from(rng, 0, 0x21) {
            ' ' => '\x7f',
            '\x1e' if !allow_rs => '\x1f',
            c => c,
        },
        58..=59 if allow_rs => '\x1e',
        58..=59 => ':',
        60..=71 => from(rng, 0x80, 0x800),
        72..=83 => from(rng, 0x800, 0x10000),
        84..=89 => rng.pick(ASTRAL_CHARS),
        90..=94 => from(rng, 0x10000, 0x110000),
        _ => rng.pick(SPECIAL_CHARS),
    }
}

fn gen_text(rng: &mut Rng, allow_rs: bool) -> String {
    match rng.below(100) {
        0..=9 => String::new(),
        10..=17 => rng.pick(SPECIAL_TEXTS).to_owned(),
        _ => {
            let len = match rng.below(100) {
                0..=84 => rng.range(1, 24),
                85..=97 => rng.range(24, 400),
                _ => rng.range(400, 5000),
            };
            (0..len).map(|_| gen_char(rng, allow_rs)).collect()
        }
    }
}

fn gen_binary(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(1000) {
        0..=399 => rng.below(17),
        400..=749 => rng.range(17, 257),
        750..=949 => rng.range(257, 4097),
        950..=989 => rng.range(4097, 60_000),
        _ => rng.range(60_000, 65_537),
    };
    match rng.below(10) {
        0 => vec![0; len],
        1 => vec![0xff; len],
        // Bytes that look like v3 binary payload headers and text packets.
        2 => (0..len)
            .map(|_| rng.pick(&[0, 1, 4, 9, 0xff, b'4', b':', b'b']))
            .collect(),
        _ => {
            let mut v = Vec::with_capacity(len + 8);
            while v.len() < len {
                v.extend_from_slice(&rng.next().to_le_bytes());
            }
            v.truncate(len);
            v
        }
    }
}

fn gen_packet(rng: &mut Rng, allow_rs: bool) -> Packet {
    let heartbeat = |rng: &mut Rng| -> Str {
        match rng.below(3) {
            0 => Str::new(),
            1 => Str::from_static("probe"),
            _ => gen_text(rng, allow_rs).into(),
        }
    };
    match rng.below(100) {
        0..=4 => Packet::Open(gen_text(rng, allow_rs).into()),
        5..=9 => Packet::Close,
        10..=13 => Packet::Upgrade,
        14..=17 => Packet::Noop,
        18..=26 => Packet::Ping(heartbeat(rng)),
        27..=35 => Packet::Pong(heartbeat(rng)),
        36..=69 => Packet::text(gen_text(rng, allow_rs)),
        _ => Packet::binary(gen_binary(rng)),
    }
}

/// The packet sequence of case `case` under `seed`: 0..=8 packets.
fn gen_case(seed: u64, case: usize) -> Vec<Packet> {
    let mut rng = Rng::for_case(seed, case);
    let allow_rs = rng.below(10) == 0;
    let n = rng.below(9);
    (0..n).map(|_| gen_packet(&mut rng, allow_rs)).collect()
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

#[test]
fn random_sequences_match_reference() {
    let seed = env_number("ENGINEIO_CROSSCHECK_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_number("ENGINEIO_CROSSCHECK_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_number("ENGINEIO_CROSSCHECK_CASE").map(|n| n as usize);
    println!(
        "parser cross-check: seed {seed:#x}, {cases} cases (ENGINEIO_CROSSCHECK_SEED to change)"
    );
    let mut node = reference();
    let started = Instant::now();

    let case_ids: Vec<usize> = match only {
        Some(c) => vec![c],
        None => (0..cases).collect(),
    };
    let (mut n_cases, mut n_checks, mut n_packets, mut data_bytes) = (0, 0, 0, 0);
    let (mut n_binary, mut n_near_64k, mut n_rs) = (0, 0, 0);
    let mut failures: Vec<String> = Vec::new();
    for batch in case_ids.chunks(BATCH) {
        let mut checks = Vec::new();
        let mut seqs = Vec::new();
        for &case in batch {
            let packets = gen_case(seed, case);
            n_cases += 1;
            n_packets += packets.len();
            n_binary += packets.iter().filter(|p| p.is_binary()).count();
            n_near_64k += packets
                .iter()
                .filter(|p| p.is_binary() && packet_data_len(p) >= 60_000)
                .count();
            n_rs += usize::from(has_record_separator(&packets));
            data_bytes += packets.iter().map(packet_data_len).sum::<usize>();
            checks.extend(checks_for(seqs.len(), &packets));
            seqs.push(packets);
        }
        n_checks += checks.len();
        for (i, what) in run_checks(&mut node, &seqs, &checks) {
            let seq = checks[i].seq;
            let case = batch[seq];
            failures.push(format!(
                "case {case} (replay: ENGINEIO_CROSSCHECK_SEED={seed:#x} ENGINEIO_CROSSCHECK_CASE={case}):\n  packets: {}\n  {what}",
                describe_packets(&seqs[seq])
            ));
        }
        if failures.len() >= MAX_FAILURES {
            break;
        }
    }
    println!(
        "{n_cases} cases, {n_packets} packets ({n_binary} binary, {n_near_64k} of 60 KB or more; \
         {:.1} MB of data), {n_checks} checks in {:.2?}; {n_rs} cases with \\x1e in text \
         (v4 payload compared on encoding only)",
        data_bytes as f64 / 1e6,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches with the reference (seed {seed:#x}):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn packet_data_len(p: &Packet) -> usize {
    match p {
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) => s.len(),
        Packet::Message(m) => m.len(),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed vectors: the exact bytes, ours and the reference's, both ways.

fn s(text: &str) -> Val {
    Val::Str(text.to_owned())
}

fn b(bytes: &[u8]) -> Val {
    Val::Bin(Bytes::copy_from_slice(bytes))
}

#[test]
fn fixed_vectors_match_reference() {
    let nine = [9u8; 10];
    let mut hi_and_nines = vec![0, 3, 0xff, b'4', b'h', b'i', 1, 1, 1, 0xff, 4];
    hi_and_nines.extend_from_slice(&nine);
    let vectors: Vec<(Flavour, Vec<Packet>, Val)> = vec![
        // v3 text lengths count UTF-16 code units, the type digit included.
        (Flavour::V3Text, vec![Packet::text("€")], s("2:4€")),
        (Flavour::V3Text, vec![Packet::text("😀")], s("3:4😀")),
        (
            Flavour::V3Text,
            vec![Packet::text("€"), Packet::ping()],
            s("2:4€1:2"),
        ),
        (Flavour::V3Text, vec![], s("0:")),
        (Flavour::V3Auto, vec![], s("0:")),
        (Flavour::V3Auto, vec![Packet::text("a")], s("2:4a")),
        (
            Flavour::V3Text,
            vec![Packet::binary(vec![1, 2, 3, 4])],
            s("10:b4AQIDBA=="),
        ),
        (
            Flavour::V3Text,
            vec![Packet::Close, Packet::Upgrade, Packet::Noop],
            s("1:11:51:6"),
        ),
        (
            Flavour::V3Text,
            vec![Packet::ping_probe(), Packet::text("")],
            s("6:2probe1:4"),
        ),
        // v3 binary payloads count bytes of the UTF-8 text.
        (Flavour::V3Binary, vec![], b(&[])),
        (
            Flavour::V3Binary,
            vec![Packet::text("€")],
            b(&[0, 4, 0xff, b'4', 0xe2, 0x82, 0xac]),
        ),
        (
            Flavour::V3Binary,
            vec![Packet::text("hi"), Packet::binary(nine.to_vec())],
            b(&hi_and_nines),
        ),
        (
            Flavour::V3Auto,
            vec![Packet::text("hi"), Packet::binary(nine.to_vec())],
            b(&hi_and_nines),
        ),
        (
            Flavour::V3Binary,
            vec![Packet::binary(vec![])],
            b(&[1, 1, 0xff, 4]),
        ),
        // v4.
        (
            Flavour::V4Payload,
            vec![Packet::text("a"), Packet::binary(vec![1])],
            s("4a\x1ebAQ=="),
        ),
        (Flavour::V4Payload, vec![Packet::binary(vec![])], s("b")),
        (Flavour::V4Payload, vec![Packet::Noop], s("6")),
        // What a text packet holding `\x1e` turns into in a v4 payload, on both sides (the
        // text `a\x1eb` encodes as these two packets do: checked below).
        (
            Flavour::V4Payload,
            vec![Packet::text("a"), Packet::binary(vec![])],
            s("4a\x1eb"),
        ),
        (
            Flavour::V4Payload,
            vec![Packet::text("😀"), Packet::pong_probe()],
            s("4😀\x1e3probe"),
        ),
        // Frames and single packets.
        (
            Flavour::V4Frame,
            vec![Packet::binary(vec![1, 2])],
            b(&[1, 2]),
        ),
        (Flavour::V4Frame, vec![Packet::ping_probe()], s("2probe")),
        (Flavour::V4Frame, vec![Packet::binary(vec![])], b(&[])),
        (
            Flavour::V3Frame,
            vec![Packet::binary(vec![1, 2])],
            b(&[4, 1, 2]),
        ),
        (Flavour::V3Frame, vec![Packet::text("x\x1ey")], s("4x\x1ey")),
        (
            Flavour::V4PacketText,
            vec![Packet::binary(vec![1, 2, 3])],
            s("bAQID"),
        ),
        (
            Flavour::V3PacketText,
            vec![Packet::binary(vec![1, 2, 3])],
            s("b4AQID"),
        ),
        (
            Flavour::V3Base64,
            vec![Packet::binary(vec![1, 2, 3])],
            s("b4AQID"),
        ),
    ];

    let mut checks = Vec::new();
    let mut seqs = Vec::new();
    for (flavour, packets, expected) in &vectors {
        let check = Check::new(
            *flavour,
            seqs.len(),
            flavour.per_packet().then_some(0),
            packets,
            true,
        );
        assert_eq!(
            &check.ours, expected,
            "{flavour:?} {packets:?}: our encoding"
        );
        assert_eq!(
            flavour.ours_decode(expected).as_deref(),
            Ok(&packets[..]),
            "{flavour:?} {expected:?}: our decoding"
        );
        checks.push(check);
        seqs.push(packets.clone());
    }
    // `\x1e` inside a text packet: both sides write it as it is (the encodings are compared),
    // so the payload reads back as other packets (the vector above).
    let split = [Packet::text("a\x1eb")];
    checks.push(Check::new(
        Flavour::V4Payload,
        seqs.len(),
        None,
        &split,
        false,
    ));
    seqs.push(split.to_vec());
    assert_eq!(checks.last().map(|c| &c.ours), Some(&s("4a\x1eb")));
    let mut node = reference();
    let failures = run_checks(&mut node, &seqs, &checks);
    assert!(
        failures.is_empty(),
        "fixed vectors differ from the reference:\n{}",
        failures
            .iter()
            .map(|(i, e)| format!("vector {i}: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A v3 text length that splits a surrogate pair: we refuse the payload; the reference hands
/// out a packet ending in a lone surrogate, then a parse error (documented difference: we
/// deliver nothing of a bad payload).
#[test]
fn split_surrogate_refused_by_both() {
    let mut node = reference();
    let answer = node.request(&json!([
        { "op": "v2.decodePayload", "value": { "str": "2:4😀" } },
    ]));
    let packets = answer[0]["packets"].as_array().expect("packets");
    assert_eq!(
        packets.last().map(|p| &p["type"]),
        Some(&json!("error")),
        "the reference accepted a split surrogate: {answer}"
    );
    assert!(Flavour::V3Text.ours_decode(&s("2:4😀")).is_err());
}
