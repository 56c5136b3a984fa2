//! The chat that `sim_chat` simulates, over real sockets on Tokio: the same server logic
//! serves three of our clients (polling, WebSocket, upgrading) in one room.

use std::time::Duration;

use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::{Client, ClientConfig, ClientSocketEvent, EngineIo};

#[path = "../../engineio-session/driver/examples/common/chat.rs"]
mod chat;

#[tokio::test]
async fn three_members_hear_each_other_in_order() {
    let (engine, connections) = EngineIo::new(Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(engineio_tokio::serve(listener, engine));
    let rooms = chat::ChatConfig {
        room_size: 3,
        start_after: Duration::from_secs(30),
    };
    tokio::spawn(chat::serve_chat(engineio_tokio::Tokio, connections, rooms));
    let transports = [
        vec![Transport::Polling],
        vec![Transport::Websocket],
        vec![Transport::Polling, Transport::Websocket],
    ];
    let mut members = Vec::new();
    for (i, t) in transports.into_iter().enumerate() {
        let mut config = ClientConfig::new(url.parse().unwrap());
        config.upgrade = t.len() > 1;
        config.transports = t;
        members.push(tokio::spawn(async move {
            let mut c = Client::connect(config).await.unwrap();
            c.send(format!("join room m{i}")).await.unwrap();
            let mut heard = Vec::new();
            while heard.len() < 6 {
                let Some(event) = c.recv().await else { break };
                let ClientSocketEvent::Message(Message::Text(text)) = event else {
                    continue;
                };
                if text == "start" {
                    for k in 0..2 {
                        c.send(format!("{k}")).await.unwrap();
                    }
                } else if text.contains(": ") {
                    heard.push(text.to_string());
                }
            }
            c.close().await;
            heard
        }));
    }
    for m in members {
        let heard = tokio::time::timeout(Duration::from_secs(20), m)
            .await
            .expect("every member hears all six messages")
            .unwrap();
        // Each sender's two messages, in order, among the six.
        for i in 0..3 {
            let from: Vec<&String> = heard
                .iter()
                .filter(|t| t.starts_with(&format!("m{i}: ")))
                .collect();
            assert_eq!(
                from,
                [&format!("m{i}: 0"), &format!("m{i}: 1")],
                "{heard:?}"
            );
        }
    }
}
