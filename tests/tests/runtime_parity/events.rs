//! Every socket event of the reference reaches the application, on both roles, in the order
//! the machine emitted it: upgrading, upgrade, upgrade aborted, heartbeat, flush, packet in
//! and out (opt-in), close last.

use std::net::SocketAddr;
use std::time::Duration;

use engineio_driver::proto::{Message, Packet, ProtocolVersion, Transport};
use engineio_driver::session::ClientConfig;
use engineio_driver::session::SendId;
use engineio_driver::{
    Client, ClientSocketEvent, CloseReason, EngineIo, ReadyState, ServerConfig, Socket, SocketEvent,
};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{serve, timeout, TestRuntime};
use crate::loopback::client_config;

const WAIT: Duration = Duration::from_secs(10);

fn config() -> ServerConfig {
    ServerConfig {
        ping_interval: Duration::from_millis(150),
        ping_timeout: Duration::from_millis(2000),
        packet_events: true,
        ..ServerConfig::default()
    }
}

/// The server's events until `until` matches one (included).
async fn server_events<R: TestRuntime>(
    socket: &mut Socket,
    until: impl Fn(&SocketEvent) -> bool,
) -> Vec<SocketEvent> {
    let mut seen = Vec::new();
    loop {
        let e = timeout::<R, _>(WAIT, socket.recv())
            .await
            .flatten()
            .unwrap_or_else(|| panic!("server: no event after {seen:?}"));
        let done = until(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// The client's events until `until` matches one (included).
async fn client_events<R: TestRuntime>(
    client: &mut Client<R>,
    until: impl Fn(&ClientSocketEvent) -> bool,
) -> Vec<ClientSocketEvent> {
    let mut seen = Vec::new();
    loop {
        let e = timeout::<R, _>(WAIT, client.recv())
            .await
            .flatten()
            .unwrap_or_else(|| panic!("client: no event after {seen:?}"));
        let done = until(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn position<T>(events: &[T], what: impl Fn(&T) -> bool) -> Option<usize> {
    events.iter().position(what)
}

pub async fn every_socket_event_reaches_the_application<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::builder(config()).flush_events(true).build();
    let url = format!("http://{}", serve(engine.clone()).await);
    let config = ClientConfig {
        packet_events: true,
        flush_events: true,
        ..client_config(&url, "upgrade", ProtocolVersion::V4)
    };
    let mut client = Client::<R>::connect(config).await.expect("handshake");
    assert_eq!(client.ready_state(), ReadyState::Open);
    let mut socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");

    // The upgrade: `upgrading` before `upgrade` (with the transport), on both sides.
    let seen = server_events::<R>(&mut socket, |e| matches!(e, SocketEvent::Upgraded(_))).await;
    let upgrading = position(&seen, |e| *e == SocketEvent::Upgrading);
    assert!(upgrading.is_some(), "server: no Upgrading in {seen:?}");
    assert_eq!(
        seen.last(),
        Some(&SocketEvent::Upgraded(Transport::Websocket))
    );
    let seen =
        client_events::<R>(&mut client, |e| matches!(e, ClientSocketEvent::Upgraded(_))).await;
    assert!(
        position(&seen, |e| *e == ClientSocketEvent::Upgrading).is_some(),
        "client: no Upgrading in {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&ClientSocketEvent::Upgraded(Transport::Websocket))
    );
    assert_eq!(client.transport(), Transport::Websocket);

    // Heartbeats, every 150 ms, on both sides.
    let seen = server_events::<R>(&mut socket, |e| *e == SocketEvent::Heartbeat).await;
    assert!(seen.len() < 50, "server: {seen:?}");
    let seen = client_events::<R>(&mut client, |e| *e == ClientSocketEvent::Heartbeat).await;
    assert!(seen.len() < 50, "client: {seen:?}");

    // A message in: its packet, then the message. On the client: its packet, then its flush.
    let sent = client.send("hello").await.expect("send");
    let seen = client_events::<R>(&mut client, |e| *e == ClientSocketEvent::Flushed(sent)).await;
    assert!(
        position(&seen, |e| {
            *e == ClientSocketEvent::PacketOut(Packet::Message(Message::from("hello")))
        })
        .is_some(),
        "client: no PacketOut before the flush: {seen:?}"
    );
    let seen = server_events::<R>(&mut socket, |e| matches!(e, SocketEvent::Message(_))).await;
    let packet = position(&seen, |e| {
        *e == SocketEvent::PacketIn(Packet::Message(Message::from("hello")))
    });
    assert_eq!(
        packet.map(|p| p + 1),
        Some(seen.len() - 1),
        "the packet right before its message: {seen:?}"
    );

    // A message out: its packet, then its flush, with its id.
    let id = socket.send("back").await.expect("send");
    let seen = server_events::<R>(&mut socket, |e| *e == SocketEvent::Flushed(id)).await;
    assert!(
        position(&seen, |e| {
            *e == SocketEvent::PacketOut(Packet::Message(Message::from("back")))
        })
        .is_some(),
        "no PacketOut before the flush: {seen:?}"
    );
    let seen =
        client_events::<R>(&mut client, |e| matches!(e, ClientSocketEvent::Message(_))).await;
    assert_eq!(
        seen[seen.len().saturating_sub(2)..],
        [
            ClientSocketEvent::PacketIn(Packet::Message(Message::from("back"))),
            ClientSocketEvent::Message("back".into())
        ],
        "the client's packet right before its message"
    );

    // The close: last, on both sides.
    socket.close().await;
    let seen = server_events::<R>(&mut socket, |e| matches!(e, SocketEvent::Closed(_))).await;
    assert_eq!(
        seen.last(),
        Some(&SocketEvent::Closed(CloseReason::ForcedClose))
    );
    assert_eq!(timeout::<R, _>(WAIT, socket.recv()).await, Some(None));
    let seen = client_events::<R>(&mut client, |e| {
        matches!(e, ClientSocketEvent::Closed { .. })
    })
    .await;
    assert!(
        matches!(
            seen.last(),
            Some(ClientSocketEvent::Closed { local: false, .. })
        ),
        "{seen:?}"
    );
    assert_eq!(client.ready_state(), ReadyState::Closed);
}

/// Sends `target` as a GET on a new connection and returns the response's body.
async fn get<R: TestRuntime>(addr: SocketAddr, target: &str) -> String {
    crate::harness::raw_get::<R>(addr, target, "").await.1
}

pub async fn an_abandoned_probe_is_reported_as_upgrade_aborted<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::new(config());
    let addr = serve(engine.clone()).await;
    let open = get::<R>(addr, "/engine.io/?EIO=4&transport=polling").await;
    let sid = crate::harness::sid_of(&open);
    let mut socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    // A WebSocket probe by hand: `2probe`, answered `3probe`, then the socket drops.
    let mut ws = R::default()
        .connect("127.0.0.1", addr.port())
        .await
        .unwrap();
    let upgrade = format!(
        "GET /engine.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    ws.write_all(upgrade.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = timeout::<R, _>(WAIT, ws.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"));
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x80 | 6];
    frame.extend_from_slice(&mask);
    frame.extend(b"2probe".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    ws.write_all(&frame).await.unwrap();
    let seen = server_events::<R>(&mut socket, |e| *e == SocketEvent::Upgrading).await;
    assert!(
        !seen.contains(&SocketEvent::Upgraded(Transport::Websocket)),
        "{seen:?}"
    );
    drop(ws);
    let seen = server_events::<R>(&mut socket, |e| {
        *e == SocketEvent::UpgradeAborted("the probe's WebSocket closed")
    })
    .await;
    assert!(
        !seen.contains(&SocketEvent::Upgraded(Transport::Websocket)),
        "{seen:?}"
    );
    // Polling goes on: a message sent now is there for the next GET.
    let id = socket.send("still here").await.expect("send");
    assert_eq!(id, SendId(0));
    let body = get::<R>(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert!(body.contains("4still here"), "{body:?}");
}
