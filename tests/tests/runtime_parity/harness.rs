//! What the tests need from a runtime beyond [`Runtime`]: running a test, and listening.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use engineio_driver::{
    Connections, EngineIo, Listener, Runtime, ServerConfig, Socket, SocketEvent,
};
use futures_util::future::{select, Either};

/// A runtime the suite runs on.
pub trait TestRuntime: Runtime + Default {
    /// A listener on `127.0.0.1:0`.
    type Listener: Listener;

    /// Runs a test to completion (on a multi-threaded executor).
    fn block_on<F: Future<Output = ()> + Send + 'static>(test: F);

    /// Binds a listener on a free loopback port.
    fn bind() -> impl Future<Output = (Self::Listener, SocketAddr)> + Send;
}

/// Runs `test` on `R`.
pub fn run<R: TestRuntime, F: Future<Output = ()> + Send + 'static>(test: F) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    R::block_on(test)
}

impl TestRuntime for engineio_tokio::Tokio {
    type Listener = TokioListener;

    fn block_on<F: Future<Output = ()> + Send + 'static>(test: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime")
            .block_on(test)
    }

    async fn bind() -> (TokioListener, SocketAddr) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (TokioListener(l), addr)
    }
}

impl TestRuntime for engineio_smol::Smol {
    type Listener = SmolListener;

    fn block_on<F: Future<Output = ()> + Send + 'static>(test: F) {
        // Spawned tasks run on smol's global executor threads.
        smol::block_on(test)
    }

    async fn bind() -> (SmolListener, SocketAddr) {
        let l = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        (SmolListener(l), addr)
    }
}

pub struct TokioListener(tokio::net::TcpListener);

impl Listener for TokioListener {
    type Stream = tokio_util::compat::Compat<tokio::net::TcpStream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let (s, a) = self.0.accept().await?;
        Ok((s.compat(), a))
    }
}

pub struct SmolListener(smol::net::TcpListener);

impl Listener for SmolListener {
    type Stream = smol::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }
}

/// `future`'s output, or `None` after `after`.
pub async fn timeout<R: TestRuntime, F: Future>(after: Duration, future: F) -> Option<F::Output> {
    let rt = R::default();
    let sleep = std::pin::pin!(rt.sleep_until(rt.now() + after));
    match select(std::pin::pin!(future), sleep).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

/// Serves `engine` on `listener` in the background.
pub fn serve_on<R: TestRuntime, L: Listener>(listener: L, engine: EngineIo<R>) {
    R::default().spawn(async move {
        let _ = engineio_driver::serve(listener, engine).await;
    });
}

/// Serves `engine` on a free port; returns its address.
pub async fn serve<R: TestRuntime>(engine: EngineIo<R>) -> SocketAddr {
    let (listener, addr) = R::bind().await;
    serve_on(listener, engine);
    addr
}

/// Echoes the messages of every new session, in the background.
pub fn spawn_echo<R: TestRuntime>(mut connections: Connections) {
    let rt = R::default();
    let spawner = rt.clone();
    rt.spawn(async move {
        while let Some(socket) = connections.accept().await {
            spawner.spawn(echo(socket));
        }
    });
}

/// An echo server with `config`: `(engine, "http://ADDR")`.
/// The session id in a handshake's answer (`{"sid":"..."}`).
pub fn sid_of(open: &str) -> String {
    open.split("\"sid\":\"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .expect("a sid in the handshake's answer")
        .to_owned()
}

/// One GET on a new connection (`Connection: close`, with the extra header lines `extra`,
/// each ending in CRLF): the response's head and body.
pub async fn raw_get<R: TestRuntime>(
    addr: SocketAddr,
    target: &str,
    extra: &str,
) -> (String, String) {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = R::default()
        .connect("127.0.0.1", addr.port())
        .await
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut r = String::new();
    timeout::<R, _>(Duration::from_secs(10), s.read_to_string(&mut r))
        .await
        .expect("a response")
        .unwrap();
    let (head, body) = r.split_once("\r\n\r\n").expect("a response");
    (head.to_owned(), body.to_owned())
}

pub async fn echo_server<R: TestRuntime>(config: ServerConfig) -> (EngineIo<R>, String) {
    let (engine, connections) = EngineIo::<R>::new(config);
    let addr = serve(engine.clone()).await;
    spawn_echo::<R>(connections);
    (engine, format!("http://{addr}"))
}

/// Sends every message of `socket` back.
pub async fn echo(mut socket: Socket) {
    while let Some(event) = socket.recv().await {
        if let SocketEvent::Message(m) = event {
            if socket.send(m).await.is_err() {
                break;
            }
        }
    }
}

/// A listener that counts the connections it accepts, and those still open.
pub struct Counting<L> {
    inner: L,
    counts: std::sync::Arc<Counts>,
}

/// What [`Counting`] counted.
#[derive(Default)]
pub struct Counts {
    /// Connections accepted.
    pub accepted: std::sync::atomic::AtomicUsize,
    /// Accepted connections the server has not dropped yet.
    pub open: std::sync::atomic::AtomicUsize,
}

impl<L> Counting<L> {
    /// `inner`, and its counts.
    pub fn new(inner: L) -> (Self, std::sync::Arc<Counts>) {
        let counts = std::sync::Arc::<Counts>::default();
        let counting = Counting {
            inner,
            counts: std::sync::Arc::clone(&counts),
        };
        (counting, counts)
    }
}

impl<L: Listener> Listener for Counting<L> {
    type Stream = Live<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        use std::sync::atomic::Ordering::Relaxed;
        let (stream, addr) = self.inner.accept().await?;
        self.counts.accepted.fetch_add(1, Relaxed);
        self.counts.open.fetch_add(1, Relaxed);
        let counts = std::sync::Arc::clone(&self.counts);
        Ok((Live { stream, counts }, addr))
    }
}

/// An accepted connection, counted in [`Counts::open`] until dropped.
pub struct Live<S> {
    stream: S,
    counts: std::sync::Arc<Counts>,
}

impl<S> Drop for Live<S> {
    fn drop(&mut self) {
        self.counts
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl<S: futures_util::io::AsyncRead + Unpin> futures_util::io::AsyncRead for Live<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: futures_util::io::AsyncWrite + Unpin> futures_util::io::AsyncWrite for Live<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_close(cx)
    }
}
