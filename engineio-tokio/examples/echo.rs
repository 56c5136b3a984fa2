//! Echo server: every message goes back on the same session, text as text, binary as binary.
//!
//! cargo run --release -p engineio-tokio --example echo -- --addr 127.0.0.1:3000 [--path /engine.io/]
//!     [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3]
//!     [--cors-origin ORIGIN] [--deflate] [--node NAME] [--sid-prefix PREFIX] [--cookie NAME]
//!
//! The command line and the per-session loop are shared with engineio-smol's `echo`.

use std::time::Duration;

#[path = "../../engineio-session/driver/examples/common/echo.rs"]
mod common;
#[path = "../../engineio-session/driver/examples/common/listen.rs"]
mod listen;
#[path = "../../engineio-session/driver/examples/common/metrics.rs"]
mod metrics;

/// The runtime, as `__stats` names it.
const RUNTIME: &str = "engineio-tokio";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs (RUST_LOG) go to stderr: stdout says where the server listens.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = common::args();
    let (engine, mut connections) = args.builder::<engineio_tokio::Tokio>().build();
    let listener = tokio::net::TcpListener::from_std(listen::listen(&args.addr)?)?;
    println!("listening on http://{}", listener.local_addr()?);
    let server = tokio::spawn(engineio_tokio::serve(listener, engine.clone()));
    let accept = async {
        while let Some(socket) = connections.accept().await {
            tokio::spawn(common::echo(socket, args.node.clone(), engine.clone()));
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
