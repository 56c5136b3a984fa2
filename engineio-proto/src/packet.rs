//! Packets: the unit of the protocol, and their text form (`<type digit><data>`).

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{b64, DecodeError, ProtocolVersion, Str};

/// The seven packet types, by their digit on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PacketType {
    /// `0`: the handshake, sent by the server.
    Open = 0,
    /// `1`: close the session.
    Close = 1,
    /// `2`: heartbeat request (from the server in v4, from the client in v3), or upgrade probe.
    Ping = 2,
    /// `3`: heartbeat answer, or probe answer.
    Pong = 3,
    /// `4`: application data.
    Message = 4,
    /// `5`: the client switches to the probed transport.
    Upgrade = 5,
    /// `6`: nothing; ends a poll cycle during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The type for a digit character (`b'0'`..`b'6'`).
    pub fn from_digit(c: u8) -> Option<Self> {
        Self::from_number(c.wrapping_sub(b'0'))
    }

    /// The type for a number (`0`..`6`), as v3 binary frames carry it.
    pub fn from_number(n: u8) -> Option<Self> {
        Some(match n {
            0 => PacketType::Open,
            1 => PacketType::Close,
            2 => PacketType::Ping,
            3 => PacketType::Pong,
            4 => PacketType::Message,
            5 => PacketType::Upgrade,
            6 => PacketType::Noop,
            _ => return None,
        })
    }

    /// The digit character for this type.
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// Application data: text or binary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text message (UTF-8).
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// Length of the data in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// Whether the data is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }
}

impl From<Str> for Message {
    fn from(s: Str) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(Str::from(s))
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(Str::from(s))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(Bytes::from(b))
    }
}

/// An Engine.IO packet.
///
/// Only messages carry binary data. Ping and pong carry text (empty, or `probe` during an
/// upgrade). Close, upgrade and noop carry nothing: trailing data after their type digit is
/// accepted on input and ignored, as the reference server ignores it.
///
/// ```
/// use engineio_proto::{Packet, ProtocolVersion};
/// let p = Packet::decode_text("4héllo".into(), ProtocolVersion::V4).unwrap();
/// assert_eq!(p, Packet::text("héllo"));
/// assert!(Packet::decode_text("2probe".into(), ProtocolVersion::V4).unwrap().is_probe());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Packet {
    /// `0` + the handshake JSON (see [`Handshake`](crate::Handshake)).
    Open(Str),
    /// `1`.
    Close,
    /// `2` + optional data (`probe` during an upgrade).
    Ping(Str),
    /// `3` + optional data (`probe` answers a probe ping).
    Pong(Str),
    /// `4` + text, or binary data.
    Message(Message),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

const PROBE: &str = "probe";

impl Packet {
    /// A text message.
    pub fn text(s: impl Into<Str>) -> Packet {
        Packet::Message(Message::Text(s.into()))
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Packet {
        Packet::Message(Message::Binary(b.into()))
    }

    /// A plain ping (`2`).
    pub const fn ping() -> Packet {
        Packet::Ping(Str::new())
    }

    /// A plain pong (`3`).
    pub const fn pong() -> Packet {
        Packet::Pong(Str::new())
    }

    /// The upgrade probe ping (`2probe`).
    pub const fn ping_probe() -> Packet {
        Packet::Ping(Str::from_static(PROBE))
    }

    /// The answer to the probe (`3probe`).
    pub const fn pong_probe() -> Packet {
        Packet::Pong(Str::from_static(PROBE))
    }

    /// Whether this is `2probe` or `3probe`.
    pub fn is_probe(&self) -> bool {
        matches!(self, Packet::Ping(s) | Packet::Pong(s) if s.as_str() == PROBE)
    }

    /// This packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Packet::Message(Message::Binary(_)))
    }

    /// The text data after the type digit, if this packet carries text.
    fn text_data(&self) -> &str {
        match self {
            Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) => s,
            Packet::Message(Message::Text(s)) => s,
            _ => "",
        }
    }

    /// Decodes the text form of one packet: a type digit and its data, or `b` and base64 for a
    /// binary message (`b<base64>` in v4, `b4<base64>` in v3). Text data is a slice of `s`.
    pub fn decode_text(s: Str, version: ProtocolVersion) -> Result<Packet, DecodeError> {
        decode_text_in(&s, 0..s.len(), version, 0)
    }

    /// Decodes a v3 binary packet: a type byte (`0x04` for a message) followed by the data.
    pub fn decode_binary_v3(b: Bytes) -> Result<Packet, DecodeError> {
        decode_binary_v3_at(b, 0)
    }

    /// Length of [`encode_text`](Self::encode_text)'s output in bytes.
    pub fn encoded_text_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Packet::Message(Message::Binary(b)) => {
                b64_prefix(version).len() + b64::encoded_len(b.len())
            }
            p => 1 + p.text_data().len(),
        }
    }

    /// Appends the text form of this packet to `out` (binary messages as base64).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use engineio_proto::{Packet, ProtocolVersion};
    /// let mut out = BytesMut::new();
    /// Packet::binary(vec![1, 2, 3]).encode_text(ProtocolVersion::V3, &mut out);
    /// assert_eq!(&out[..], b"b4AQID");
    /// ```
    pub fn encode_text(&self, version: ProtocolVersion, out: &mut BytesMut) {
        match self {
            Packet::Message(Message::Binary(b)) => {
                out.put_slice(b64_prefix(version));
                b64::encode_into(b, out);
            }
            p => {
                out.reserve(1 + p.text_data().len());
                out.put_u8(p.packet_type().digit());
                out.put_slice(p.text_data().as_bytes());
            }
        }
    }

    /// Length of the text form in UTF-16 code units (the unit of v3 text payload lengths).
    pub(crate) fn encoded_text_utf16_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Packet::Message(Message::Binary(_)) => self.encoded_text_len(version),
            p => 1 + crate::str::utf16_len(p.text_data()),
        }
    }
}

fn b64_prefix(version: ProtocolVersion) -> &'static [u8] {
    match version {
        ProtocolVersion::V4 => b"b",
        ProtocolVersion::V3 => b"b4",
    }
}

/// [`Packet::decode_text`] for the packet at `range` of `s`, which starts at `offset` of the
/// decoder's input. Borrows `s` and slices it once, for the data only, so packets without
/// data cost no reference count.
pub(crate) fn decode_text_in(
    s: &Str,
    range: Range<usize>,
    version: ProtocolVersion,
    offset: usize,
) -> Result<Packet, DecodeError> {
    let bytes = s.as_bytes().get(range.clone()).unwrap_or_default();
    let Some(&first) = bytes.first() else {
        return Err(DecodeError::EmptyPacket { offset });
    };
    if first == b'b' {
        return decode_base64_at(&bytes[1..], version, offset);
    }
    let Some(ty) = PacketType::from_digit(first) else {
        return Err(DecodeError::UnknownPacketType {
            byte: first,
            offset,
        });
    };
    // The type digit is ASCII, so the byte after it is a character boundary.
    let data = || s.slice(range.start + 1..range.end).unwrap_or_default();
    Ok(match ty {
        PacketType::Open => Packet::Open(data()),
        PacketType::Close => Packet::Close,
        PacketType::Ping => Packet::Ping(data()),
        PacketType::Pong => Packet::Pong(data()),
        PacketType::Message => Packet::Message(Message::Text(data())),
        PacketType::Upgrade => Packet::Upgrade,
        PacketType::Noop => Packet::Noop,
    })
}

/// Decodes the part after `b`: base64 in v4; a type digit then base64 in v3.
fn decode_base64_at(
    rest: &[u8],
    version: ProtocolVersion,
    offset: usize,
) -> Result<Packet, DecodeError> {
    let text = match version {
        ProtocolVersion::V4 => rest,
        ProtocolVersion::V3 => {
            let Some((&digit, text)) = rest.split_first() else {
                return Err(DecodeError::EmptyPacket { offset });
            };
            check_binary_type(PacketType::from_digit(digit), digit, offset)?;
            text
        }
    };
    let data = b64::decode(text).ok_or(DecodeError::InvalidBase64 { offset })?;
    Ok(Packet::Message(Message::Binary(data)))
}

fn check_binary_type(ty: Option<PacketType>, raw: u8, offset: usize) -> Result<(), DecodeError> {
    match ty {
        Some(PacketType::Message) => Ok(()),
        Some(other) => Err(DecodeError::BinaryNotMessage {
            packet_type: other as u8,
            offset,
        }),
        None => Err(DecodeError::UnknownPacketType { byte: raw, offset }),
    }
}

/// [`Packet::decode_binary_v3`] for a packet that starts at `offset` of a larger input.
pub(crate) fn decode_binary_v3_at(mut b: Bytes, offset: usize) -> Result<Packet, DecodeError> {
    let Some(&ty) = b.first() else {
        return Err(DecodeError::EmptyPacket { offset });
    };
    check_binary_type(PacketType::from_number(ty), ty, offset)?;
    let _ = b.split_to(1);
    Ok(Packet::Message(Message::Binary(b)))
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Message {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u.arbitrary()? {
            Message::Binary(Bytes::from(Vec::<u8>::arbitrary(u)?))
        } else {
            Message::Text(Str::arbitrary(u)?)
        })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Packet {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match PacketType::arbitrary(u)? {
            PacketType::Open => Packet::Open(Str::arbitrary(u)?),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(Str::arbitrary(u)?),
            PacketType::Pong => Packet::Pong(Str::arbitrary(u)?),
            PacketType::Message => Packet::Message(Message::arbitrary(u)?),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }
}
