//! The demo: a chat page served by axum, with Engine.IO mounted as a tower layer beside the
//! page's routes. Every message is broadcast to every open session.
//!
//! cargo run --release -p engineio-tokio --example demo [-- --addr 127.0.0.1:3000]
//!
//! On first run it fetches the official browser client (`engine.io-client` 6.x) from the npm
//! registry with `npm pack`, into the cargo target directory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use engineio_tokio::{EngineIo, ServerConfig, SocketEvent, SocketSender};

const PAGE: &str = include_str!("index.html");

/// Finds or fetches `engine.io.min.js` (the browser build of the official client).
fn browser_client() -> std::io::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/demo-assets")
        .canonicalize()
        .or_else(|_| {
            let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/demo-assets");
            std::fs::create_dir_all(&d)?;
            d.canonicalize()
        })?;
    let js = dir.join("engine.io.min.js");
    if js.exists() {
        return Ok(js);
    }
    println!("fetching engine.io-client 6 from the npm registry (first run only)…");
    let pack = std::process::Command::new("npm")
        .args(["pack", "engine.io-client@6", "--silent"])
        .current_dir(&dir)
        .output()?;
    let tarball = String::from_utf8_lossy(&pack.stdout).trim().to_owned();
    if !pack.status.success() || tarball.is_empty() {
        return Err(std::io::Error::other(
            "npm pack engine.io-client@6 failed: is npm installed?",
        ));
    }
    let status = std::process::Command::new("tar")
        .args(["xzf", &tarball, "package/dist/engine.io.min.js"])
        .current_dir(&dir)
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other("could not unpack the client"));
    }
    std::fs::rename(dir.join("package/dist/engine.io.min.js"), &js)?;
    Ok(js)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = String::from("127.0.0.1:3000");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            _ => {
                eprintln!("usage: demo [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let client_js = std::fs::read(browser_client()?)?;
    let (engine, mut connections) = EngineIo::new(ServerConfig::default());
    let app =
        Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route(
                "/engine.io.min.js",
                get(move || {
                    let js = client_js.clone();
                    async move {
                        ([("content-type", "text/javascript; charset=utf-8")], js).into_response()
                    }
                }),
            )
            .layer(engine.layer());

    let peers: Arc<Mutex<Vec<SocketSender>>> = Arc::default();
    let room = peers.clone();
    tokio::spawn(async move {
        while let Some(mut socket) = connections.accept().await {
            let room = room.clone();
            room.lock().unwrap().push(socket.sender());
            tokio::spawn(async move {
                let me = socket.sid();
                let broadcast = |text: String| {
                    let senders: Vec<_> = room.lock().unwrap().clone();
                    async move {
                        for s in senders {
                            let _ = s.send(text.clone()).await;
                        }
                    }
                };
                broadcast(format!("* {me} joined")).await;
                while let Some(event) = socket.recv().await {
                    match event {
                        SocketEvent::Message(m) => {
                            let text = match m {
                                engineio_tokio::proto::Message::Text(t) => t.to_string(),
                                engineio_tokio::proto::Message::Binary(b) => {
                                    format!("[{} bytes]", b.len())
                                }
                            };
                            broadcast(format!("{me}: {text}")).await;
                        }
                        SocketEvent::Closed(_) => break,
                        _ => {}
                    }
                }
                room.lock().unwrap().retain(|s| s.sid() != me);
                broadcast(format!("* {me} left")).await;
            });
        }
    });

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "demo on http://{}/ (open it in two tabs)",
        listener.local_addr()?
    );
    let shutdown = {
        let engine = engine.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            engine.shutdown(Duration::from_secs(3)).await;
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
