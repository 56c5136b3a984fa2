//! Engine.IO on Tokio, hyper 1 and tungstenite.
//!
//! The protocol lives in [`engineio_session`]; this crate only moves bytes and timers for its
//! machines: one task per session owns the session machine, HTTP handlers and WebSocket
//! readers feed it over a channel, and it performs what the machine asks.
//!
//! - Server: [`EngineIo`] with [`serve`], or as a tower service/layer (axum).
//! - Client: [`Client`], over hyper's client and tokio-tungstenite; `https:`/`wss:` with the
//!   `rustls` feature.
//! - WebSocket messages are limited to the server's `max_payload` (not tungstenite's 64 MiB).
//!   permessage-deflate is not offered: tungstenite 0.30 does not implement it.

mod client;
mod clock;
mod metrics;
mod server;
mod ws;

pub use client::{Client, ClientSender, ClientSocketEvent, ConnectError};
pub use engineio_session as session;
pub use engineio_session::proto;
pub use engineio_session::{CloseReason, SendError, ServerConfig, Sid};
pub use metrics::{Metrics, MetricsSnapshot};
pub use server::{
    serve, serve_with, Builder, Connections, EngineIo, EngineIoLayer, EngineIoService, Handled,
    NotFound, RemoteAddr, RequestInfo, Socket, SocketEvent, SocketSender,
};

/// Errors from bodies and services, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
