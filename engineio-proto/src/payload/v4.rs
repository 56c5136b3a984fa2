//! Protocol v4 polling payloads: packets joined by the record separator `\x1e`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{check_size, utf8_body, Sink};
use crate::packet::decode_text_in;
use crate::{DecodeError, DecodeLimits, Packet, ProtocolVersion};

/// The record separator between packets.
pub const SEPARATOR: u8 = 0x1e;

/// Appends the v4 payload for `packets` to `out`. Binary messages go as `b` + base64.
/// No packets encode as an empty body (which the decoder refuses: send at least a noop).
///
/// The protocol does not escape the separator: a text packet that contains U+001E is written
/// as is (as the reference does) and splits in two when decoded. Sessions refuse to send such
/// text over v4 polling (`SendError::Unencodable` in `engineio-session`).
pub fn encode(packets: &[Packet], out: &mut BytesMut) {
    let total: usize = packets
        .iter()
        .map(|p| p.encoded_text_len(ProtocolVersion::V4) + 1)
        .sum();
    out.reserve(total);
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.put_u8(SEPARATOR);
        }
        p.encode_text(ProtocolVersion::V4, out);
    }
}

/// Decodes a v4 payload into `out`, atomically. Text data is sliced from `body`, not copied.
///
/// ```
/// use bytes::Bytes;
/// use engineio_proto::{payload::v4, DecodeError, DecodeLimits, Packet};
/// let mut out = Vec::new();
/// v4::decode(Bytes::from_static(b"4a\x1e2"), &DecodeLimits::default(), &mut out).unwrap();
/// assert_eq!(out, [Packet::text("a"), Packet::ping()]);
/// let err = v4::decode(Bytes::from_static(b"4a\x1e\x1e2"), &DecodeLimits::default(), &mut out);
/// assert_eq!(err, Err(DecodeError::EmptyPacket { offset: 3 }));
/// assert_eq!(out.len(), 2); // untouched by the failed call
/// ```
pub fn decode(
    body: Bytes,
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    check_size(body.len(), limits)?;
    if body.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    let text = utf8_body(body)?;
    Sink::new(out, limits).run(|sink| {
        let bytes = text.as_bytes();
        let mut start = 0;
        for end in memchr::memchr_iter(SEPARATOR, bytes).chain(std::iter::once(bytes.len())) {
            // Separators are ASCII, so both ends are character boundaries.
            sink.push(decode_text_in(
                &text,
                start..end,
                ProtocolVersion::V4,
                start,
            )?)?;
            start = end + 1;
        }
        Ok(())
    })
}
