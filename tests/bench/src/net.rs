//! The load generator's side of the Engine.IO v4 wire: TCP connections from several loopback
//! source addresses, HTTP/1.1 requests on raw hyper 1 client connections, and WebSockets on
//! tokio-tungstenite. Independent of our own client on purpose (it is what is measured
//! against).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::{Error, Result};

/// A WebSocket client stream.
pub type Ws = WebSocketStream<TcpStream>;

/// An HTTP/1.1 client connection.
pub type Http = SendRequest<Full<Bytes>>;

/// The longest any single network step may take before the run counts it as an error.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The server under test: its address and Engine.IO path, and the loopback addresses that
/// connections come from (in turn, so that ephemeral ports last for tens of thousands of
/// connections).
#[derive(Debug)]
pub struct Target {
    addr: SocketAddr,
    path: String,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Target {
    /// `url` is `http://127.x.x.x:PORT/PATH/`; `sources` loopback addresses 127.0.0.2 and on
    /// are used as source addresses (0: let the kernel choose). Refuses non-loopback hosts.
    pub fn new(url: &str, sources: u8) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("--url must start with http://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, "engine.io/"));
        let addr: SocketAddr = host.parse()?;
        if !addr.ip().is_loopback() {
            return Err(format!("{addr} is not a loopback address").into());
        }
        let sources = (0..sources)
            .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i))
            .collect();
        Ok(Target {
            addr,
            path: format!("/{path}"),
            sources,
            next: AtomicUsize::new(0),
        })
    }

    /// The request path and query for `query` (e.g. `EIO=4&transport=polling`).
    pub fn uri(&self, query: &str) -> String {
        format!("{}?{query}", self.path)
    }

    /// A new TCP connection to the server (no Nagle delay), from the next source address.
    pub async fn connect(&self) -> Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket.bind(SocketAddr::V4(SocketAddrV4::new(self.sources[i], 0)))?;
        }
        let stream = tokio::time::timeout(STEP_TIMEOUT, socket.connect(self.addr))
            .await
            .map_err(|_| "connect timed out")??;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// A WebSocket at the Engine.IO path with `query`.
    pub async fn ws(&self, query: &str) -> Result<Ws> {
        let stream = self.connect().await?;
        let url = format!("ws://{}{}", self.addr, self.uri(query));
        let request = url.into_client_request()?;
        // tungstenite's default read buffer is 128 KiB per connection: too much for 10,000.
        let config = WebSocketConfig::default().read_buffer_size(32 * 1024);
        let (ws, _) = tokio::time::timeout(
            STEP_TIMEOUT,
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
        )
        .await
        .map_err(|_| "WebSocket handshake timed out")??;
        Ok(ws)
    }

    /// A new HTTP/1.1 connection; its driver task ends when the returned sender is dropped.
    pub async fn http(&self) -> Result<Http> {
        let stream = self.connect().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request on `http` and returns the body of its `200 OK` answer.
    pub async fn request(
        &self,
        http: &mut Http,
        method: Method,
        query: &str,
        body: Bytes,
    ) -> Result<Bytes> {
        let request = Request::builder()
            .method(method)
            .uri(self.uri(query))
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(body))?;
        http.ready().await?;
        let response = http.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }
}

/// The fields of an Engine.IO open packet (`0{...}`) that the load generator uses.
#[derive(Debug)]
pub struct Open {
    /// The session id.
    pub sid: String,
}

/// Parses an open packet.
pub fn parse_open(packet: &[u8]) -> Result<Open> {
    let json = packet.strip_prefix(b"0").ok_or_else(|| {
        Error::from(format!(
            "not an open packet: {}",
            String::from_utf8_lossy(packet)
        ))
    })?;
    let value: serde_json::Value = serde_json::from_slice(json)?;
    let sid = value["sid"]
        .as_str()
        .ok_or("open packet without sid")?
        .to_owned();
    Ok(Open { sid })
}

/// The query of a v4 request on `transport`, for session `sid` if any.
pub fn query(transport: &str, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("EIO=4&transport={transport}&sid={sid}"),
        None => format!("EIO=4&transport={transport}"),
    }
}
