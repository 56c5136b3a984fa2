//! Deterministic, sans-IO Engine.IO session machines.
//!
//! The server half: [`Server`] routes requests and opens sessions; each [`Session`] is a
//! machine fed with [`Input`]s and the time, that hands back [`Transmit`]s (what to write),
//! [`Event`]s (what the application hears) and a deadline. The client half,
//! [`ClientSession`], has the same shape: [`ClientInput`] in, [`ClientTransmit`] and
//! [`ClientEvent`] out. Nothing here reads a clock,
//! sleeps, spawns, locks or touches a socket; time is an argument ([`Instant`]) and session
//! ids come from an injected, seedable generator ([`SidGenerator`]).
//!
//! The runtime adapters (`engineio-tokio`, `engineio-smol`) move bytes and timers for these
//! machines; a custom event loop or a simulator can do the same.

mod client;
mod close;
mod config;
mod headers;
mod ready;
mod send;
mod server;
mod sid;
#[cfg(feature = "sim")]
pub mod sim;
mod time;
mod timers;

pub use client::{
    ClientConfig, ClientEvent, ClientInput, ClientSession, ClientTransmit, CookieJar,
};
pub use close::CloseReason;
pub use config::{
    CompressionConfig, CookieConfig, CookiePriority, CorsConfig, CorsOrigin, DeflateConfig,
    OriginPredicate, SameSite, ServerConfig, Transports,
};
pub use engineio_proto as proto;
pub use headers::ContentEncoding;
pub use ready::ReadyState;
pub use send::{SendError, SendId, SendOptions};
pub use server::{
    Event, HandshakeRequest, Input, Refusal, ReqId, RequestHead, RequestKind, Route, Server,
    ServerEvent, Session, SessionRequest, Transmit, Verdict,
};
pub use sid::{InvalidSid, InvalidSidPrefix, RandomSids, Sid, SidGenerator, SidPrefix};
pub use time::Instant;
