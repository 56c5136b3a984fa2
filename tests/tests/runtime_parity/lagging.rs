//! A slow application: the server stops reading a session's network input while its
//! application has not taken its events, so memory stays bounded and the client slows down;
//! nothing is lost once the application catches up, on WebSocket and on polling.

use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion};
use engineio_driver::{Client, EngineIo, ServerConfig, SocketEvent};

use crate::harness::{serve, timeout, TestRuntime};
use crate::loopback::client_config;

/// Events a session may hold for its application before it stops reading its client: the
/// driver's queue (256), plus what one read or one payload can deliver at once.
const BOUND: u64 = 256 + 256;

async fn a_lagging_application_bounds_what_is_read<R: TestRuntime>(mode: &str) {
    const N: usize = 3000;
    let (engine, mut connections) = EngineIo::<R>::new(ServerConfig::default());
    let addr = serve(engine.clone()).await;
    let url = format!("http://{addr}");
    let client = Client::<R>::connect(client_config(&url, mode, ProtocolVersion::V4))
        .await
        .expect("handshake");
    let sender = client.sender();
    R::default().spawn(async move {
        for i in 0..N {
            if sender.send(Message::from(format!("m{i}"))).await.is_err() {
                return;
            }
        }
    });
    let mut socket = timeout::<R, _>(Duration::from_secs(5), connections.accept())
        .await
        .flatten()
        .expect("a session");
    // The application takes nothing for a while.
    let rt = R::default();
    rt.sleep_until(rt.now() + Duration::from_millis(700)).await;
    let delivered = engine.metrics().messages_in;
    assert!(
        delivered > 0 && delivered <= BOUND,
        "{mode}: {delivered} messages delivered to an application that took none"
    );
    // Then it takes everything, in order.
    for i in 0..N {
        loop {
            match timeout::<R, _>(Duration::from_secs(10), socket.recv()).await {
                Some(Some(SocketEvent::Message(m))) => {
                    assert_eq!(m, Message::from(format!("m{i}")));
                    break;
                }
                // The upgrade's events come between messages.
                Some(Some(
                    SocketEvent::Upgrading | SocketEvent::Upgraded(_) | SocketEvent::Heartbeat,
                )) => {}
                other => panic!("{mode}: message {i}: {other:?}"),
            }
        }
    }
    assert_eq!(engine.metrics().messages_in, N as u64);
    drop(client);
}

pub async fn a_lagging_application_slows_its_client_down<R: TestRuntime>() {
    a_lagging_application_bounds_what_is_read::<R>("websocket").await;
    a_lagging_application_bounds_what_is_read::<R>("polling").await;
}
