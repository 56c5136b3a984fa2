//! Protocol v3 binary payloads (`application/octet-stream`), used when a client that takes
//! binary is sent at least one binary packet. Per packet:
//!
//! - a marker byte: `0x00` for a string packet, `0x01` for a binary one;
//! - the packet's length in bytes, one byte per decimal digit (values `0`..`9`);
//! - `0xFF`;
//! - the packet: a string packet's text form in UTF-8, or a type byte (`0x04`) and the bytes.
//!
//! The reference counts a string packet's length in bytes of its UTF-8 form here (not in
//! UTF-16 units as in text payloads). An empty body is no packets.

use bytes::{BufMut, Bytes, BytesMut};

use super::{check_size, Sink};
use crate::packet::{decode_binary_v3_at, decode_text_in};
use crate::payload::v3_text::parse_length;
use crate::{DecodeError, DecodeLimits, Message, Packet, ProtocolVersion, Str};

const STRING: u8 = 0x00;
const BINARY: u8 = 0x01;
const END: u8 = 0xFF;

/// Appends the v3 binary payload for `packets` to `out`.
///
/// ```
/// use bytes::BytesMut;
/// use engineio_proto::{payload::v3_binary, Packet};
/// let mut out = BytesMut::new();
/// v3_binary::encode(&[Packet::text("hi"), Packet::binary(vec![9; 10])], &mut out);
/// assert_eq!(&out[..8], &[0, 3, 0xFF, b'4', b'h', b'i', 1, 1]);
/// ```
pub fn encode(packets: &[Packet], out: &mut BytesMut) {
    let mut digits = itoa::Buffer::new();
    for p in packets {
        let (marker, len) = match p {
            Packet::Message(Message::Binary(b)) => (BINARY, 1 + b.len()),
            p => (STRING, p.encoded_text_len(ProtocolVersion::V3)),
        };
        let len_digits = digits.format(len).as_bytes();
        out.reserve(2 + len_digits.len() + len);
        out.put_u8(marker);
        out.extend(len_digits.iter().map(|d| d - b'0'));
        out.put_u8(END);
        match p {
            Packet::Message(Message::Binary(b)) => {
                out.put_u8(4);
                out.put_slice(b);
            }
            p => p.encode_text(ProtocolVersion::V3, out),
        }
    }
}

/// Decodes a v3 binary payload into `out`, atomically. Binary data and text are slices of `body`.
pub fn decode(
    body: Bytes,
    limits: &DecodeLimits,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    check_size(body.len(), limits)?;
    Sink::new(out, limits).run(|sink| {
        let mut pos = 0;
        while pos < body.len() {
            let record = pos;
            let marker = body[pos];
            if marker != STRING && marker != BINARY {
                return Err(DecodeError::InvalidMarker {
                    byte: marker,
                    offset: pos,
                });
            }
            let (len, end_marker) = parse_length(&body, pos + 1, 0, END)
                .ok_or(DecodeError::InvalidLength { offset: record })?;
            let start = end_marker + 1;
            let end = start
                .checked_add(len)
                .filter(|&end| end <= body.len())
                .ok_or(DecodeError::LengthPastEnd { offset: record })?;
            let data = body.slice(start..end);
            let packet = if marker == STRING {
                let text = Str::try_from(data).map_err(|e| DecodeError::InvalidUtf8 {
                    offset: start + e.valid_up_to(),
                })?;
                decode_text_in(&text, 0..text.len(), ProtocolVersion::V3, start)?
            } else {
                decode_binary_v3_at(data, start)?
            };
            sink.push(packet)?;
            pos = end;
        }
        Ok(())
    })
}
