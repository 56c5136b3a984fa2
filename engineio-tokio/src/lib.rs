//! Engine.IO on Tokio, hyper 1 and tungstenite.
//!
//! The protocol lives in [`engineio_session`](session); the driver loop, hyper and WebSocket
//! glue in [`engineio_driver`], generic over a tiny runtime trait. This crate is the Tokio
//! [`Runtime`] ([`Tokio`]), [`serve`] on a Tokio `TcpListener`, and
//! the driver's types named for Tokio. `engineio-smol` is the same for smol; the two behave
//! the same because everything but spawning, timers and sockets is shared.
//!
//! - Server: [`EngineIo`] with [`serve`], or as a tower service/layer (axum).
//! - Client: [`Client`], over hyper's client connections and async-tungstenite;
//!   `https:`/`wss:` with the `rustls` feature.
//! - WebSocket messages are limited to the server's `max_payload` (not tungstenite's 64 MiB).
//!   permessage-deflate is not offered: tungstenite 0.30 does not implement it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// Whole-stack deterministic simulation (feature `sim`): the same application code on
/// simulated hosts; see [`sim::Sim`].
#[cfg(feature = "sim")]
pub use engineio_driver::sim;
pub use engineio_driver::{
    proto, session, BoxError, ClientConfig, ClientSender, ClientSocketEvent, CloseReason,
    ConnectError, ConnectionError, Connections, Handled, Metrics, MetricsSnapshot, NotFound,
    ReadyState, RemoteAddr, RequestInfo, ResponseInfo, SendError, SendId, SendOptions,
    ServerConfig, Sid, Socket, SocketError, SocketEvent, SocketSender,
};
/// Several nodes without sticky sessions, on Redis (feature `cluster`; see `Builder::cluster`).
#[cfg(feature = "cluster")]
pub use engineio_driver::{ClusterConfig, ClusterError, ClusterMessages};
/// The runtime trait, for application code generic over the runtime (so that it also runs
/// simulated).
pub use engineio_driver::{Listener, Runtime};

/// The Tokio runtime, as the driver uses it: `tokio::spawn`, `tokio::time` (so a paused
/// test clock applies), `tokio::net`. Must be used from within a Tokio runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl engineio_driver::Runtime for Tokio {
    type Sleep = tokio::time::Sleep;
    type TcpStream = Compat<tokio::net::TcpStream>;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::TcpStream> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream.compat())
    }
}

/// A Tokio listener for the driver's accept loop.
struct TcpListener(tokio::net::TcpListener);

impl engineio_driver::Listener for TcpListener {
    type Stream = Compat<tokio::net::TcpStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream.compat(), addr))
    }
}

/// An Engine.IO server on Tokio. Cheap to clone; mount it with [`serve`], as a hyper/tower
/// service ([`service`](engineio_driver::EngineIo::service)) or as a tower layer in axum
/// ([`layer`](engineio_driver::EngineIo::layer)).
///
/// ```no_run
/// use engineio_tokio::{EngineIo, SocketEvent};
/// # async fn run() -> std::io::Result<()> {
/// let (engine, mut connections) = EngineIo::new(Default::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// tokio::spawn(engineio_tokio::serve(listener, engine.clone()));
/// while let Some(mut socket) = connections.accept().await {
///     tokio::spawn(async move {
///         while let Some(event) = socket.recv().await {
///             if let SocketEvent::Message(m) = event {
///                 let _ = socket.send(m).await; // echo
///             }
///         }
///     });
/// }
/// # Ok(()) }
/// ```
pub type EngineIo = engineio_driver::EngineIo<Tokio>;

/// Builds an [`EngineIo`] with options beyond [`ServerConfig`].
pub type Builder = engineio_driver::Builder<Tokio>;

/// Answers the Engine.IO path; passes other requests to `S`.
pub type EngineIoService<S> = engineio_driver::EngineIoService<S, Tokio>;

/// A tower layer mounting Engine.IO in front of a service, such as an axum `Router`.
pub type EngineIoLayer = engineio_driver::EngineIoLayer<Tokio>;

/// An Engine.IO client connection on Tokio.
///
/// ```no_run
/// use engineio_tokio::{Client, ClientSocketEvent};
/// use engineio_tokio::session::ClientConfig;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = Client::connect(ClientConfig::new("http://127.0.0.1:3000".parse()?)).await?;
/// client.send("hello").await?;
/// if let Some(ClientSocketEvent::Message(m)) = client.recv().await {
///     println!("{m:?}");
/// }
/// client.close().await;
/// # Ok(()) }
/// ```
pub type Client = engineio_driver::Client<Tokio>;

/// Serves `engine` on `listener` (HTTP/1.1 with upgrades), 404 for other paths, until
/// [`EngineIo::shutdown`](engineio_driver::EngineIo::shutdown) is called: it then stops
/// accepting, and open connections stay up until the sessions have ended (so polling
/// clients can fetch their close packet), then finish their current exchange.
pub async fn serve(listener: tokio::net::TcpListener, engine: EngineIo) -> io::Result<()> {
    engineio_driver::serve(TcpListener(listener), engine).await
}

/// Like [`serve`], with another service behind the Engine.IO path (for example a page).
pub async fn serve_with<S, ResBody>(
    listener: tokio::net::TcpListener,
    engine: EngineIo,
    service: EngineIoService<S>,
) -> io::Result<()>
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<BoxError>,
{
    engineio_driver::serve_with(TcpListener(listener), engine, service).await
}
