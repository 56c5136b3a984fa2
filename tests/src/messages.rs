//! Messages for echo tests: generated deterministically, sent to a peer as JSON, and the
//! echoes checked byte for byte and in order.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::truncate;

/// One Engine.IO message.
#[derive(Clone, PartialEq, Eq)]
pub enum Msg {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Text(s) => write!(f, "text({} chars) {:?}", s.chars().count(), truncate(s, 80)),
            Msg::Binary(b) => write!(
                f,
                "binary({} bytes) {:02x?}{}",
                b.len(),
                &b[..b.len().min(16)],
                if b.len() > 16 { "…" } else { "" }
            ),
        }
    }
}

impl Msg {
    /// The message as the peer scripts take it: `{"t": text}` or `{"b": base64}`.
    pub fn to_json(&self) -> Value {
        match self {
            Msg::Text(s) => json!({ "t": s }),
            Msg::Binary(b) => json!({ "b": B64.encode(b) }),
        }
    }

    /// Bytes of data.
    pub fn len(&self) -> usize {
        match self {
            Msg::Text(s) => s.len(),
            Msg::Binary(b) => b.len(),
        }
    }

    /// Whether the message carries no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the generator may produce.
#[derive(Clone, Copy, Debug)]
pub struct MessageRules {
    /// Largest binary message (65536 by default; one of exactly this size is always included).
    pub max_binary: usize,
    /// Largest text message, in characters.
    pub max_text_chars: usize,
    /// Text may contain U+001E. Protocol 4's polling payloads use it as the separator (the
    /// reference's too), so a v4 client cannot send it over polling; keep this false for v4.
    pub record_separator: bool,
    /// Text may have a backslash right before a newline. JSONP POSTs (protocol 3, form
    /// encoded) escape a newline as the two characters `\n` and a backslash-n as `\\n`, so
    /// a backslash followed by a newline reads back as backslash-n: the reference server
    /// decodes it so too. Keep this false for JSONP.
    pub backslash_newline: bool,
    /// Text may be valid JSON. The python-engineio client parses message text that is JSON
    /// (and does not start with a digit) into a Python value: `"a"` arrives as `a`, `true` as
    /// `True`. Keep this false for it; such texts get a `~` appended.
    pub json_text: bool,
}

impl Default for MessageRules {
    fn default() -> Self {
        MessageRules {
            max_binary: 64 * 1024,
            max_text_chars: 4000,
            record_separator: false,
            backslash_newline: true,
            json_text: true,
        }
    }
}

/// A small deterministic generator (xorshift64*), the same on every platform and release.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces text is built from: ASCII that looks like protocol (type digits, `b`, `:`, probe),
/// multibyte and non-BMP characters (2 UTF-16 units: v3 lengths count those), separators and
/// characters that JSON, JSONP and form encodings escape.
const PIECES: &[&str] = &[
    "a",
    "Z",
    "0",
    "4",
    "9",
    ":",
    "b",
    " ",
    "probe",
    "2probe",
    "é",
    "€",
    "中",
    "😀",
    "𝄞",
    "\u{10ffff}",
    "\u{fffd}",
    "\u{feff}",
    "\u{2028}",
    "\u{2029}",
    "\"",
    "\\",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "\0",
    "\u{7f}",
    "<",
    "&",
    "+",
    "%",
    "=",
    "'",
    "/",
    "\u{1}",
    "ß",
    "ǅ",
    "\u{301}",
];

fn gen_text(rng: &mut Rng, chars: usize, rules: &MessageRules) -> String {
    let mut s = String::new();
    let mut n = 0;
    while n < chars {
        if rules.record_separator && rng.below(50) == 0 {
            s.push('\u{1e}');
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
        n += 1;
    }
    s
}

fn gen_binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next() as u8).collect()
}

/// `count` messages from `seed`: first a fixed set of edge cases (empty text, empty binary,
/// a binary of exactly `max_binary` bytes, text of only non-BMP characters, text that looks
/// like packets and base64), then random text and binary of mixed sizes.
pub fn generate_messages(seed: u64, count: usize, rules: &MessageRules) -> Vec<Msg> {
    let mut rng = Rng(seed | 1);
    let mut out = vec![
        Msg::Text(String::new()),
        Msg::Binary(Vec::new()),
        Msg::Text("hello".to_owned()),
        Msg::Binary(gen_binary(&mut rng, rules.max_binary)),
        Msg::Text("😀𝄞😀".to_owned()),
        Msg::Text("b4AQIDBA==".to_owned()),
        Msg::Text("4probe".to_owned()),
        Msg::Text("10:b4AQIDBA==".to_owned()),
        Msg::Binary(vec![4]),
        Msg::Binary(b"4hello".to_vec()),
        Msg::Text("é€中".to_owned()),
        Msg::Text(String::new()),
        Msg::Binary(vec![0, 0xff, 0x1e, b':']),
    ];
    if rules.record_separator {
        out.push(Msg::Text("a\u{1e}b\u{1e}".to_owned()));
    }
    out.truncate(count);
    for m in &mut out {
        fixup(m, rules);
    }
    while out.len() < count {
        let m = match rng.below(20) {
            0 => Msg::Text(String::new()),
            1 => Msg::Binary(Vec::new()),
            2 => Msg::Text(gen_text(&mut rng, rules.max_text_chars.min(4000), rules)),
            3 => {
                let n = rng.below(rules.max_binary + 1);
                Msg::Binary(gen_binary(&mut rng, n))
            }
            4..=11 => {
                let n = rng.below(41);
                Msg::Text(gen_text(&mut rng, n, rules))
            }
            12..=13 => {
                let n = rng.below(rules.max_text_chars.min(400) + 1);
                Msg::Text(gen_text(&mut rng, n, rules))
            }
            _ => {
                let n = rng.below(300);
                Msg::Binary(gen_binary(&mut rng, n))
            }
        };
        let mut m = m;
        fixup(&mut m, rules);
        out.push(m);
    }
    out
}

/// Makes a text fit `rules` (see [`MessageRules`]).
fn fixup(m: &mut Msg, rules: &MessageRules) {
    let Msg::Text(s) = m else {
        return;
    };
    if !rules.backslash_newline {
        while s.contains("\\\n") {
            *s = s.replace("\\\n", "\\_\n");
        }
    }
    if !rules.json_text {
        let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
        let numeric_start = s.chars().next().is_some_and(|c| c.is_ascii_digit());
        let json = serde_json::from_str::<Value>(s).is_ok()
            || ["NaN", "Infinity", "-Infinity"].contains(&t);
        if json && !numeric_start {
            s.push('~');
        }
    }
}

/// How received messages may differ in form from the sent ones without being wrong.
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoRules {
    /// The client may deliver an empty text message as `undefined` (engine.io-client 3.x
    /// does, when the packet has no data); it is counted, and accepted only where `""` was
    /// sent.
    pub undefined_is_empty_text: bool,
}

/// What a checked batch of echoes looked like.
#[derive(Clone, Debug, Default)]
pub struct EchoStats {
    /// Messages checked.
    pub messages: usize,
    /// Bytes of data checked.
    pub bytes: usize,
    /// Empty texts that arrived as `undefined`.
    pub undefined_as_empty: usize,
    /// The JavaScript/Python types binary data arrived as (e.g. `Buffer`, `ArrayBuffer`).
    pub binary_kinds: Vec<String>,
    /// How many echoes arrived while each transport was current (`polling`, `websocket`).
    pub via: std::collections::BTreeMap<String, usize>,
}

impl EchoStats {
    /// Adds another batch's numbers.
    pub fn add(&mut self, other: &EchoStats) {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.undefined_as_empty += other.undefined_as_empty;
        for k in &other.binary_kinds {
            if !self.binary_kinds.contains(k) {
                self.binary_kinds.push(k.clone());
            }
        }
        for (k, n) in &other.via {
            *self.via.entry(k.clone()).or_default() += n;
        }
    }
}

/// Checks the `received` list of an echo answer against `sent`: same count, and each message
/// the same kind and bytes, in order. Panics naming the first difference (`context` says which
/// test and batch).
pub fn check_echoes(context: &str, sent: &[Msg], received: &Value, rules: EchoRules) -> EchoStats {
    let Some(received) = received.as_array() else {
        panic!("{context}: the answer has no list of received messages: {received}");
    };
    assert_eq!(
        received.len(),
        sent.len(),
        "{context}: {} messages sent, {} echoes received",
        sent.len(),
        received.len()
    );
    let mut stats = EchoStats::default();
    for (i, (s, r)) in sent.iter().zip(received).enumerate() {
        if let Some(via) = r["via"].as_str() {
            *stats.via.entry(via.to_owned()).or_default() += 1;
        }
        let got = if let Some(t) = r["t"].as_str() {
            Msg::Text(t.to_owned())
        } else if let Some(b) = r["b"].as_str() {
            let kind = r["kind"].as_str().unwrap_or("?").to_owned();
            if !stats.binary_kinds.contains(&kind) {
                stats.binary_kinds.push(kind);
            }
            Msg::Binary(
                B64.decode(b)
                    .unwrap_or_else(|e| panic!("{context}: echo {i}: bad base64 from peer: {e}")),
            )
        } else if r["u"] == true {
            assert!(
                rules.undefined_is_empty_text && *s == Msg::Text(String::new()),
                "{context}: echo {i} arrived as `undefined`; sent {s:?}"
            );
            stats.undefined_as_empty += 1;
            Msg::Text(String::new())
        } else {
            panic!("{context}: echo {i} arrived in an unexpected form {r}; sent {s:?}");
        };
        if got != *s {
            let detail = match (s, &got) {
                (Msg::Text(a), Msg::Text(b)) => {
                    let at = a
                        .chars()
                        .zip(b.chars())
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.chars().count().min(b.chars().count()));
                    let window = |s: &str| -> String {
                        s.chars().skip(at.saturating_sub(8)).take(24).collect()
                    };
                    format!(
                        "texts differ from character {at}: sent …{:?}…, received …{:?}…",
                        window(a),
                        window(b)
                    )
                }
                (Msg::Binary(a), Msg::Binary(b)) => {
                    let at = a
                        .iter()
                        .zip(b)
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.len().min(b.len()));
                    format!("bytes differ from offset {at}")
                }
                _ => "text and binary swapped".to_owned(),
            };
            panic!("{context}: echo {i} differs ({detail}):\n  sent     {s:?}\n  received {got:?}");
        }
        stats.messages += 1;
        stats.bytes += s.len();
    }
    stats
}
