//! `raw-echo`: the floor, NOT an Engine.IO server. A raw hyper 1 (HTTP/1.1) + tokio-tungstenite
//! echo server that speaks just enough Engine.IO for `loadgen` to drive it the same way as the
//! real servers, so the benchmark shows what the bare stack costs:
//!
//! - a WebSocket at the path (`/engine.io/`, any query): an open packet
//!   `0{"sid":"x",...}` unless the query names a `sid`, then every text frame starting with
//!   `4` sent back as it came, `2probe` answered with `3probe`, everything else ignored;
//! - polling, naively: a GET without `sid` opens a session (open packet), a POST with `sid`
//!   queues its `4...` packets, a GET with `sid` is held until something is queued.
//!
//! No heartbeats, no timeouts, no limits, no validation: each of these is work a real server
//! does and this one does not, on purpose. Prints `listening on http://ADDR` when ready.
//!
//! ```text
//! raw-echo --addr 127.0.0.1:PORT
//! ```

mod polling;
mod ws;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use engineio_bench::args::Args;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The server's response type.
pub type Resp = Response<Full<Bytes>>;

/// A plain response.
pub fn respond(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// The value of `key` in a query string.
pub fn param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::from_env("raw-echo --addr 127.0.0.1:PORT");
    engineio_bench::raise_fd_limit(65_536);
    let listener = tokio::net::TcpListener::bind(args.str("addr").unwrap_or("127.0.0.1:0")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let sessions = Arc::new(polling::Sessions::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors, for instance: go on with the connections already open.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let sessions = sessions.clone();
                async move { Ok::<_, Infallible>(handle(req, &sessions).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>, sessions: &Arc<polling::Sessions>) -> Resp {
    if !req.uri().path().starts_with("/engine.io") {
        return respond(StatusCode::NOT_FOUND, "");
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    if param(&query, "transport") == Some("websocket") {
        ws::upgrade(req, param(&query, "sid").is_some())
    } else {
        polling::handle(req, &query, sessions).await
    }
}
