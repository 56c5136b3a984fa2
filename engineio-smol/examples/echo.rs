//! Echo server: every message goes back on the same session, text as text, binary as binary.
//!
//! cargo run --release -p engineio-smol --example echo -- --addr 127.0.0.1:3000 [--path /engine.io/]
//!     [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3]
//!     [--cors-origin ORIGIN] [--deflate] [--node NAME] [--sid-prefix PREFIX] [--cookie NAME]
//!
//! The command line and the per-session loop are shared with engineio-tokio's `echo`.
//! SIGINT or SIGTERM shuts the server down gracefully.

use std::time::Duration;

use futures_util::future::select;
use futures_util::StreamExt;

#[path = "../../engineio-session/driver/examples/common/echo.rs"]
mod common;
#[path = "../../engineio-session/driver/examples/common/listen.rs"]
mod listen;
#[path = "../../engineio-session/driver/examples/common/metrics.rs"]
mod metrics;

/// The runtime, as `__stats` names it.
const RUNTIME: &str = "engineio-smol";

fn main() -> std::io::Result<()> {
    // Logs (RUST_LOG) go to stderr: stdout says where the server listens.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = common::args();
    smol::block_on(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])?;
        let (engine, mut connections) = args.builder::<engineio_smol::Smol>().build();
        let listener = smol::net::TcpListener::try_from(listen::listen(&args.addr)?)?;
        println!("listening on http://{}", listener.local_addr()?);
        let server = smol::spawn(engineio_smol::serve(listener, engine.clone()));
        let accept = async {
            while let Some(socket) = connections.accept().await {
                smol::spawn(common::echo(socket, args.node.clone(), engine.clone())).detach();
            }
        };
        // Until a signal (or the server goes away).
        let _ = select(std::pin::pin!(accept), signals.next()).await;
        engine.shutdown(Duration::from_secs(5)).await;
        let _ = server.await;
        Ok(())
    })
}
