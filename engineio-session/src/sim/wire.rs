//! The wire as a simulated client sees it: requests built with `http`, bodies and frames
//! encoded and decoded with engineio-proto, exactly as a foreign client would.

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::jsonp;
use engineio_proto::{DecodeLimits, Message, Packet, PayloadFormat, ProtocolVersion, Transport};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};

use super::rng::SimRng;

/// How a client speaks: the protocol version and, for v3, its polling flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientFormat {
    /// Protocol 4.
    V4,
    /// Protocol 3 over XHR, taking binary payloads.
    V3Binary,
    /// Protocol 3 over XHR with `b64=1`.
    V3Base64,
    /// Protocol 3 over JSONP (`j=<index>`).
    V3Jsonp(u32),
}

impl ClientFormat {
    pub(crate) fn version(self) -> ProtocolVersion {
        match self {
            ClientFormat::V4 => ProtocolVersion::V4,
            _ => ProtocolVersion::V3,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientFormat::V4 => "v4",
            ClientFormat::V3Binary => "v3",
            ClientFormat::V3Base64 => "v3-b64",
            ClientFormat::V3Jsonp(_) => "v3-jsonp",
        }
    }

    fn payload_format(self) -> PayloadFormat {
        match self {
            ClientFormat::V4 => PayloadFormat::V4,
            ClientFormat::V3Binary => PayloadFormat::V3 { binary: true },
            ClientFormat::V3Base64 => PayloadFormat::V3 { binary: false },
            ClientFormat::V3Jsonp(index) => PayloadFormat::V3Jsonp { index },
        }
    }

    /// The request target for `transport`, with `sid` once the session is open.
    pub(crate) fn target(
        self,
        path: &str,
        transport: Transport,
        sid: Option<&str>,
        cache_buster: u64,
    ) -> String {
        let mut t = format!(
            "{path}?EIO={}&transport={}",
            self.version().as_str(),
            transport.as_str()
        );
        if let Some(sid) = sid {
            t.push_str("&sid=");
            t.push_str(sid);
        }
        match self {
            ClientFormat::V3Base64 => t.push_str("&b64=1"),
            ClientFormat::V3Jsonp(j) => t.push_str(&format!("&j={j}")),
            _ => {}
        }
        t.push_str(&format!("&t={cache_buster:x}"));
        t
    }

    /// The body and content type of a POST carrying `packets`.
    pub(crate) fn encode_post(self, packets: &[Packet]) -> (Bytes, &'static str) {
        if let ClientFormat::V3Jsonp(_) = self {
            return (
                jsonp::encode_form_body(packets),
                "application/x-www-form-urlencoded",
            );
        }
        let mut out = BytesMut::new();
        let ct = self.payload_format().encode(packets, &mut out);
        (out.freeze(), ct.as_str())
    }

    /// The packets of a polling response (decompressed first if it says so).
    pub(crate) fn decode_response(self, resp: &Response<Bytes>) -> Result<Vec<Packet>, String> {
        let body = decompress(resp)?;
        let mut out = Vec::new();
        let limits = DecodeLimits::UNLIMITED;
        let binary = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/octet-stream");
        let r = match self {
            ClientFormat::V3Jsonp(j) => match jsonp::decode_response(&body, &limits, &mut out) {
                Ok(index) if index == j => Ok(()),
                Ok(index) => return Err(format!("JSONP callback index {index}, expected {j}")),
                Err(e) => Err(e),
            },
            ClientFormat::V4 if binary => return Err("v4 response with a binary body".into()),
            f => f.payload_format().decode(binary, body, &limits, &mut out),
        };
        r.map_err(|e| format!("undecodable response body: {e}"))?;
        Ok(out)
    }
}

fn decompress(resp: &Response<Bytes>) -> Result<Bytes, String> {
    let Some(enc) = resp.headers().get(header::CONTENT_ENCODING) else {
        return Ok(resp.body().clone());
    };
    #[cfg(feature = "compression")]
    {
        use std::io::Read;
        let body = &resp.body()[..];
        let mut out = Vec::new();
        let r = match enc.as_bytes() {
            b"gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
            b"deflate" => flate2::read::ZlibDecoder::new(body).read_to_end(&mut out),
            other => return Err(format!("unknown content encoding {other:?}")),
        };
        r.map_err(|e| format!("bad compressed body: {e}"))?;
        Ok(Bytes::from(out))
    }
    #[cfg(not(feature = "compression"))]
    {
        Err(format!(
            "compressed response ({enc:?}) without compression support"
        ))
    }
}

/// A polling request.
pub(crate) fn http_request(
    method: Method,
    target: &str,
    accept_encoding: Option<&'static str>,
    body: Bytes,
    content_type: Option<&'static str>,
) -> Request<Bytes> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = target.parse().unwrap_or_default();
    let h = req.headers_mut();
    h.insert(header::HOST, HeaderValue::from_static("sim.test"));
    if let Some(ae) = accept_encoding {
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(ae));
    }
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    req
}

/// A WebSocket upgrade request (`Upgrade: websocket`).
pub(crate) fn ws_request(target: &str, rng: &mut SimRng) -> Request<Bytes> {
    use base64::Engine as _;
    let mut key = [0u8; 16];
    rng.fill(&mut key);
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let mut req = http_request(Method::GET, target, None, Bytes::new(), None);
    let h = req.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert(header::SEC_WEBSOCKET_KEY, v);
    }
    req
}

/// What a message generator may produce.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Alphabet {
    /// Text may contain U+001E (the v4 payload separator, which only WebSocket can carry).
    pub(crate) record_separator: bool,
    /// Text may contain a backslash (JSONP form bodies cannot carry `\` before a newline).
    pub(crate) backslash: bool,
}

const WORDS: &[&str] = &[
    "hello",
    "héllo",
    "wörld",
    "€",
    "😀",
    "👍🏽",
    "日本語",
    "a",
    "",
    " ",
    "\n",
    "\"q\"",
    "12:34",
    "\u{2028}",
    "\u{2029}",
    "\t",
    "\r\n",
    "\0",
    "x:",
    "4",
    "b",
    "ok",
    "probe",
    "{\"k\":[1]}",
];

/// A message tagged with `n` so that a duplicate or a swap shows (except the empty ones).
pub(crate) fn message(rng: &mut SimRng, n: u64, a: Alphabet) -> Message {
    match rng.below(16) {
        0 => Message::from(""),
        1 => Message::Binary(Bytes::new()),
        2..=4 => {
            let mut b = n.to_le_bytes()[..4].to_vec();
            let len = rng.range(0, 40) as usize;
            let start = b.len();
            b.resize(start + len, 0);
            rng.fill(&mut b[start..]);
            Message::Binary(Bytes::from(b))
        }
        5 => {
            // Large enough to be compressed when the client accepts it.
            let mut b = n.to_le_bytes()[..4].to_vec();
            let len = rng.range(1024, 2500) as usize;
            b.extend((0..len).map(|i| (i % 7) as u8));
            Message::Binary(Bytes::from(b))
        }
        6 => {
            let word = rng.pick(WORDS);
            let reps = rng.range(200, 600) as usize;
            Message::from(format!("#{n}| {}", word.repeat(reps).replace('\\', "/")))
        }
        _ => {
            let mut s = format!("#{n}|");
            for _ in 0..rng.range(0, 6) {
                let word = *rng.pick(WORDS);
                s.push_str(word);
            }
            if a.record_separator && rng.chance(0.3) {
                s.push('\u{1e}');
            }
            if a.backslash && rng.chance(0.2) {
                s.push_str("\\n\\");
            }
            Message::from(s)
        }
    }
}

/// A polling body the server cannot decode, for `format`.
pub(crate) fn garbage_body(format: ClientFormat, rng: &mut SimRng) -> (Bytes, &'static str) {
    const TEXT: &str = "text/plain;charset=UTF-8";
    let pick = |rng: &mut SimRng, xs: &[&'static [u8]]| {
        let x = *rng.pick(xs);
        Bytes::from_static(x)
    };
    match format {
        ClientFormat::V4 => (pick(rng, GARBAGE_V4), TEXT),
        ClientFormat::V3Binary if rng.chance(0.5) => {
            (pick(rng, GARBAGE_V3_BINARY), "application/octet-stream")
        }
        ClientFormat::V3Binary | ClientFormat::V3Base64 => (pick(rng, GARBAGE_V3_TEXT), TEXT),
        ClientFormat::V3Jsonp(_) => (
            pick(rng, GARBAGE_JSONP),
            "application/x-www-form-urlencoded",
        ),
    }
}

/// A WebSocket frame the server cannot decode, for `version`.
pub(crate) fn garbage_frame(version: ProtocolVersion, rng: &mut SimRng) -> engineio_proto::Frame {
    use engineio_proto::Frame;
    match version {
        ProtocolVersion::V4 => Frame::Text((*rng.pick(GARBAGE_FRAMES_V4)).into()),
        ProtocolVersion::V3 if rng.chance(0.3) => {
            let x = *rng.pick(GARBAGE_BINARY_FRAMES_V3);
            Frame::Binary(Bytes::from_static(x))
        }
        ProtocolVersion::V3 => Frame::Text((*rng.pick(GARBAGE_FRAMES_V3)).into()),
    }
}

pub(crate) const GARBAGE_V4: &[&[u8]] = &[b"", b"9", b"x", b"b!!", b"4a\x1e", b"\x1e4a", b"4\xff"];
pub(crate) const GARBAGE_V3_TEXT: &[&[u8]] = &[
    b"5:4ab", b"x:4a", b"2:4", b"1:9", b"4", b"3:4\xff", b"2:b4!!", b"1:4junk",
];
pub(crate) const GARBAGE_V3_BINARY: &[&[u8]] = &[
    b"\x00\x01\xff",
    b"\x02",
    b"\x00\x02\xff4a\x00",
    b"\x01\x02\xff\x09\x01",
    b"\x00\x01",
];
pub(crate) const GARBAGE_JSONP: &[&[u8]] = &[b"x=1", b"d=5%3A4ab", b"d=1%3A9", b"d=9"];
pub(crate) const GARBAGE_FRAMES_V4: &[&str] = &["", "9", "x", "b!!"];
pub(crate) const GARBAGE_FRAMES_V3: &[&str] = &["", "9", "x", "b", "b4!!", "b1AQ=="];
pub(crate) const GARBAGE_BINARY_FRAMES_V3: &[&[u8]] = &[b"", b"\x09\x01", b"\x02x"];

#[cfg(test)]
mod tests {
    use super::*;
    use engineio_proto::Frame;

    fn fails(format: PayloadFormat, binary: bool, body: &'static [u8]) -> bool {
        let mut out = Vec::new();
        format
            .decode(
                binary,
                Bytes::from_static(body),
                &DecodeLimits::default(),
                &mut out,
            )
            .is_err()
            && out.is_empty()
    }

    #[test]
    fn garbage_is_garbage() {
        for &g in GARBAGE_V4 {
            assert!(fails(PayloadFormat::V4, false, g), "{g:?}");
        }
        for &g in GARBAGE_V3_TEXT {
            assert!(fails(PayloadFormat::V3 { binary: true }, false, g), "{g:?}");
            assert!(
                fails(PayloadFormat::V3 { binary: false }, false, g),
                "{g:?}"
            );
        }
        for &g in GARBAGE_V3_BINARY {
            assert!(fails(PayloadFormat::V3 { binary: true }, true, g), "{g:?}");
        }
        for &g in GARBAGE_JSONP {
            assert!(
                fails(PayloadFormat::V3Jsonp { index: 1 }, false, g),
                "{g:?}"
            );
        }
        for &g in GARBAGE_FRAMES_V4 {
            assert!(
                Frame::Text(g.into())
                    .decode(ProtocolVersion::V4, 1 << 20)
                    .is_err(),
                "{g:?}"
            );
        }
        for &g in GARBAGE_FRAMES_V3 {
            assert!(
                Frame::Text(g.into())
                    .decode(ProtocolVersion::V3, 1 << 20)
                    .is_err(),
                "{g:?}"
            );
        }
        for &g in GARBAGE_BINARY_FRAMES_V3 {
            let f = Frame::Binary(Bytes::from_static(g));
            assert!(f.decode(ProtocolVersion::V3, 1 << 20).is_err(), "{g:?}");
        }
    }

    #[test]
    fn every_format_round_trips_generated_messages() {
        let mut rng = SimRng::new(1);
        for format in [
            ClientFormat::V4,
            ClientFormat::V3Binary,
            ClientFormat::V3Base64,
            ClientFormat::V3Jsonp(3),
        ] {
            let a = Alphabet {
                record_separator: false,
                backslash: !matches!(format, ClientFormat::V3Jsonp(_)),
            };
            let packets: Vec<Packet> = (0..200)
                .map(|n| Packet::Message(message(&mut rng, n, a)))
                .collect();
            let (body, ct) = format.encode_post(&packets);
            let mut out = Vec::new();
            format
                .payload_format()
                .decode(
                    ct == "application/octet-stream",
                    body,
                    &DecodeLimits::UNLIMITED,
                    &mut out,
                )
                .unwrap();
            assert_eq!(out, packets, "{format:?}");
        }
    }
}
