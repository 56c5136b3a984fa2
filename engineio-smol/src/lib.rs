//! Engine.IO on smol, hyper 1 and async-tungstenite.
//!
//! The protocol lives in [`engineio_session`](session); the driver loop, hyper and WebSocket
//! glue in [`engineio_driver`], generic over a tiny runtime trait. This crate is the smol
//! [`Runtime`] ([`Smol`]), [`serve`] on a smol `TcpListener`, and
//! the driver's types named for smol. `engineio-tokio` is the same for Tokio; the two behave
//! the same because everything but spawning, timers and sockets is shared.
//!
//! No Tokio runtime is linked: hyper 1 always depends on the `tokio` crate, but only on its
//! runtime-agnostic `sync` module (a test checks that no other part of Tokio is built).
//!
//! - Server: [`EngineIo`] with [`serve`], or as a tower service/layer.
//! - Client: [`Client`], over hyper's client connections and async-tungstenite;
//!   `https:`/`wss:` with the `rustls` feature.
//! - WebSocket messages are limited to the server's `max_payload` (not tungstenite's 64 MiB).
//!   permessage-deflate is not offered: tungstenite 0.30 does not implement it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

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

/// The smol runtime, as the driver uses it: tasks on smol's global executor (or on an
/// executor of yours, [`Smol::with_executor`]), `async-io` timers, `async-net` sockets.
///
/// smol's global executor runs on one thread unless `SMOL_THREADS` says more; a server meant
/// to use several cores sets it, or runs its own executor on as many threads.
#[derive(Clone, Debug, Default)]
pub struct Smol {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl Smol {
    /// Spawns on `executor` instead of smol's global executor; the application runs it.
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> Smol {
        Smol {
            executor: Some(executor),
        }
    }
}

/// A timer that resolves to `()`.
#[derive(Debug)]
pub struct Sleep(smol::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl engineio_driver::Runtime for Smol {
    type Sleep = Sleep;
    type TcpStream = smol::net::TcpStream;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(smol::Timer::at(deadline))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.executor {
            Some(ex) => ex.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }

    async fn connect(&self, host: &str, port: u16) -> io::Result<smol::net::TcpStream> {
        let stream = smol::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A smol listener for the driver's accept loop.
struct TcpListener(smol::net::TcpListener);

impl engineio_driver::Listener for TcpListener {
    type Stream = smol::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, addr))
    }
}

/// An Engine.IO server on smol. Cheap to clone; mount it with [`serve`], as a hyper/tower
/// service ([`service`](engineio_driver::EngineIo::service)) or as a tower layer
/// ([`layer`](engineio_driver::EngineIo::layer)).
///
/// ```no_run
/// use engineio_smol::{EngineIo, SocketEvent};
/// # fn main() -> std::io::Result<()> {
/// smol::block_on(async {
///     let (engine, mut connections) = EngineIo::new(Default::default());
///     let listener = smol::net::TcpListener::bind("127.0.0.1:3000").await?;
///     smol::spawn(engineio_smol::serve(listener, engine.clone())).detach();
///     while let Some(mut socket) = connections.accept().await {
///         smol::spawn(async move {
///             while let Some(event) = socket.recv().await {
///                 if let SocketEvent::Message(m) = event {
///                     let _ = socket.send(m).await; // echo
///                 }
///             }
///         })
///         .detach();
///     }
///     Ok(())
/// })
/// # }
/// ```
pub type EngineIo = engineio_driver::EngineIo<Smol>;

/// Builds an [`EngineIo`] with options beyond [`ServerConfig`].
pub type Builder = engineio_driver::Builder<Smol>;

/// Answers the Engine.IO path; passes other requests to `S`.
pub type EngineIoService<S> = engineio_driver::EngineIoService<S, Smol>;

/// A tower layer mounting Engine.IO in front of a service.
pub type EngineIoLayer = engineio_driver::EngineIoLayer<Smol>;

/// An Engine.IO client connection on smol.
///
/// ```no_run
/// use engineio_smol::{Client, ClientSocketEvent};
/// use engineio_smol::session::ClientConfig;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// smol::block_on(async {
///     let url = "http://127.0.0.1:3000".parse()?;
///     let mut client = Client::connect(ClientConfig::new(url)).await?;
///     client.send("hello").await?;
///     if let Some(ClientSocketEvent::Message(m)) = client.recv().await {
///         println!("{m:?}");
///     }
///     client.close().await;
///     Ok(())
/// })
/// # }
/// ```
pub type Client = engineio_driver::Client<Smol>;

/// Serves `engine` on `listener` (HTTP/1.1 with upgrades), 404 for other paths, until
/// [`EngineIo::shutdown`](engineio_driver::EngineIo::shutdown) is called: it then stops
/// accepting, and open connections stay up until the sessions have ended (so polling
/// clients can fetch their close packet), then finish their current exchange.
pub async fn serve(listener: smol::net::TcpListener, engine: EngineIo) -> io::Result<()> {
    engineio_driver::serve(TcpListener(listener), engine).await
}

/// Like [`serve`], with another service behind the Engine.IO path (for example a page).
pub async fn serve_with<S, ResBody>(
    listener: smol::net::TcpListener,
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
