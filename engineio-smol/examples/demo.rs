//! The demo on smol: a chat room and a shared drawing board with live cursors, the page served
//! by a small tower service behind the Engine.IO path (`serve_with`).
//!
//! cargo run --release -p engineio-smol --example demo [-- --addr 127.0.0.1:3000]
//! cargo run --release -p engineio-smol --features cluster --example demo -- --addr HOST:PORT
//!     --node n1 --cluster redis://HOST:PORT   (one node of several behind a balancer)
//!
//! The room, the page and the command line are shared with engineio-tokio's `demo`. On first
//! run it fetches the official browser client (`engine.io-client`) from the npm registry with
//! `npm pack`, into the cargo target directory. SIGINT or SIGTERM shuts it down gracefully.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use engineio_smol::EngineIoService;
use futures_util::future::select;
use futures_util::StreamExt;
use http_body_util::Full;

#[path = "../../engineio-session/driver/examples/common/demo.rs"]
mod common;
#[path = "../../engineio-session/driver/examples/common/listen.rs"]
mod listen;
#[path = "../../engineio-session/driver/examples/common/metrics.rs"]
mod metrics;

const RUNTIME: &str = "engineio-smol";

fn main() -> std::io::Result<()> {
    let args = common::args();
    let assets = Arc::new(common::Assets::load()?);
    smol::block_on(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])?;
        let (engine, mut connections) = args.build::<engineio_smol::Smol>();
        // Everything but the Engine.IO path: the page, its script, the client, `/metrics`.
        let files = {
            let engine = engine.clone();
            tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let response = assets
                    .respond(req.uri().path(), RUNTIME, || engine.metrics())
                    .map(Full::new);
                std::future::ready(Ok::<_, Infallible>(response))
            })
        };
        let listener = smol::net::TcpListener::try_from(listen::listen(&args.addr)?)?;
        common::announce(listener.local_addr()?, RUNTIME);
        let service = EngineIoService::new(engine.clone(), files);
        let server = smol::spawn(engineio_smol::serve_with(listener, engine.clone(), service));
        let (room, cluster) = common::room(&engine, RUNTIME, &args);
        if let Some(deliver) = cluster {
            smol::spawn(deliver).detach();
        }
        let accept = async {
            while let Some(socket) = connections.accept().await {
                let room = room.clone();
                smol::spawn(async move { room.join(socket).await }).detach();
            }
        };
        // Until a signal (or the server goes away).
        let _ = select(std::pin::pin!(accept), signals.next()).await;
        engine.shutdown(Duration::from_secs(3)).await;
        let _ = server.await;
        Ok(())
    })
}
