//! Sending, on both roles: `send` returns the message's id at once, `flushed(id)` resolves once
//! it was written to the network (the reference's send callback) or fails once the session is
//! closed without it, and `try_send` answers `Full` instead of waiting.

use std::net::SocketAddr;
use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion};
use engineio_driver::session::SendId;
use engineio_driver::{
    Client, ClientSocketEvent, EngineIo, SendError, ServerConfig, Socket, SocketEvent,
};

use crate::harness::{serve, timeout, TestRuntime};
use crate::loopback::client_config;

const WAIT: Duration = Duration::from_secs(10);

async fn next_message<R: TestRuntime>(client: &mut Client<R>) -> Message {
    loop {
        match timeout::<R, _>(WAIT, client.recv()).await.flatten() {
            Some(ClientSocketEvent::Message(m)) => return m,
            Some(
                ClientSocketEvent::Upgrading
                | ClientSocketEvent::Upgraded(_)
                | ClientSocketEvent::Heartbeat,
            ) => {}
            other => panic!("client: {other:?}"),
        }
    }
}

async fn next_server_message<R: TestRuntime>(socket: &mut Socket) -> Message {
    loop {
        match timeout::<R, _>(WAIT, socket.recv()).await.flatten() {
            Some(SocketEvent::Message(m)) => return m,
            Some(SocketEvent::Upgrading | SocketEvent::Upgraded(_) | SocketEvent::Heartbeat) => {}
            other => panic!("server: {other:?}"),
        }
    }
}

pub async fn send_returns_ids_and_flushed_resolves<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::new(ServerConfig::default());
    let url = format!("http://{}", serve(engine.clone()).await);
    for mode in ["polling", "websocket", "upgrade"] {
        let config = client_config(&url, mode, ProtocolVersion::V4);
        let mut client = Client::<R>::connect(config).await.expect("handshake");
        let mut socket = timeout::<R, _>(WAIT, connections.accept())
            .await
            .flatten()
            .expect("a session");
        // The server's messages are numbered from 0, and flushed in order.
        let mut ids = Vec::new();
        for m in ["a", "b", "c"] {
            ids.push(socket.send(m).await.expect("send"));
        }
        assert_eq!(ids, [SendId(0), SendId(1), SendId(2)], "{mode}");
        let flushed = timeout::<R, _>(WAIT, socket.flushed(SendId(2))).await;
        assert_eq!(flushed, Some(Ok(())), "{mode}: server flush");
        for m in ["a", "b", "c"] {
            assert_eq!(next_message(&mut client).await, Message::from(m), "{mode}");
        }
        // The client's too.
        let x = client.send("x").await.expect("send");
        let y = client.sender().try_send("y").expect("try_send");
        assert_eq!((x, y), (SendId(0), SendId(1)), "{mode}");
        let flushed = timeout::<R, _>(WAIT, client.flushed(y)).await;
        assert_eq!(flushed, Some(Ok(())), "{mode}: client flush");
        for m in ["x", "y"] {
            assert_eq!(
                next_server_message::<R>(&mut socket).await,
                Message::from(m)
            );
        }
        // A message never sent is never flushed: awaiting it ends with the session.
        let never = SendId(100);
        client.close().await;
        let on_server = timeout::<R, _>(WAIT, socket.flushed(never)).await;
        assert_eq!(on_server, Some(Err(SendError::Closed)), "{mode}: server");
        let on_client = timeout::<R, _>(WAIT, client.flushed(never)).await;
        assert_eq!(on_client, Some(Err(SendError::Closed)), "{mode}: client");
        assert_eq!(client.try_send("late"), Err(SendError::Closed), "{mode}");
        assert_eq!(socket.try_send("late"), Err(SendError::Closed), "{mode}");
    }
}

/// A polling session opened by hand, whose GETs the test makes: its sid and the connection.
async fn raw_polling<R: TestRuntime>(addr: SocketAddr) -> String {
    let body = raw_get::<R>(addr, "/engine.io/?EIO=4&transport=polling").await;
    crate::harness::sid_of(&body)
}

/// One GET on a new connection: the response's body (a `200`).
async fn raw_get<R: TestRuntime>(addr: SocketAddr, target: &str) -> String {
    let (head, body) = crate::harness::raw_get::<R>(addr, target, "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body
}

pub async fn try_send_answers_full_and_a_flush_makes_room<R: TestRuntime>() {
    let config = ServerConfig {
        max_buffered_packets: 4,
        // No ping before the test's GET, even on a slow machine; then one the peer never
        // answers.
        ping_interval: Duration::from_millis(2000),
        ping_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let (engine, mut connections) = EngineIo::<R>::new(config);
    let addr = serve(engine.clone()).await;
    let sid = raw_polling::<R>(addr).await;
    let socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    // Nobody collects: four messages fill the buffer, the fifth is refused, not waited for.
    for i in 0..4u64 {
        assert_eq!(socket.try_send(format!("m{i}")), Ok(SendId(i)));
    }
    assert_eq!(socket.try_send("m4"), Err(SendError::Full));
    let sender = socket.sender();
    let rt = R::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(1);
    rt.spawn(async move {
        let _ = done_tx.send(sender.send("m4").await).await;
    });
    // Nothing is flushed yet.
    let early = timeout::<R, _>(Duration::from_millis(100), socket.flushed(SendId(0))).await;
    assert_eq!(early, None, "flushed before any GET");
    // A GET takes the four: they are flushed, and the waiting send gets its room.
    let body = raw_get::<R>(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(body, "4m0\u{1e}4m1\u{1e}4m2\u{1e}4m3");
    let flushed = timeout::<R, _>(WAIT, socket.flushed(SendId(3))).await;
    assert_eq!(flushed, Some(Ok(())));
    let waited = timeout::<R, _>(WAIT, done_rx.recv()).await.flatten();
    assert_eq!(waited, Some(Ok(SendId(4))));
    // The peer never comes back: the session ends by heartbeat, m4 never left.
    let lost = timeout::<R, _>(WAIT, socket.flushed(SendId(4))).await;
    assert_eq!(lost, Some(Err(SendError::Closed)));
}

pub async fn send_batch_sends_in_order_and_waits_for_room<R: TestRuntime>() {
    // A buffer of four messages: a batch of 100 goes in four at a time, in order.
    let config = ServerConfig {
        max_buffered_packets: 4,
        ..ServerConfig::default()
    };
    let (engine, mut connections) = EngineIo::<R>::new(config);
    let url = format!("http://{}", serve(engine.clone()).await);
    for mode in ["polling", "websocket"] {
        let mut client = Client::<R>::connect(client_config(&url, mode, ProtocolVersion::V4))
            .await
            .expect("handshake");
        let mut socket = timeout::<R, _>(WAIT, connections.accept())
            .await
            .flatten()
            .expect("a session");
        let batch: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
        let sender = socket.sender();
        let to_send = batch.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        R::default().spawn(async move {
            let _ = tx.send(sender.send_batch(to_send).await).await;
        });
        for m in &batch {
            assert_eq!(
                next_message(&mut client).await,
                Message::from(m.as_str()),
                "{mode}"
            );
        }
        let sent = timeout::<R, _>(WAIT, rx.recv()).await.flatten();
        assert_eq!(sent, Some(Ok(Some(SendId(99)))), "{mode}");
        // The client's batch.
        let last = client.send_batch(["x", "y", "z"]).await;
        assert_eq!(last, Ok(Some(SendId(2))), "{mode}");
        for m in ["x", "y", "z"] {
            assert_eq!(
                next_server_message::<R>(&mut socket).await,
                Message::from(m)
            );
        }
        assert_eq!(client.send_batch(Vec::<String>::new()).await, Ok(None));
    }
    assert_eq!(engine.metrics().messages_out, 200);
}
