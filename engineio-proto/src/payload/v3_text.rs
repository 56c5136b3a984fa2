//! Protocol v3 text payloads: `<len>:<packet>` repeated, where `len` counts UTF-16 code units
//! of the packet's text form (as JavaScript's `String.length` does), type digit included.
//!
//! Lengths are ASCII digits only, at most [`MAX_LENGTH_DIGITS`] of them: the reference also
//! accepts what JavaScript's `Number()` does (`+5`, `1e1`, ` 5`), we refuse those.
//! A zero length (`0:`) is an empty record: no packet, as in the reference; no packets at all
//! encode as `0:`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{check_size, utf8_body, Sink};
use crate::packet::decode_text_in;
use crate::{DecodeError, DecodeLimits, Packet, ProtocolVersion, Str};

/// Most digits accepted in a length prefix (enough for any payload below 10 GB).
pub const MAX_LENGTH_DIGITS: usize = 10;

/// Appends the v3 text payload for `packets` to `out`. Binary messages go as `b4` + base64.
///
/// ```
/// use bytes::BytesMut;
/// use engineio_proto::{payload::v3_text, Packet};
/// let mut out = BytesMut::new();
/// v3_text::encode(&[Packet::text("😀"), Packet::binary(vec![1])], &mut out);
/// assert_eq!(std::str::from_utf8(&out).unwrap(), "3:4😀6:b4AQ==");
/// ```
pub fn encode(packets: &[Packet], out: &mut BytesMut) {
    if packets.is_empty() {
        out.put_slice(b"0:");
        return;
    }
    let mut digits = itoa::Buffer::new();
    for p in packets {
        let len = p.encoded_text_utf16_len(ProtocolVersion::V3);
        let len = digits.format(len);
        out.reserve(len.len() + 1 + p.encoded_text_len(ProtocolVersion::V3));
        out.put_slice(len.as_bytes());
        out.put_u8(b':');
        p.encode_text(ProtocolVersion::V3, out);
    }
}

/// Decodes a v3 text payload into `out`, atomically. Text data is sliced from `body`.
///
/// ```
/// use bytes::Bytes;
/// use engineio_proto::{payload::v3_text, DecodeError, DecodeLimits, Packet};
/// let mut out = Vec::new();
/// v3_text::decode(Bytes::from("2:4€1:2".to_string()), &DecodeLimits::default(), &mut out).unwrap();
/// assert_eq!(out, [Packet::text("€"), Packet::ping()]);
/// // "😀" is two UTF-16 units: a length of 2 would split it.
/// let bad = v3_text::decode(Bytes::from("2:4😀".to_string()), &DecodeLimits::default(), &mut out);
/// assert_eq!(bad, Err(DecodeError::SplitSurrogate { offset: 0 }));
/// ```
pub fn decode(
    body: Bytes,
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    check_size(body.len(), limits)?;
    decode_str(&utf8_body(body)?, limits, out)
}

/// Decodes a body already validated as UTF-8 (shared with JSONP).
pub(crate) fn decode_str(
    text: &Str,
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    check_size(text.len(), limits)?;
    if text.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    Sink::new(out, limits).run(|sink| decode_records(text, sink))
}

fn decode_records(text: &Str, sink: &mut Sink<'_>) -> Result<(), DecodeError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let record = pos;
        let (units, colon) = parse_length(bytes, pos, b'0', b':')
            .ok_or(DecodeError::InvalidLength { offset: pos })?;
        let start = colon + 1;
        let end = advance_utf16(bytes, start, units).map_err(|e| match e {
            Advance::PastEnd => DecodeError::LengthPastEnd { offset: record },
            Advance::SplitSurrogate => DecodeError::SplitSurrogate { offset: record },
        })?;
        if end > start {
            // `advance_utf16` stops only on character boundaries.
            sink.push(decode_text_in(
                text,
                start..end,
                ProtocolVersion::V3,
                start,
            )?)?;
        }
        pos = end;
    }
    Ok(())
}

/// Parses a length at `pos`: one to [`MAX_LENGTH_DIGITS`] digits (`zero` to `zero + 9`: ASCII
/// in text payloads, raw values in binary ones) then `end`. Returns the length and the
/// position of `end`.
pub(crate) fn parse_length(bytes: &[u8], pos: usize, zero: u8, end: u8) -> Option<(usize, usize)> {
    let mut n: usize = 0;
    let mut i = pos;
    while let Some(&b) = bytes.get(i) {
        match b.wrapping_sub(zero) {
            d @ 0..=9 if i - pos < MAX_LENGTH_DIGITS => {
                n = n.saturating_mul(10).saturating_add(usize::from(d))
            }
            _ if b == end && i > pos => return Some((n, i)),
            _ => return None,
        }
        i += 1;
    }
    None
}

enum Advance {
    PastEnd,
    SplitSurrogate,
}

/// Walks `units` UTF-16 code units of valid UTF-8 from `start`; returns the byte position
/// reached, always a character boundary.
fn advance_utf16(bytes: &[u8], start: usize, units: usize) -> Result<usize, Advance> {
    // Fast path: an all-ASCII record is one unit per byte.
    if let Some(record) = bytes.get(start..start.saturating_add(units)) {
        if record.is_ascii() {
            return Ok(start + units);
        }
    }
    let mut pos = start;
    let mut left = units;
    while left > 0 {
        // Fast path: a run of ASCII is one unit per byte.
        let window = &bytes[pos..bytes.len().min(pos.saturating_add(left))];
        let ascii = window
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(window.len());
        pos += ascii;
        left -= ascii;
        if left == 0 {
            break;
        }
        let Some(&lead) = bytes.get(pos) else {
            return Err(Advance::PastEnd);
        };
        let (width, cost) = match lead {
            0xF0.. => (4, 2),
            0xE0.. => (3, 1),
            _ => (2, 1),
        };
        if cost > left {
            return Err(Advance::SplitSurrogate);
        }
        pos += width;
        left -= cost;
    }
    Ok(pos)
}
