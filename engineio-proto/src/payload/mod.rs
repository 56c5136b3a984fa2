//! Polling payloads: several packets in one HTTP body.
//!
//! | flavour | body | binary messages |
//! |---|---|---|
//! | [`v4`] | packets joined by `\x1e` | `b` + base64 |
//! | [`v3_text`] | `<len>:<packet>` repeated, `len` in UTF-16 code units | `b4` + base64 |
//! | [`v3_binary`] | per packet `0x00`/`0x01`, length digits, `0xFF`, packet | raw, type byte `0x04` |
//! | [`jsonp`] | a v3 text payload in `___eio[j]("...");` / a `d=` form | `b4` + base64 |
//!
//! [`PayloadFormat`] picks the flavour for a session and request.
//!
//! # Packets before an invalid one
//!
//! Decoding is atomic: if any packet of a payload is invalid, or a limit is crossed, the
//! decoder returns the error and leaves the output vector as it found it, so *no* packet of
//! that payload is delivered. The reference server delivers the packets that precede the bad
//! one and then closes the session with `parse error`. We deliver none because a payload is
//! one HTTP request that is answered as a whole (with an error), and because a client that
//! sends a malformed payload has lost framing: what precedes the fault cannot be trusted to
//! be what the client meant. The session closes with `parse error` either way.

pub mod jsonp;
pub mod v3_binary;
pub mod v3_text;
pub mod v4;

use bytes::{Bytes, BytesMut};

use crate::{DecodeError, DecodeLimits, Packet, ProtocolVersion};

/// The `Content-Type` of a polling body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `text/plain; charset=UTF-8`: v4 payloads and v3 text payloads.
    Text,
    /// `application/octet-stream`: v3 binary payloads.
    Binary,
    /// `text/javascript; charset=UTF-8`: v3 JSONP responses.
    Javascript,
}

impl ContentType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Text => "text/plain; charset=UTF-8",
            ContentType::Binary => "application/octet-stream",
            ContentType::Javascript => "text/javascript; charset=UTF-8",
        }
    }
}

/// How the polling bodies of one session are encoded, fixed at its handshake.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use engineio_proto::{ContentType, DecodeLimits, Packet, PayloadFormat};
///
/// let format = PayloadFormat::V4;
/// let mut out = BytesMut::new();
/// let ct = format.encode(&[Packet::text("a"), Packet::binary(vec![1])], &mut out);
/// assert_eq!((ct, &out[..]), (ContentType::Text, &b"4a\x1ebAQ=="[..]));
///
/// let mut packets = Vec::new();
/// format.decode(false, out.freeze(), &DecodeLimits::default(), &mut packets).unwrap();
/// assert_eq!(packets, [Packet::text("a"), Packet::binary(vec![1])]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// Protocol v4.
    V4,
    /// Protocol v3 over XHR. `binary` is true unless the client asked for `b64=1` at the
    /// handshake: then binary packets go as base64 text.
    V3 {
        /// Whether the client takes binary bodies.
        binary: bool,
    },
    /// Protocol v3 over JSONP, with the client's callback index (`j`). Always base64 for binary.
    V3Jsonp {
        /// The callback index.
        index: u32,
    },
}

impl PayloadFormat {
    /// The protocol version of this format.
    pub fn version(self) -> ProtocolVersion {
        match self {
            PayloadFormat::V4 => ProtocolVersion::V4,
            _ => ProtocolVersion::V3,
        }
    }

    /// Appends the body for `packets` to `out` and returns its content type.
    ///
    /// v3 with binary support writes a binary payload when any packet is binary, a text payload
    /// otherwise (as the reference does).
    pub fn encode(self, packets: &[Packet], out: &mut BytesMut) -> ContentType {
        match self {
            PayloadFormat::V4 => {
                v4::encode(packets, out);
                ContentType::Text
            }
            PayloadFormat::V3 { binary: true } if packets.iter().any(Packet::is_binary) => {
                v3_binary::encode(packets, out);
                ContentType::Binary
            }
            PayloadFormat::V3 { .. } => {
                v3_text::encode(packets, out);
                ContentType::Text
            }
            PayloadFormat::V3Jsonp { index } => {
                jsonp::encode_response(index, packets, out);
                ContentType::Javascript
            }
        }
    }

    /// Decodes a POST body into `out` (atomically: see the module docs). `binary_body` says
    /// whether the request came as `application/octet-stream`.
    pub fn decode(
        self,
        binary_body: bool,
        body: Bytes,
        limits: &DecodeLimits,
        out: &mut Vec<Packet>,
    ) -> Result<(), DecodeError> {
        match self {
            PayloadFormat::V4 if binary_body => Err(DecodeError::BinaryBodyV4),
            PayloadFormat::V4 => v4::decode(body, limits, out),
            PayloadFormat::V3 { .. } if binary_body => v3_binary::decode(body, limits, out),
            PayloadFormat::V3 { .. } => v3_text::decode(body, limits, out),
            PayloadFormat::V3Jsonp { .. } => jsonp::decode_form_body(&body, limits, out),
        }
    }
}

/// Pushes decoded packets into a caller's vector under a packet bound, and takes them all back
/// out if decoding fails, so a failed decode leaves the vector as it was.
pub(crate) struct Sink<'a> {
    out: &'a mut Vec<Packet>,
    start: usize,
    max: usize,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(out: &'a mut Vec<Packet>, limits: &DecodeLimits) -> Self {
        let start = out.len();
        Sink {
            out,
            start,
            max: limits.max_packets,
        }
    }

    pub(crate) fn push(&mut self, p: Packet) -> Result<(), DecodeError> {
        if self.out.len() - self.start >= self.max {
            return Err(DecodeError::TooManyPackets { limit: self.max });
        }
        self.out.push(p);
        Ok(())
    }

    /// Runs `decode`, undoing its pushes if it fails.
    pub(crate) fn run(
        mut self,
        decode: impl FnOnce(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let r = decode(&mut self);
        if r.is_err() {
            self.out.truncate(self.start);
        }
        r
    }
}

/// Refuses input over the byte limit before any work is done.
pub(crate) fn check_size(len: usize, limits: &DecodeLimits) -> Result<(), DecodeError> {
    if len > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            len,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Validates a whole text body as UTF-8, without copying.
pub(crate) fn utf8_body(body: Bytes) -> Result<crate::Str, DecodeError> {
    crate::Str::try_from(body).map_err(|e| DecodeError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })
}
