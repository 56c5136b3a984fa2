//! Mounted in axum with `Router::layer`: Engine.IO on its path, the router elsewhere. (The
//! runtime-independent behaviour is tested on both runtimes in `tests/tests/runtime_parity`.)

use std::time::Duration;

use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::session::ClientConfig;
use engineio_tokio::{Client, ClientSocketEvent, EngineIo, ServerConfig, SocketEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_layer_serves_engineio_beside_other_routes() {
    let (engine, mut connections) = EngineIo::new(ServerConfig::default());
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "world" }))
        .layer(engine.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::spawn(async move {
        while let Some(mut s) = connections.accept().await {
            tokio::spawn(async move {
                while let Some(event) = s.recv().await {
                    if let SocketEvent::Message(m) = event {
                        let _ = s.send(m).await;
                    }
                }
            });
        }
    });
    for transport in [Transport::Polling, Transport::Websocket] {
        let mut config = ClientConfig::new(format!("http://{addr}").parse().unwrap());
        config.transports = vec![transport];
        let mut client = Client::connect(config).await.expect("handshake");
        client.send("ping through axum").await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), client.recv()).await;
        let expected = Message::from("ping through axum");
        assert!(
            matches!(&echoed, Ok(Some(ClientSocketEvent::Message(m))) if *m == expected),
            "{transport:?}: {echoed:?}"
        );
    }
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.ends_with("world"), "{response}");
}
