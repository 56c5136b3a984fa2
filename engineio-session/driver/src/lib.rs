//! The runtime-generic half of engineio-rs: hyper 1 and async-tungstenite glue, and one
//! driver loop per session (server) or connection (client), over a tiny [`Runtime`] trait.
//!
//! The protocol lives in [`engineio_session`]; this crate only moves bytes and timers for
//! its machines. On the server, one task per session drives the session machine: HTTP
//! handlers hand it requests over a channel, it reads and writes the session's WebSockets
//! itself, and the application's handles share the machine with it behind a lock (a `send`
//! goes to the machine directly, events come back through a queue). `engineio-tokio`
//! and `engineio-smol` implement [`Runtime`] and name these types for their runtime, so
//! both behave the same, and a custom event loop can be plugged in the same way.
//!
//! - Server: [`EngineIo`] with [`serve`], or as a tower service/layer (axum).
//! - Client: [`Client`], over hyper's HTTP/1.1 connections (a small pool) and
//!   async-tungstenite; `https:`/`wss:` with the `rustls` feature.
//! - WebSocket messages are limited to the server's `max_payload` (not tungstenite's 64 MiB).
//!   permessage-deflate is not offered: tungstenite 0.30 does not implement it.
//! - Channels are Tokio's `sync` module, which is runtime-agnostic and linked anyway by
//!   hyper 1 (no Tokio runtime is).

mod client;
mod clock;
#[cfg(feature = "cluster")]
mod cluster;
mod core;
mod deflate;
mod io;
mod metrics;
mod runtime;
mod server;
#[cfg(feature = "sim")]
pub mod sim;
mod step;
mod websockets;
mod ws;

pub use client::{Client, ClientSender, ClientSocketEvent, ConnectError};
#[cfg(feature = "cluster")]
pub use cluster::{ClusterConfig, ClusterError, ClusterMessages};
pub use engineio_session as session;
pub use engineio_session::proto;
pub use engineio_session::{
    ClientConfig, CloseReason, SendError, SendId, SendOptions, ServerConfig, Sid,
};
pub use metrics::{Metrics, MetricsSnapshot};
pub use runtime::{Listener, Runtime};

/// The rustls this crate builds with, for [`Client::connect_with_tls`].
#[cfg(feature = "rustls")]
pub use futures_rustls::rustls;
pub use server::{
    serve, serve_with, Builder, ConnectionError, Connections, EngineIo, EngineIoLayer,
    EngineIoService, Handled, NotFound, ReadyState, RemoteAddr, RequestInfo, ResponseInfo, Socket,
    SocketError, SocketEvent, SocketSender,
};

/// Locks `m` through a poisoning: a task that panicked holding it must not take every
/// other session (or the simulated world's teardown) down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Errors from bodies and services, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
