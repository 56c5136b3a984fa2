//! The Node `engine.io` README's three ways to run a server, ported. Every new session is sent
//! a text and a binary message, as in the README, then gets its messages echoed back.
//!
//! ```text
//! cargo run -p engineio-tokio --example reference_readme -- --style listen|attach|handle
//!     [--addr 127.0.0.1:3000]
//! ```
//!
//! - `listen` (`engine.listen(port)`): Engine.IO owns the port ([`engineio_tokio::serve`]).
//! - `attach` (`engine.attach(httpServer)`): an application's HTTP routes, Engine.IO on its
//!   path beside them (axum, with the engine as a tower layer).
//! - `handle` (`server.handleRequest(req, res)` and `server.handleUpgrade(req, socket, head)`):
//!   the application's own hyper server passes each request to [`EngineIo::handle`], which
//!   answers it (WebSocket upgrades included) or hands it back.

use std::convert::Infallible;

use bytes::Bytes;
use engineio_tokio::proto::Message;
use engineio_tokio::{Connections, EngineIo, Handled, ServerConfig, SocketEvent};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut style = "listen".to_owned();
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--style" => style = value,
            "--addr" => addr = value,
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    let (engine, connections) = EngineIo::new(ServerConfig::default());
    tokio::spawn(greet_and_echo(connections));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    match style.as_str() {
        // const server = engine.listen(3000);
        "listen" => engineio_tokio::serve(listener, engine).await,
        // const server = engine.attach(httpServer);
        "attach" => {
            let app = axum::Router::new()
                .route(
                    "/",
                    axum::routing::get(|| async { "the application's page" }),
                )
                .layer(engine.layer());
            axum::serve(listener, app).await
        }
        // httpServer.on('request', ...handleRequest); httpServer.on('upgrade', ...handleUpgrade)
        "handle" => loop {
            let (stream, _) = listener.accept().await?;
            let engine = engine.clone();
            let service = hyper::service::service_fn(move |req| handle(engine.clone(), req));
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades();
                let _ = conn.await;
            });
        },
        other => {
            eprintln!("unknown style {other}: listen, attach or handle");
            std::process::exit(2);
        }
    }
}

/// The application's own request handler: Engine.IO's requests to the engine, the rest here.
async fn handle(
    engine: EngineIo,
    req: Request<Incoming>,
) -> Result<Response<Either<Full<Bytes>, Full<Bytes>>>, Infallible> {
    Ok(match engine.handle(req).await {
        Handled::Response(r) => r.map(|b| Either::Left(Full::new(b))),
        Handled::Pass(_req) => Response::new(Either::Right(Full::new(Bytes::from_static(
            b"the application's page",
        )))),
    })
}

/// server.on('connection', socket => { socket.send('utf 8 string');
/// socket.send(Buffer.from([0, 1, 2, 3, 4, 5])); socket.on('message', ...) })
async fn greet_and_echo(mut connections: Connections) {
    while let Some(mut socket) = connections.accept().await {
        tokio::spawn(async move {
            let _ = socket.send("utf 8 string").await;
            let _ = socket
                .send(Message::Binary(Bytes::from_static(&[0, 1, 2, 3, 4, 5])))
                .await;
            while let Some(event) = socket.recv().await {
                match event {
                    SocketEvent::Message(m) => {
                        let _ = socket.send(m).await;
                    }
                    SocketEvent::Closed(reason) => println!("closed: {reason}"),
                    _ => {}
                }
            }
        });
    }
}
