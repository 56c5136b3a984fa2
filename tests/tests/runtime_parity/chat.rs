//! The chat that engineio-driver's `sim_chat` example simulates, over real sockets: the same
//! server logic (`examples/common/chat.rs`, generic over the runtime) serves three of our
//! clients (polling, WebSocket, upgrading) in one room.

use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion};
use engineio_driver::{Client, ClientSocketEvent, EngineIo, ServerConfig};

use crate::harness::{serve, timeout, TestRuntime};
use crate::loopback::client_config;

#[path = "../../../engineio-session/driver/examples/common/chat.rs"]
mod app;

pub(crate) async fn chat_members_hear_each_other_in_order<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    let url = format!("http://{}", serve(engine).await);
    let rooms = app::ChatConfig {
        room_size: 3,
        start_after: Duration::from_secs(30),
    };
    R::default().spawn(app::serve_chat(R::default(), connections, rooms));
    let (tx, mut heard) = tokio::sync::mpsc::channel(3);
    for (i, mode) in ["polling", "websocket", "upgrade"].into_iter().enumerate() {
        let config = client_config(&url, mode, ProtocolVersion::V4);
        let tx = tx.clone();
        R::default().spawn(async move {
            let mut c = Client::<R>::connect(config).await.unwrap();
            c.send(format!("join room m{i}")).await.unwrap();
            let mut got = Vec::new();
            while got.len() < 6 {
                let Some(event) = c.recv().await else { break };
                let ClientSocketEvent::Message(Message::Text(text)) = event else {
                    continue;
                };
                if text == "start" {
                    for k in 0..2 {
                        c.send(k.to_string()).await.unwrap();
                    }
                } else if text.contains(": ") {
                    got.push(text.to_string());
                }
            }
            c.close().await;
            let _ = tx.send(got).await;
        });
    }
    for _ in 0..3 {
        let got = timeout::<R, _>(Duration::from_secs(20), heard.recv())
            .await
            .flatten()
            .expect("every member hears the six messages");
        // Each sender's two messages, once each and in order, among the six.
        for i in 0..3 {
            let from: Vec<&String> = (got.iter())
                .filter(|t| t.starts_with(&format!("m{i}: ")))
                .collect();
            assert_eq!(from, [&format!("m{i}: 0"), &format!("m{i}: 1")], "{got:?}");
        }
    }
}
