//! permessage-deflate (RFC 7692) under tungstenite: the handshake's negotiation
//! ([`negotiate`]) and a layer on the WebSocket's byte stream ([`DeflateIo`]) that inflates
//! what is read and deflates what is written, with the sans-IO codec of
//! [`engineio_proto::ws_deflate`].

mod io;
pub(crate) mod negotiate;

pub(crate) use io::DeflateIo;
