//! Protocol v3 JSONP polling, for browsers that could not do cross-origin XHR.
//!
//! - Responses wrap a v3 text payload in a script: `___eio[<j>]("<payload as a JSON string>");`
//!   with U+2028 and U+2029 escaped too, since they end a line in JavaScript (but not in JSON).
//! - Requests are form posts: `d=<payload>`, form-urlencoded, where the client wrote a newline
//!   as the two characters `\n` and the two characters `\n` as `\\n` (browsers may turn a bare
//!   newline in a form field into CRLF). Binary messages always travel as `b4` + base64.
//!   That escaping is ambiguous: a backslash followed by a newline arrives as a backslash
//!   followed by `n`. We decode as the reference does, so the same bytes mean the same text.

use bytes::{BufMut, Bytes, BytesMut};

use super::v3_text;
use crate::{DecodeError, DecodeLimits, Packet, Str};

const HEAD: &[u8] = b"___eio[";

/// Appends the JSONP response for `packets` to `out`.
///
/// ```
/// use bytes::BytesMut;
/// use engineio_proto::{payload::jsonp, Packet};
/// let mut out = BytesMut::new();
/// jsonp::encode_response(3, &[Packet::text("a\"\u{2028}")], &mut out);
/// assert_eq!(std::str::from_utf8(&out).unwrap(), r#"___eio[3]("4:4a\"\u2028");"#);
/// ```
pub fn encode_response(index: u32, packets: &[Packet], out: &mut BytesMut) {
    let mut payload = BytesMut::new();
    v3_text::encode(packets, &mut payload);
    out.reserve(HEAD.len() + 16 + payload.len() + payload.len() / 8);
    out.put_slice(HEAD);
    out.put_slice(itoa::Buffer::new().format(index).as_bytes());
    out.put_slice(b"](");
    write_js_string(&payload, out);
    out.put_slice(b");");
}

/// Writes `s` as a JSON string literal that is also a valid JavaScript string literal: exactly
/// what `JSON.stringify` writes, with U+2028 and U+2029 escaped too. `bytes` is UTF-8 (a v3
/// text payload of ours).
fn write_js_string(bytes: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            // U+2028 is E2 80 A8, U+2029 is E2 80 A9.
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                }
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.put_slice(&bytes[plain..i]);
        out.put_slice(escape);
        i += if b == 0xE2 { 3 } else { 1 };
        plain = i;
    }
    out.put_slice(&bytes[plain..]);
    out.put_u8(b'"');
}

/// Decodes a JSONP POST body (`d=<payload>`, form-urlencoded) into `out`, atomically.
///
/// ```
/// use engineio_proto::{payload::jsonp, DecodeLimits, Packet};
/// let mut out = Vec::new();
/// jsonp::decode_form_body(b"d=6%3A4a%5Cnb%5C%5Cn", &DecodeLimits::default(), &mut out).unwrap();
/// assert_eq!(out, [Packet::text("a\nb\\n")]);
/// ```
pub fn decode_form_body(
    body: &[u8],
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    super::check_size(body.len(), limits)?;
    let data = form_urlencoded::parse(body)
        .find(|(k, _)| k == "d")
        .map(|(_, v)| v)
        .ok_or(DecodeError::MissingJsonpData)?;
    let payload = Str::from(unescape_newlines(&data));
    v3_text::decode_str(&payload, limits, out)
}

/// Undoes the client's newline escaping, as the reference does: first `\n` becomes a newline
/// while `\\n` stays, then `\\n` becomes `\n`.
fn unescape_newlines(s: &str) -> String {
    if !s.contains("\\n") {
        return s.to_owned();
    }
    let mut first = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        first.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("\\\\n") {
            first.push_str("\\\\n");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("\\n") {
            first.push('\n');
            rest = after;
        } else {
            first.push('\\');
            rest = &tail[1..];
        }
    }
    first.push_str(rest);
    first.replace("\\\\n", "\\n")
}

/// Encodes `packets` as a JSONP POST body (`d=...`), escaping newlines as the v3 client does.
/// For clients and tests; servers only decode these.
pub fn encode_form_body(packets: &[Packet]) -> Bytes {
    let mut payload = BytesMut::new();
    v3_text::encode(packets, &mut payload);
    let payload = std::str::from_utf8(&payload).unwrap_or_default();
    let escaped = payload.replace("\\n", "\\\n").replace('\n', "\\n");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("d", &escaped)
        .finish();
    Bytes::from(body)
}

/// Decodes a JSONP response (`___eio[<j>]("...");`) into its callback index and packets.
/// For clients and tests; servers only encode these.
pub fn decode_response(
    body: &[u8],
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<u32, DecodeError> {
    super::check_size(body.len(), limits)?;
    let rest = body.strip_prefix(HEAD).ok_or(DecodeError::MalformedJsonp)?;
    let close = memchr::memchr(b']', rest).ok_or(DecodeError::MalformedJsonp)?;
    let digits = std::str::from_utf8(&rest[..close]).map_err(|_| DecodeError::MalformedJsonp)?;
    let index = crate::query::parse_jsonp_index(digits).ok_or(DecodeError::MalformedJsonp)?;
    let literal = rest[close + 1..]
        .strip_prefix(b"(")
        .and_then(|r| r.strip_suffix(b");"))
        .ok_or(DecodeError::MalformedJsonp)?;
    let payload: String =
        serde_json::from_slice(literal).map_err(|_| DecodeError::MalformedJsonp)?;
    v3_text::decode_str(&Str::from(payload), limits, out)?;
    Ok(index)
}
