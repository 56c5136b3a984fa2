//! The little the driver needs from an async runtime.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};

/// An async runtime, as the driver uses it: a clock, one kind of timer, spawning, and TCP
/// connections for the client. Everything else (HTTP, WebSocket, TLS, channels) is
/// runtime-agnostic and lives in this crate, so two runtimes behave the same.
///
/// `engineio-tokio` and `engineio-smol` implement it; a custom event loop can too:
///
/// ```
/// use std::future::Future;
/// use std::time::Instant;
/// # #[derive(Clone)] struct MyRuntime;
/// # struct MySleep;
/// # impl Future for MySleep { type Output = ();
/// #   fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> { std::task::Poll::Ready(()) } }
/// # type MyTcp = futures_util::io::Cursor<Vec<u8>>;
/// impl engineio_driver::Runtime for MyRuntime {
///     type Sleep = MySleep;
///     type TcpStream = MyTcp;
///     fn now(&self) -> Instant { Instant::now() }
///     fn sleep_until(&self, _deadline: Instant) -> MySleep { MySleep }
///     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _future: F) { /* ... */ }
///     async fn connect(&self, _host: &str, _port: u16) -> std::io::Result<MyTcp> {
///         Err(std::io::ErrorKind::Unsupported.into())
///     }
/// }
/// ```
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The future [`sleep_until`](Self::sleep_until) returns.
    type Sleep: Future<Output = ()> + Send + Sync + 'static;
    /// A connected TCP stream.
    type TcpStream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The runtime's monotonic clock (a runtime with a paused or virtual clock returns its
    /// own time here).
    fn now(&self) -> Instant;

    /// Resolves at `deadline` (at once if it is past).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Opens a TCP connection to `host:port` (a name or an address), with `TCP_NODELAY`.
    fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// A seed for what the server draws at random (its session ids), or `None` (the
    /// default) for the operating system's entropy. A simulated runtime returns one from its
    /// own seed, so that a run replays exactly.
    fn seed(&self) -> Option<u64> {
        None
    }
}

/// A TCP listener for [`serve`](crate::serve).
pub trait Listener: Send + 'static {
    /// An accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The next connection and its peer's address (with `TCP_NODELAY` set).
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// Resolves when `deadline` passes or `future` completes, whichever is first; `None` on
/// the deadline.
pub(crate) async fn timeout_at<R: Runtime, F: Future>(
    rt: &R,
    deadline: Instant,
    future: F,
) -> Option<F::Output> {
    let sleep = std::pin::pin!(rt.sleep_until(deadline));
    let future = std::pin::pin!(future);
    match futures_util::future::select(future, sleep).await {
        futures_util::future::Either::Left((out, _)) => Some(out),
        futures_util::future::Either::Right(_) => None,
    }
}

/// hyper's timer on the runtime's (for the server's header read timeout).
#[derive(Clone)]
pub(crate) struct HyperTimer<R>(pub(crate) R);

/// A runtime sleep as hyper's.
struct HyperSleep<S>(Pin<Box<S>>);

impl<S: Future<Output = ()>> Future for HyperSleep<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl<S: Future<Output = ()> + Send + Sync> hyper::rt::Sleep for HyperSleep<S> {}

impl<R: Runtime> hyper::rt::Timer for HyperTimer<R> {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        hyper::rt::Timer::sleep_until(self, self.0.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(Box::pin(self.0.sleep_until(deadline))))
    }

    fn now(&self) -> Instant {
        self.0.now()
    }
}
