//! WebSocket frames: one packet per frame.
//!
//! - Text frames carry the text form of a packet (`4hello`, `2probe`).
//! - v4 binary frames carry a binary message's bytes as they are (no type byte).
//! - v3 binary frames carry a type byte (`0x04`) followed by the bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::{decode_binary_v3_at, decode_text_in};
use crate::{DecodeError, Message, Packet, ProtocolVersion, Str};

/// The data of one WebSocket data frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(Str),
    /// A binary frame.
    Binary(Bytes),
}

impl Frame {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes the packet this frame carries. Frames larger than `max_bytes` are refused
    /// (the WebSocket layer should already have refused them; this is the second fence).
    ///
    /// ```
    /// use engineio_proto::{Frame, Packet, ProtocolVersion};
    /// let f = Frame::Binary(bytes::Bytes::from_static(&[4, 1, 2]));
    /// assert_eq!(f.decode(ProtocolVersion::V3, 1000), Ok(Packet::binary(vec![1, 2])));
    /// ```
    pub fn decode(self, version: ProtocolVersion, max_bytes: usize) -> Result<Packet, DecodeError> {
        if self.len() > max_bytes {
            return Err(DecodeError::TooLarge {
                len: self.len(),
                limit: max_bytes,
            });
        }
        match (self, version) {
            (Frame::Text(s), v) => decode_text_in(&s, 0..s.len(), v, 0),
            (Frame::Binary(b), ProtocolVersion::V4) => Ok(Packet::binary(b)),
            (Frame::Binary(b), ProtocolVersion::V3) => decode_binary_v3_at(b, 0),
        }
    }

    /// Encodes `packet` as a frame. `buf` is scratch space lent by the caller: the frame's
    /// bytes are split off it, so its spare capacity is reused across calls. A v4 binary
    /// message is its own frame and copies nothing.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use engineio_proto::{Frame, Packet, ProtocolVersion};
    /// let mut buf = BytesMut::new();
    /// let f = Frame::encode(&Packet::text("hi"), ProtocolVersion::V4, &mut buf);
    /// assert_eq!(f, Frame::Text("4hi".into()));
    /// ```
    pub fn encode(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) -> Frame {
        match (packet, version) {
            (Packet::Message(Message::Binary(b)), ProtocolVersion::V4) => Frame::Binary(b.clone()),
            (Packet::Message(Message::Binary(b)), ProtocolVersion::V3) => {
                buf.reserve(1 + b.len());
                buf.put_u8(4);
                buf.put_slice(b);
                Frame::Binary(buf.split().freeze())
            }
            (p, v) => {
                p.encode_text(v, buf);
                let bytes = buf.split().freeze();
                // Our own encoding of a UTF-8 packet is UTF-8; the fallback is unreachable.
                Frame::Text(Str::try_from(bytes).unwrap_or_default())
            }
        }
    }
}
