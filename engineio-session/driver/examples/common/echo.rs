//! The echo server's command line and per-session loop, shared by the `echo` examples of
//! engineio-tokio and engineio-smol (included with `#[path]`), so both take the same
//! arguments and behave the same.
//!
//! echo --addr HOST:PORT [--path /engine.io/] [--ping-interval MS] [--ping-timeout MS]
//!     [--max-payload BYTES] [--allow-eio3] [--cors-origin ORIGIN]

use std::time::Duration;

use engineio_driver::session::{CorsConfig, CorsOrigin, DeflateConfig};
use engineio_driver::{ServerConfig, Socket, SocketEvent};

fn usage() -> ! {
    eprintln!(
        "usage: echo --addr HOST:PORT [--path P] [--ping-interval MS] [--ping-timeout MS] \
         [--max-payload BYTES] [--allow-eio3] [--cors-origin ORIGIN] [--deflate]"
    );
    std::process::exit(2)
}

/// The address to listen on and the server's configuration, from the command line.
pub fn args() -> (String, ServerConfig) {
    let mut addr = String::from("127.0.0.1:3000");
    let mut config = ServerConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => addr = value(),
            "--path" => config.path = value(),
            "--ping-interval" => {
                config.ping_interval =
                    Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--ping-timeout" => {
                config.ping_timeout =
                    Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--max-payload" => config.max_payload = value().parse().unwrap_or_else(|_| usage()),
            "--allow-eio3" => config.allow_eio3 = true,
            "--deflate" => config.per_message_deflate = Some(DeflateConfig::default()),
            "--cors-origin" => {
                let origin = value();
                config.cors = Some(CorsConfig {
                    origin: if origin == "*" {
                        CorsOrigin::Any
                    } else {
                        CorsOrigin::List(vec![origin])
                    },
                    credentials: true,
                    ..CorsConfig::default()
                });
            }
            _ => usage(),
        }
    }
    (addr, config)
}

/// Sends every message back on its session, text as text, binary as binary.
pub async fn echo(mut socket: Socket) {
    while let Some(event) = socket.recv().await {
        if let SocketEvent::Message(m) = event {
            if socket.send(m).await.is_err() {
                break;
            }
        }
    }
}
