//! The WebSocket half of `raw-echo`: the handshake answered by hand, then tungstenite.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::{respond, Resp};

/// The open packet of a WebSocket-only session.
pub const OPEN: &str =
    r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// Answers the upgrade request with `101` and runs the echo on the upgraded connection; the
/// open packet is sent first unless the WebSocket upgrades an existing (polling) session.
pub fn upgrade(mut req: Request<Incoming>, upgrading: bool) -> Resp {
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY) else {
        return respond(StatusCode::BAD_REQUEST, "not a WebSocket request");
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            // A 4 KiB read buffer, as engineioxide's default (tungstenite's is 128 KiB per
            // connection, which would make this floor no floor for idle sessions).
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let io = TokioIo::new(upgraded);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            let _ = echo(ws, upgrading).await;
        }
    });
    let mut response = respond(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let headers = response.headers_mut();
    headers.insert(UPGRADE, "websocket".parse().expect("header value"));
    headers.insert(CONNECTION, "Upgrade".parse().expect("header value"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept.parse().expect("header value"));
    response
}

async fn echo<S>(
    mut ws: WebSocketStream<S>,
    upgrading: bool,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if !upgrading {
        ws.send(Message::text(OPEN)).await?;
    }
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(t) if t.as_str() == "2probe" => ws.send(Message::text("3probe")).await?,
            Message::Text(t) if t.as_str().starts_with('4') => ws.send(Message::Text(t)).await?,
            Message::Binary(b) => ws.send(Message::Binary(b)).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}
