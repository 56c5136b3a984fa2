//! The port of the Node `engine.io` README's examples (`engineio-tokio/examples/
//! reference_readme.rs`), in each of its three styles (`listen`, `attach` with axum, `handle`
//! with the application's own hyper server): our client opens a session on every transport,
//! gets the README's two greeting messages, and has a message echoed; the application's own
//! route answers beside Engine.IO where there is one.

use std::io::{Read, Write};
use std::time::Duration;

use engineio_tests::ServerProcess;
use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::session::ClientConfig;
use engineio_tokio::{Client, ClientSocketEvent};

async fn next_message(client: &mut Client) -> Message {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), client.recv())
            .await
            .expect("an event in time");
        match event {
            Some(ClientSocketEvent::Message(m)) => return m,
            Some(ClientSocketEvent::Closed { reason, .. }) => panic!("closed: {reason}"),
            Some(_) => {}
            None => panic!("no more events"),
        }
    }
}

fn style(style: &str) {
    let server = ServerProcess::example("engineio-tokio", "reference_readme", &["--style", style]);
    let url = server.url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for transports in [
            vec![Transport::Polling],
            vec![Transport::Websocket],
            vec![Transport::Polling, Transport::Websocket],
        ] {
            let mut config = ClientConfig::new(url.parse().unwrap());
            config.transports = transports.clone();
            let mut client = Client::connect(config).await.expect("handshake");
            assert_eq!(
                next_message(&mut client).await,
                Message::from("utf 8 string")
            );
            assert_eq!(
                next_message(&mut client).await,
                Message::Binary(bytes::Bytes::from_static(&[0, 1, 2, 3, 4, 5]))
            );
            client.send("echo me").await.expect("send");
            assert_eq!(
                next_message(&mut client).await,
                Message::from("echo me"),
                "{style} {transports:?}"
            );
            client.close().await;
        }
    });
    if style != "listen" {
        // The application's own page, beside Engine.IO.
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.ends_with("the application's page"), "{r}");
    }
}

#[test]
fn listen() {
    style("listen");
}

#[test]
fn attach() {
    style("attach");
}

#[test]
fn handle() {
    style("handle");
}
