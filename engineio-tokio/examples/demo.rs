//! The demo: a chat room and a shared drawing board with live cursors, served by axum with
//! Engine.IO mounted as a tower layer beside the page's routes.
//!
//! cargo run --release -p engineio-tokio --example demo [-- --addr 127.0.0.1:3000]
//! cargo run --release -p engineio-tokio --features cluster --example demo -- --addr HOST:PORT
//!     --node n1 --cluster redis://HOST:PORT   (one node of several behind a balancer)
//!
//! The room, the page and the command line are shared with engineio-smol's `demo`. On first
//! run it fetches the official browser client (`engine.io-client`) from the npm registry with
//! `npm pack`, into the cargo target directory. Ctrl-C or SIGTERM shuts it down gracefully.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engineio_tokio::EngineIo;

#[path = "../../engineio-session/driver/examples/common/demo.rs"]
mod common;
#[path = "../../engineio-session/driver/examples/common/listen.rs"]
mod listen;
#[path = "../../engineio-session/driver/examples/common/metrics.rs"]
mod metrics;

const RUNTIME: &str = "engineio-tokio";

#[derive(Clone)]
struct App {
    engine: EngineIo,
    assets: Arc<common::Assets>,
}

/// The server's counters as JSON.
async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [
            ("content-type", "application/json"),
            ("cache-control", "no-cache"),
        ],
        metrics::metrics_json(&app.engine.metrics(), RUNTIME),
    )
}

/// The page, its script and the browser client (see `common::Assets::respond`).
async fn files(State(app): State<App>, uri: Uri) -> Response {
    app.assets
        .respond(uri.path(), RUNTIME, || app.engine.metrics())
        .map(axum::body::Body::from)
        .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = common::args();
    let assets = Arc::new(common::Assets::load()?);
    let (engine, mut connections) = args.build::<engineio_tokio::Tokio>();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .fallback(get(files))
        .with_state(App {
            engine: engine.clone(),
            assets,
        })
        .layer(engine.layer());

    let (room, cluster) = common::room(&engine, RUNTIME, &args);
    if let Some(deliver) = cluster {
        tokio::spawn(deliver);
    }
    tokio::spawn(async move {
        while let Some(socket) = connections.accept().await {
            let room = room.clone();
            tokio::spawn(async move { room.join(socket).await });
        }
    });

    let listener = tokio::net::TcpListener::from_std(listen::listen(&args.addr)?)?;
    common::announce(listener.local_addr()?, RUNTIME);
    let shutdown = {
        let engine = engine.clone();
        async move {
            shutdown_signal().await;
            engine.shutdown(Duration::from_secs(3)).await;
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
