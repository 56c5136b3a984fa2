//! `eioxide-echo`: an echo server on `engineioxide` (the Engine.IO server under socketioxide),
//! as its documentation shows it: an `EngineIoHandler` whose `on_message` emits the message
//! back, served by hyper 1 (HTTP/1.1 with upgrades) through `EngineIoService`. Every message
//! goes back on its session as it came (text as text, binary as binary). Prints
//! `listening on http://ADDR` when ready.
//!
//! ```text
//! eioxide-echo --addr 127.0.0.1:PORT [--ping-interval MS] [--ping-timeout MS]
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engineio_bench::args::Args;
use engineioxide::config::EngineIoConfig;
use engineioxide::handler::EngineIoHandler;
use engineioxide::service::EngineIoService;
use engineioxide::{DisconnectReason, Socket, Str};
use hyper_util::rt::TokioIo;

#[derive(Debug)]
struct Echo;

impl EngineIoHandler for Echo {
    type Data = ();

    fn on_connect(self: Arc<Self>, _socket: Arc<Socket<()>>) {}

    fn on_disconnect(&self, _socket: Arc<Socket<()>>, _reason: DisconnectReason) {}

    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<()>>) {
        // Fails only when the session's buffer (128 packets by default) is full.
        let _ = socket.emit(msg);
    }

    fn on_binary(self: &Arc<Self>, data: Bytes, socket: Arc<Socket<()>>) {
        let _ = socket.emit_binary(data);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::from_env(
        "eioxide-echo --addr 127.0.0.1:PORT [--ping-interval MS] [--ping-timeout MS]",
    );
    engineio_bench::raise_fd_limit(65_536);
    let config = EngineIoConfig::builder()
        .ping_interval(Duration::from_millis(args.get("ping-interval", 25_000)))
        .ping_timeout(Duration::from_millis(args.get("ping-timeout", 20_000)))
        .build();
    let service = EngineIoService::with_config(Arc::new(Echo), config);
    let listener = tokio::net::TcpListener::bind(args.str("addr").unwrap_or("127.0.0.1:0")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}
