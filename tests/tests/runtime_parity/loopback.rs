//! Our client against our server over real sockets: every transport mode, both versions,
//! shutdown, `allow_request`, a tower layer in front of another service.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use engineio_driver::proto::{Message, ProtocolVersion, Transport};
use engineio_driver::session::ClientConfig;
use engineio_driver::{
    Client, ClientSocketEvent, CloseReason, EngineIo, EngineIoService, ServerConfig,
};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{echo_server, serve, serve_on, spawn_echo, timeout, Counting, TestRuntime};

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

/// A client for `url` on `mode`: `polling` (no upgrade), `websocket`, or `upgrade`.
pub(crate) fn client_config(url: &str, mode: &str, version: ProtocolVersion) -> ClientConfig {
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
    config
}

/// 200 messages echoed in order over `mode`, then a local close.
async fn round_trip<R: TestRuntime>(url: &str, mode: &str, version: ProtocolVersion) {
    let config = client_config(url, mode, version);
    let mut client = Client::<R>::connect(config).await.expect("handshake");
    let sent = messages(200);
    let sender = client.sender();
    let to_send = sent.clone();
    R::default().spawn(async move {
        for m in to_send {
            sender.send(m).await.unwrap();
        }
    });
    let mut upgraded = false;
    let mut got = Vec::new();
    while got.len() < sent.len() {
        match timeout::<R, _>(Duration::from_secs(10), client.recv()).await {
            Some(Some(ClientSocketEvent::Message(m))) => got.push(m),
            Some(Some(ClientSocketEvent::Upgraded(_))) => upgraded = true,
            Some(Some(ClientSocketEvent::Upgrading | ClientSocketEvent::Heartbeat)) => {}
            other => panic!("{mode} {version:?}: {other:?} after {} messages", got.len()),
        }
    }
    assert_eq!(got, sent, "{mode} {version:?}");
    if mode == "upgrade" && !upgraded {
        // The upgrade may complete after the last echo; give it a moment.
        loop {
            match timeout::<R, _>(Duration::from_secs(2), client.recv()).await {
                Some(Some(ClientSocketEvent::Upgrading | ClientSocketEvent::Heartbeat)) => {}
                next => {
                    upgraded = matches!(next, Some(Some(ClientSocketEvent::Upgraded(_))));
                    break;
                }
            }
        }
    }
    if mode == "upgrade" {
        assert!(upgraded, "{version:?}: no upgrade");
    }
    client.close().await;
    loop {
        match timeout::<R, _>(Duration::from_secs(5), client.recv()).await {
            Some(Some(ClientSocketEvent::Closed { reason, local })) => {
                assert_eq!((reason, local), (CloseReason::ForcedClose, true));
                break;
            }
            Some(Some(_)) => {}
            other => panic!("no close: {other:?}"),
        }
    }
}

pub async fn every_mode_and_version<R: TestRuntime>() {
    let config = ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    };
    let (engine, url) = echo_server::<R>(config).await;
    for version in [ProtocolVersion::V4, ProtocolVersion::V3] {
        for mode in ["polling", "websocket", "upgrade"] {
            round_trip::<R>(&url, mode, version).await;
        }
    }
    let m = engine.metrics();
    assert_eq!(m.sessions_total, 6);
    assert!(m.upgrades >= 2, "{m:?}");
    assert_eq!(m.messages_in, 1200);
    assert_eq!(
        m.messages_out, 1200,
        "every echo counted, also those that waited for room"
    );
    assert!(engine.shutdown(Duration::from_secs(5)).await);
    assert_eq!(engine.metrics().sessions_open, 0);
}

pub async fn shutdown_closes_sessions_with_server_shutting_down<R: TestRuntime>() {
    let (engine, url) = echo_server::<R>(ServerConfig::default()).await;
    let mut clients = Vec::new();
    for mode in ["polling", "websocket"] {
        let config = client_config(&url, mode, ProtocolVersion::V4);
        clients.push(Client::<R>::connect(config).await.unwrap());
    }
    assert!(
        engine.shutdown(Duration::from_secs(5)).await,
        "sessions did not end"
    );
    for mut c in clients {
        loop {
            match timeout::<R, _>(Duration::from_secs(5), c.recv()).await {
                Some(Some(ClientSocketEvent::Closed { local, .. })) => {
                    assert!(!local);
                    break;
                }
                Some(Some(_)) => {}
                other => panic!("client not closed: {other:?}"),
            }
        }
    }
    let m = engine.metrics();
    assert_eq!(m.closes[5], 2, "{m:?}");
    // New handshakes are refused.
    let refused = Client::<R>::connect(ClientConfig::new(url.parse().unwrap())).await;
    assert!(refused.is_err());
}

pub async fn allow_request_refuses_before_a_session_exists<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::builder(ServerConfig::default())
        .allow_request(|info| async move {
            match info.headers.get("x-token") {
                Some(t) if t == "secret" => Ok(()),
                _ => Err(Some("bad token".to_owned())),
            }
        })
        .build();
    let url = format!("http://{}", serve(engine).await);
    let denied = Client::<R>::connect(ClientConfig::new(url.parse().unwrap())).await;
    assert!(denied.is_err());
    let mut config = ClientConfig::new(url.parse().unwrap());
    config
        .extra_headers
        .insert("x-token", "secret".parse().unwrap());
    let client = Client::<R>::connect(config).await.expect("allowed");
    let socket = connections.accept().await.unwrap();
    assert_eq!(socket.sid().as_str(), client.sid());
    assert_eq!(socket.request().headers["x-token"], "secret");
    assert!(socket.request().remote_addr.is_some());
}

pub async fn tower_layer_serves_engineio_beside_other_services<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    let page = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
            Bytes::from_static(b"world"),
        )))
    });
    let service = EngineIoService::new(engine.clone(), page);
    let (listener, addr) = R::bind().await;
    let rt = R::default();
    rt.spawn(async move {
        let _ = engineio_driver::serve_with(listener, engine, service).await;
    });
    spawn_echo::<R>(connections);
    for mode in ["polling", "websocket", "upgrade"] {
        round_trip::<R>(&format!("http://{addr}"), mode, ProtocolVersion::V4).await;
    }
    let mut stream = rt.connect("127.0.0.1", addr.port()).await.unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("world"), "{response}");
}

pub async fn client_keeps_its_http_connections<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    let (listener, addr) = R::bind().await;
    let (listener, counts) = Counting::new(listener);
    serve_on(listener, engine);
    spawn_echo::<R>(connections);
    // 200 messages over polling take dozens of GETs and POSTs: a GET and a POST at a time,
    // each on a kept-alive connection.
    round_trip::<R>(&format!("http://{addr}"), "polling", ProtocolVersion::V4).await;
    let n = counts.accepted.load(Ordering::Relaxed);
    assert!(
        (1..=3).contains(&n),
        "{n} connections for one polling session"
    );
}

/// After an upgrade the client sends no more HTTP requests: it closes its polling
/// connections rather than keep them idle until the server's idle timeout (a descriptor on
/// each side per session; found by the load tool).
pub async fn client_closes_its_polling_connections_after_upgrade<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    let (listener, addr) = R::bind().await;
    let (listener, counts) = Counting::new(listener);
    serve_on(listener, engine);
    spawn_echo::<R>(connections);
    let config = client_config(&format!("http://{addr}"), "upgrade", ProtocolVersion::V4);
    let mut client = Client::<R>::connect(config).await.expect("handshake");
    // Traffic while polling, so that a GET and a POST each hold a connection.
    for i in 0..20 {
        client.send(Message::from(format!("m{i}"))).await.unwrap();
    }
    let mut echoed = 0;
    let mut upgraded = false;
    while !upgraded || echoed < 20 {
        match timeout::<R, _>(Duration::from_secs(10), client.recv()).await {
            Some(Some(ClientSocketEvent::Message(_))) => echoed += 1,
            Some(Some(ClientSocketEvent::Upgraded(_))) => upgraded = true,
            Some(Some(_)) => {}
            other => panic!("{other:?} after {echoed} echoes"),
        }
    }
    assert!(counts.accepted.load(Ordering::Relaxed) >= 2);
    // The WebSocket's connection only, well before the server's 30 s idle timeout.
    let mut open = usize::MAX;
    for _ in 0..50 {
        open = counts.open.load(Ordering::Relaxed);
        if open == 1 {
            break;
        }
        timeout::<R, _>(Duration::from_millis(100), std::future::pending::<()>()).await;
    }
    assert_eq!(open, 1, "connections still open after the upgrade");
    client.close().await;
}

pub async fn slow_request_headers_are_cut_off<R: TestRuntime>() {
    let (engine, _connections) = EngineIo::<R>::builder(ServerConfig::default())
        .header_read_timeout(Some(Duration::from_millis(300)))
        .build();
    let addr = serve(engine).await;
    let rt = R::default();
    let mut slow = rt.connect("127.0.0.1", addr.port()).await.unwrap();
    slow.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let read = timeout::<R, _>(Duration::from_secs(5), slow.read(&mut buf)).await;
    let elapsed = start.elapsed();
    // Closed (end of stream, or a reset) or answered with an error: not left hanging.
    match read {
        Some(Ok(0)) | Some(Err(_)) => {}
        Some(Ok(n)) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        }
        None => panic!("a connection sending half its headers is still open after 5 s"),
    }
    assert!(
        elapsed >= Duration::from_millis(250),
        "cut off after {elapsed:?}"
    );
    // Others are served.
    let url = format!("http://{addr}").parse().unwrap();
    assert!(Client::<R>::connect(ClientConfig::new(url)).await.is_ok());
}

pub async fn a_full_send_buffer_makes_send_wait<R: TestRuntime>() {
    // A buffer of four messages: the echoes wait for room (`send().await`), in order, and
    // every one is counted once it leaves the wait.
    let config = ServerConfig {
        max_buffered_packets: 4,
        ..ServerConfig::default()
    };
    let (engine, url) = echo_server::<R>(config).await;
    for mode in ["polling", "websocket"] {
        round_trip::<R>(&url, mode, ProtocolVersion::V4).await;
    }
    assert_eq!(engine.metrics().messages_out, 400);
}
