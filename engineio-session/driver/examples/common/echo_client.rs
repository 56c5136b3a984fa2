//! The echo client, shared by the `echo-client` examples of engineio-tokio and engineio-smol
//! (included with `#[path]`): sends N text and binary messages of random sizes to an echo
//! server, checks each echo byte-exact and in order, prints `N passed, M failed`.
//!
//! echo-client --url http://127.0.0.1:3000/engine.io/ --transport polling|websocket|upgrade
//!     --eio 4|3 --count N [--max-size UNITS]
//!
//! `--max-size` caps the size of a message (characters of text, or three bytes of binary per
//! unit; default 20000).

use std::time::Duration;

use bytes::Bytes;
use engineio_driver::proto::{Message, ProtocolVersion, Transport};
use engineio_driver::session::ClientConfig;
use engineio_driver::{Client, ClientSocketEvent, Runtime};
use futures_util::future::{select, Either};

fn usage() -> ! {
    eprintln!(
        "usage: echo-client --url URL --transport polling|websocket|upgrade --eio 4|3 --count N \
         [--max-size UNITS]"
    );
    std::process::exit(2)
}

/// A small deterministic generator (xorshift), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn message(rng: &mut Rng, i: usize, max: u64) -> Message {
    const PIECES: [&str; 6] = ["a", "é", "€", "😀", " ", "\u{10FFFF}"];
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => rng.below(64),
        7 | 8 => rng.below(2048),
        _ => rng.below(20_000),
    }
    .min(max) as usize;
    if i % 2 == 0 {
        let mut s = String::with_capacity(len);
        for _ in 0..len {
            s.push_str(PIECES[rng.below(PIECES.len() as u64) as usize]);
        }
        Message::from(s)
    } else {
        let bytes: Vec<u8> = (0..len * 3).map(|_| rng.next() as u8).collect();
        Message::Binary(Bytes::from(bytes))
    }
}

/// Parses the command line, runs the exchange on `rt`, prints the result and exits.
pub async fn run<R: Runtime>(rt: R) -> ! {
    let mut url = String::from("http://127.0.0.1:3000/engine.io/");
    let mut transport = String::from("upgrade");
    let mut eio = ProtocolVersion::V4;
    let mut count = 100usize;
    let mut max_size = 20_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => url = value(),
            "--transport" => transport = value(),
            "--eio" => {
                eio = match value().as_str() {
                    "4" => ProtocolVersion::V4,
                    "3" => ProtocolVersion::V3,
                    _ => usage(),
                }
            }
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--max-size" => max_size = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let uri: http::Uri = url.parse().unwrap_or_else(|_| usage());
    let mut config = ClientConfig::new(uri.clone());
    if !matches!(uri.path(), "" | "/") {
        config.path = uri.path().to_owned();
    }
    config.version = eio;
    match transport.as_str() {
        "polling" => {
            config.transports = vec![Transport::Polling];
            config.upgrade = false;
        }
        "websocket" => config.transports = vec![Transport::Websocket],
        "upgrade" => {}
        _ => usage(),
    }
    let mut client = match Client::connect_on(rt.clone(), config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("connect failed: {e}");
            println!("0 passed, {count} failed");
            std::process::exit(1);
        }
    };
    let mut rng = Rng(0x2545F4914F6CDD1D);
    let sent: Vec<Message> = (0..count).map(|i| message(&mut rng, i, max_size)).collect();
    let handle = client.sender();
    let sender = async {
        for m in &sent {
            if handle.send(m.clone()).await.is_err() {
                break;
            }
        }
    };
    let mut passed = 0;
    let mut failed = 0;
    let mut upgraded = false;
    let receive = async {
        let mut next = 0;
        while next < count {
            let deadline = std::pin::pin!(rt.sleep_until(rt.now() + Duration::from_secs(30)));
            let event = match select(std::pin::pin!(client.recv()), deadline).await {
                Either::Left((event, _)) => event,
                Either::Right(_) => None,
            };
            match event {
                Some(ClientSocketEvent::Message(m)) => {
                    if m == sent[next] {
                        passed += 1;
                    } else {
                        failed += 1;
                        eprintln!(
                            "message {next}: got {} bytes, expected {}",
                            m.len(),
                            sent[next].len()
                        );
                    }
                    next += 1;
                }
                Some(ClientSocketEvent::Upgraded(_)) => upgraded = true,
                Some(ClientSocketEvent::Closed { reason, .. }) => {
                    eprintln!("closed: {reason}");
                    break;
                }
                Some(_) => {}
                None => {
                    eprintln!("no answer for message {next}");
                    break;
                }
            }
        }
    };
    // Sending and receiving run together: the server echoes while we still send.
    futures_util::future::join(sender, receive).await;
    failed += count - passed - failed;
    if transport == "upgrade" && !upgraded {
        eprintln!("note: the connection did not upgrade");
    }
    client.close().await;
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
