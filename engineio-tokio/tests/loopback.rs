//! Our client against our server over real sockets: every transport mode, both versions.

use std::time::Duration;

use bytes::Bytes;
use engineio_tokio::proto::{Message, ProtocolVersion, Transport};
use engineio_tokio::session::ClientConfig;
use engineio_tokio::{Client, ClientSocketEvent, CloseReason, EngineIo, ServerConfig, SocketEvent};

async fn echo_server(config: ServerConfig) -> (EngineIo, String) {
    let (engine, mut connections) = EngineIo::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(engineio_tokio::serve(listener, engine.clone()));
    tokio::spawn(async move {
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
    });
    *METRICS.lock().unwrap() = Some(engine.clone());
    (engine, url)
}

static METRICS: std::sync::Mutex<Option<EngineIo>> = std::sync::Mutex::new(None);

fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| match i % 4 {
            0 => Message::from(format!("héllo {i} 😀")),
            1 => Message::from(""),
            2 => Message::Binary(Bytes::from(vec![i as u8; i * 37 % 5000])),
            _ => Message::from("x".repeat(i * 101 % 9000)),
        })
        .collect()
}

async fn round_trip(url: &str, mode: &str, version: ProtocolVersion) {
    let mut config = ClientConfig::new(url.parse().unwrap());
    config.version = version;
    match mode {
        "polling" => {
            config.transports = vec![Transport::Polling];
            config.upgrade = false;
        }
        "websocket" => config.transports = vec![Transport::Websocket],
        _ => {}
    }
    let mut client = Client::connect(config).await.expect("handshake");
    let sent = messages(200);
    let sender = client.sender();
    let to_send = sent.clone();
    tokio::spawn(async move {
        for m in to_send {
            sender.send(m).await.unwrap();
        }
    });
    let mut upgraded = false;
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match tokio::time::timeout(Duration::from_secs(10), client.recv()).await {
            Ok(Some(ClientSocketEvent::Message(m))) => got.push(m),
            Ok(Some(ClientSocketEvent::Upgraded)) => upgraded = true,
            other => panic!(
                "{mode} {version:?}: {other:?} after {} messages; server: {:?}",
                got.len(),
                METRICS
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map(|e: &EngineIo| e.metrics())
            ),
        }
    }
    assert_eq!(got, sent, "{mode} {version:?}");
    if mode == "upgrade" {
        // The upgrade may complete after the last echo; give it a moment.
        if !upgraded {
            if let Ok(Some(ClientSocketEvent::Upgraded)) =
                tokio::time::timeout(Duration::from_secs(2), client.recv()).await
            {
                upgraded = true;
            }
        }
        assert!(upgraded, "{version:?}: no upgrade");
    }
    client.close().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.recv()).await {
            Ok(Some(ClientSocketEvent::Closed { reason, local })) => {
                assert_eq!((reason, local), (CloseReason::ForcedClose, true));
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no close: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_and_version() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (engine, url) = echo_server(ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    })
    .await;
    for version in [ProtocolVersion::V4, ProtocolVersion::V3] {
        for mode in ["polling", "websocket", "upgrade"] {
            round_trip(&url, mode, version).await;
        }
    }
    let m = engine.metrics();
    assert_eq!(m.sessions_total, 6);
    assert!(m.upgrades >= 2, "{m:?}");
    assert_eq!(m.messages_in, 1200);
    assert!(engine.shutdown(Duration::from_secs(5)).await);
    assert_eq!(engine.metrics().sessions_open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_with_server_shutting_down() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (engine, url) = echo_server(ServerConfig::default()).await;
    let mut clients = Vec::new();
    for mode in ["polling", "websocket"] {
        let mut config = ClientConfig::new(url.parse().unwrap());
        if mode == "websocket" {
            config.transports = vec![Transport::Websocket];
        } else {
            config.upgrade = false;
        }
        clients.push(Client::connect(config).await.unwrap());
    }
    assert!(
        engine.shutdown(Duration::from_secs(5)).await,
        "sessions did not end"
    );
    for mut c in clients {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
                Ok(Some(ClientSocketEvent::Closed { local, .. })) => {
                    assert!(!local);
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!("client not closed: {other:?}"),
            }
        }
    }
    let m = engine.metrics();
    assert_eq!(m.closes[5], 2, "{m:?}");
    // New handshakes are refused.
    let refused = Client::connect(ClientConfig::new(url.parse().unwrap())).await;
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_request_refuses_before_a_session_exists() {
    let (engine, mut connections) = EngineIo::builder(ServerConfig::default())
        .allow_request(|info| async move {
            match info.headers.get("x-token") {
                Some(t) if t == "secret" => Ok(()),
                _ => Err(Some("bad token".to_owned())),
            }
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(engineio_tokio::serve(listener, engine.clone()));
    let denied = Client::connect(ClientConfig::new(url.parse().unwrap())).await;
    assert!(denied.is_err());
    let mut config = ClientConfig::new(url.parse().unwrap());
    config
        .extra_headers
        .insert("x-token", "secret".parse().unwrap());
    let client = Client::connect(config).await.expect("allowed");
    let socket = connections.accept().await.unwrap();
    assert_eq!(socket.sid().as_str(), client.sid());
    assert_eq!(socket.request().headers["x-token"], "secret");
    assert!(socket.request().remote_addr.is_some());
}

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
    for mode in ["polling", "websocket", "upgrade"] {
        round_trip(&format!("http://{addr}"), mode, ProtocolVersion::V4).await;
    }
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.ends_with("world"), "{response}");
}
