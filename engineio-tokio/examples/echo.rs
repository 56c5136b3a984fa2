//! Echo server: every message goes back on the same session, text as text, binary as binary.
//!
//! cargo run --release -p engineio-tokio --example echo -- --addr 127.0.0.1:3000 [--path /engine.io/]
//!     [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3]
//!     [--cors-origin ORIGIN]

use std::time::Duration;

use engineio_tokio::session::{CorsConfig, CorsOrigin};
use engineio_tokio::{EngineIo, ServerConfig, SocketEvent};

fn usage() -> ! {
    eprintln!(
        "usage: echo --addr HOST:PORT [--path P] [--ping-interval MS] [--ping-timeout MS] \
         [--max-payload BYTES] [--allow-eio3] [--cors-origin ORIGIN]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
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
    let (engine, mut connections) = EngineIo::new(config);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let server = tokio::spawn(engineio_tokio::serve(listener, engine.clone()));
    let accept = async {
        while let Some(mut socket) = connections.accept().await {
            tokio::spawn(async move {
                while let Some(event) = socket.recv().await {
                    if let SocketEvent::Message(m) = event {
                        if socket.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    };
    tokio::select! {
        () = accept => {}
        () = shutdown_signal() => {}
    }
    engine.shutdown(Duration::from_secs(5)).await;
    let _ = server.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
