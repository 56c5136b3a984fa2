//! Zero-copy, panic-free codecs for the [Engine.IO] protocol, versions 4 and 3.
//!
//! No I/O, no clock, no async: bytes in, packets out, and back. Decoders take [`Bytes`] and
//! hand out packets whose text is a slice of the input; they are linear in the input, bounded
//! by [`DecodeLimits`], and fail with a typed [`DecodeError`], never a panic. Encoders append
//! to a [`BytesMut`] the caller lends.
//!
//! - [`Packet`], [`Message`], [`Str`]: the packet model.
//! - [`Frame`]: WebSocket frames (v4 and v3 binary framing).
//! - [`payload`]: polling bodies: v4, v3 text, v3 binary, JSONP; [`PayloadFormat`] picks one.
//! - [`Handshake`]: the open packet's JSON.
//! - [`RequestQuery`]: `EIO`, `transport`, `sid`, `b64`, `j` from a request's query.
//! - [`ErrorCode`]: the error codes 0 to 5 with their messages, statuses and JSON bodies.
//! - `ws_deflate` (feature `ws-deflate`): a permessage-deflate (RFC 7692) codec for WebSocket
//!   frame byte streams.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use engineio_proto::{DecodeLimits, Packet, PayloadFormat};
//!
//! let mut packets = Vec::new();
//! PayloadFormat::V4
//!     .decode(false, Bytes::from_static(b"4hello\x1ebAQID"), &DecodeLimits::default(), &mut packets)
//!     .unwrap();
//! assert_eq!(packets, [Packet::text("hello"), Packet::binary(vec![1, 2, 3])]);
//! ```
//!
//! [Engine.IO]: https://socket.io/docs/v4/engine-io-protocol/
//! [`Bytes`]: bytes::Bytes
//! [`BytesMut`]: bytes::BytesMut

mod b64;
mod error;
mod error_code;
mod frame;
mod handshake;
mod limits;
mod packet;
pub mod payload;
mod query;
mod str;
mod version;
#[cfg(feature = "ws-deflate")]
pub mod ws_deflate;

pub use error::DecodeError;
pub use error_code::ErrorCode;
pub use frame::Frame;
pub use handshake::{Handshake, HandshakeError};
pub use limits::DecodeLimits;
pub use packet::{Message, Packet, PacketType};
pub use payload::{ContentType, PayloadFormat};
pub use query::{QueryError, RequestQuery};
pub use str::Str;
pub use version::{ProtocolVersion, Transport};

pub use bytes;
