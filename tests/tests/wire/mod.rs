//! Plain HTTP/1.1 (hyper's client, one connection per request) and WebSocket (tungstenite)
//! from a test, against a server process on a real socket: the helpers the behaviour and
//! conformance tests share. Every wait is bounded.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single request or frame is awaited.
pub const WAIT: Duration = Duration::from_secs(5);

/// The runtime of this side (the test's client), whatever the server's runtime.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `f`, or a panic naming `what` after `limit`.
pub async fn bounded<F: Future>(what: &str, limit: Duration, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

// ---- HTTP ------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("a UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// All values of `name`, joined with `, `.
    pub fn header_all(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("ASCII header"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Asserts an Engine.IO error: `status`, `Content-Type: application/json` and the body
    /// `{"code": code, "message": message}` with the code a JSON number.
    #[track_caller]
    pub fn assert_error(&self, what: &str, status: u16, code: u64, message: &str) {
        assert_eq!(
            self.status,
            status,
            "{what}: status (body {:?})",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{what}: content type"
        );
        let json: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: the error body is not JSON ({e}): {self:?}"));
        assert!(
            json["code"].is_u64(),
            "{what}: code is not a number: {json}"
        );
        assert_eq!(json["code"], code, "{what}: {json}");
        assert_eq!(json["message"], message, "{what}: {json}");
    }
}

/// One request on a new connection, answered within [`WAIT`].
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    http_within(WAIT, addr, method, target, headers, body).await
}

/// One request on a new connection, answered within `limit`.
pub async fn http_within(
    limit: Duration,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let what = format!("{method} {target}");
    bounded(&what, limit, async {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("{what}: handshake: {e}"));
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(target)
            .header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("a valid request");
        let res = send
            .send_request(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (parts, body) = res.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{what}: body: {e}"))
            .to_bytes();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    })
    .await
}

pub async fn get(addr: SocketAddr, target: &str) -> Resp {
    http(addr, "GET", target, &[], Bytes::new()).await
}

pub async fn post(addr: SocketAddr, target: &str, body: &str) -> Resp {
    post_within(WAIT, addr, target, body).await
}

/// A text POST answered within `limit`.
pub async fn post_within(limit: Duration, addr: SocketAddr, target: &str, body: &str) -> Resp {
    let headers = [("content-type", "text/plain;charset=UTF-8")];
    http_within(limit, addr, "POST", target, &headers, body.to_owned()).await
}

/// The polling URL of a v4 session.
pub fn sid_url(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
}

pub const HANDSHAKE: &str = "/engine.io/?EIO=4&transport=polling";

/// A v4 polling handshake: the sid and the open packet's JSON.
pub async fn handshake(addr: SocketAddr) -> (String, Value) {
    let r = get(addr, HANDSHAKE).await;
    assert_eq!(r.status, 200, "handshake: {r:?}");
    let text = r.text();
    let open = text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("handshake: not an open packet: {text:?}"));
    let json: Value = serde_json::from_str(open).expect("open packet JSON");
    let sid = json["sid"].as_str().expect("sid").to_owned();
    (sid, json)
}

/// The packets of a v4 polling payload.
pub fn packets(body: &str) -> Vec<String> {
    body.split('\u{1e}').map(str::to_owned).collect()
}

/// Polls until a message packet (`4...`) arrives, answering pings; returns it.
pub async fn poll_message(addr: SocketAddr, sid: &str) -> String {
    bounded("a message on polling", WAIT, async {
        loop {
            let r = get(addr, &sid_url(sid)).await;
            assert_eq!(r.status, 200, "poll: {r:?}");
            for p in packets(&r.text()) {
                if p == "2" {
                    assert_eq!(post(addr, &sid_url(sid), "3").await.text(), "ok");
                } else if p.starts_with('4') {
                    return p;
                }
            }
        }
    })
    .await
}

// ---- WebSocket -------------------------------------------------------------------------------

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn ws_connect(addr: SocketAddr, target: &str) -> WsStream {
    let url = format!("ws://{addr}{target}");
    let (ws, _) = bounded(&format!("WebSocket {url}"), WAIT, async {
        tokio_tungstenite::connect_async(&url)
            .await
            .unwrap_or_else(|e| panic!("WebSocket {url}: {e}"))
    })
    .await;
    ws
}

/// The next text frame, skipping WebSocket pings/pongs; `None` once the socket closed.
pub async fn ws_text(ws: &mut WsStream, what: &str) -> Option<String> {
    bounded(what, WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Ws::Text(t))) => return Some(t.as_str().to_owned()),
                Some(Ok(Ws::Binary(b))) => panic!("{what}: unexpected binary frame {b:?}"),
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
}

pub async fn ws_send(ws: &mut WsStream, text: &str) {
    bounded("a WebSocket send", WAIT, ws.send(Ws::text(text)))
        .await
        .expect("WebSocket send");
}
