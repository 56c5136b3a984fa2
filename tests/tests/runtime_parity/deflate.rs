//! permessage-deflate (RFC 7692) on both runtimes: our client and server agree on it and
//! carry messages of every size; on the wire (a raw socket), compressed frames go both ways,
//! `compress: false` is honoured, and hostile compressed input (bombs, bad data) ends the
//! WebSocket with the right close code while the server keeps serving.

use std::net::SocketAddr;
use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion};
use engineio_driver::session::DeflateConfig;
use engineio_driver::{
    Client, ClientSocketEvent, EngineIo, SendOptions, ServerConfig, SocketEvent,
};
use flate2::{Compress, Compression, FlushCompress};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{serve, spawn_echo, timeout, TestRuntime};
use crate::loopback::client_config;

const WAIT: Duration = Duration::from_secs(20);

fn deflating(config: DeflateConfig) -> ServerConfig {
    ServerConfig {
        per_message_deflate: Some(config),
        max_payload: 2 << 20,
        ..ServerConfig::default()
    }
}

/// Text that compresses, text that barely does, and binary noise, from 1 byte to 1 MiB.
fn messages() -> Vec<Message> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut out = Vec::new();
    for n in [1usize, 1023, 1024, 5000, 65_536, 1 << 20] {
        out.push(Message::from(
            "engine.io ".repeat(n / 10 + 1)[..n].to_owned(),
        ));
        let letters: String = noise(n).iter().map(|b| (b'a' + b % 26) as char).collect();
        out.push(Message::from(letters));
        out.push(Message::Binary(noise(n).into()));
    }
    out
}

async fn round_trip<R: TestRuntime>(server: DeflateConfig, client: DeflateConfig, mode: &str) {
    let (engine, connections) = EngineIo::<R>::new(deflating(server));
    spawn_echo::<R>(connections);
    let url = format!("http://{}", serve(engine.clone()).await);
    let mut config = client_config(&url, mode, ProtocolVersion::V4);
    config.per_message_deflate = Some(client);
    let mut c = Client::<R>::connect(config).await.expect("handshake");
    if mode == "upgrade" {
        loop {
            match timeout::<R, _>(WAIT, c.recv()).await.flatten() {
                Some(ClientSocketEvent::Upgraded(_)) => break,
                Some(ClientSocketEvent::Closed { reason, .. }) => panic!("closed: {reason:?}"),
                Some(_) => {}
                None => panic!("no upgrade"),
            }
        }
    }
    let sent = messages();
    for m in &sent {
        c.send(m.clone()).await.expect("send");
    }
    for (i, expected) in sent.iter().enumerate() {
        let got = loop {
            match timeout::<R, _>(WAIT, c.recv()).await.flatten() {
                Some(ClientSocketEvent::Message(m)) => break m,
                Some(ClientSocketEvent::Closed { reason, .. }) => {
                    panic!("closed after {i} echoes: {reason:?}")
                }
                Some(_) => {}
                None => panic!("no echo {i}"),
            }
        };
        assert!(
            got == *expected,
            "echo {i} differs ({} bytes)",
            expected.len()
        );
    }
    assert_eq!(engine.metrics().websockets_deflated, 1, "{mode}");
}

pub async fn deflate_round_trips_every_size_with_our_client<R: TestRuntime>() {
    let fresh = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    round_trip::<R>(
        DeflateConfig::default(),
        DeflateConfig::default(),
        "websocket",
    )
    .await;
    round_trip::<R>(
        DeflateConfig::default(),
        DeflateConfig::default(),
        "upgrade",
    )
    .await;
    // No context takeover asked by the server; by the client.
    round_trip::<R>(fresh, DeflateConfig::default(), "websocket").await;
    round_trip::<R>(DeflateConfig::default(), fresh, "upgrade").await;
}

// ---- on the wire ----------------------------------------------------------------------------

/// Raw deflate of `data` as RFC 7692 sends it (sync flush, without the final 00 00 ff ff).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(1024));
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = flate2::Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(data.len() * 4 + 1024);
    loop {
        let consumed = d.total_in() as usize;
        d.decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// A masked client frame with any payload length.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [7u8, 1, 9, 3];
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: its first byte (FIN, RSV1, opcode) and payload.
async fn read_frame<S: futures_util::io::AsyncRead + Unpin>(s: &mut S) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.expect("a frame");
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

/// Opens a WebSocket session offering `offer`; returns the socket and the `101`'s head.
async fn open<R: TestRuntime>(addr: SocketAddr, offer: &str) -> (R::TcpStream, String) {
    let mut s = R::default()
        .connect("127.0.0.1", addr.port())
        .await
        .unwrap();
    let request = format!(
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        timeout::<R, _>(WAIT, s.read_exact(&mut b))
            .await
            .expect("no 101")
            .unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let (first, open) = read_frame(&mut s).await;
    assert_eq!(
        first, 0x81,
        "the open packet, uncompressed (under the threshold)"
    );
    assert!(open.starts_with(b"0{"));
    (s, head)
}

pub async fn deflate_on_the_wire_both_ways<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::new(deflating(DeflateConfig::default()));
    let addr = serve(engine.clone()).await;
    let (mut s, head) = open::<R>(addr, "permessage-deflate; client_max_window_bits").await;
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    let sender = socket.sender();
    let rt = R::default();
    rt.spawn(async move {
        let mut socket = socket;
        while let Some(e) = socket.recv().await {
            if let SocketEvent::Message(m) = e {
                let _ = socket.send(m).await;
            }
        }
    });

    // A small compressed message in; its echo is under the threshold: plain.
    s.write_all(&frame(0xc1, &deflate(b"4hello")))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut s).await, (0x81, b"4hello".to_vec()));
    // A large one: compressed both ways, with context takeover (the same message twice
    // compresses to far less the second time on our side of the wire).
    let big = format!("4{}", "compress me ".repeat(2000));
    for round in 0..2 {
        s.write_all(&frame(0xc1, &deflate(big.as_bytes())))
            .await
            .unwrap();
        let (first, payload) = read_frame(&mut s).await;
        assert_eq!(first, 0xc1, "round {round}: RSV1 set");
        assert!(payload.len() < big.len() / 10, "{} bytes", payload.len());
    }
    // Fragmented compressed message (RSV1 on the first frame only), with a ping in between.
    let data = deflate(big.as_bytes());
    let (a, b) = data.split_at(data.len() / 2);
    s.write_all(&frame(0x41, a)).await.unwrap();
    s.write_all(&frame(0x89, b"p")).await.unwrap();
    s.write_all(&frame(0x80, b)).await.unwrap();
    assert_eq!(read_frame(&mut s).await, (0x8a, b"p".to_vec()), "the pong");
    let (first, payload) = read_frame(&mut s).await;
    assert_eq!(first, 0xc1);
    // Context takeover: this side's inflater would need the history; check the size only.
    assert!(payload.len() < big.len() / 10);

    // `compress: false` goes plain whatever its size; the next one is compressed again.
    let plain = "x".repeat(5000);
    sender
        .send_with(plain.as_str(), SendOptions::compress(false))
        .await
        .unwrap();
    let (first, payload) = read_frame(&mut s).await;
    assert_eq!(first, 0x81);
    assert_eq!(payload, format!("4{plain}").into_bytes());
    sender.send(plain.as_str()).await.unwrap();
    assert_eq!(read_frame(&mut s).await.0, 0xc1);
    assert_eq!(engine.metrics().websockets_deflated, 1);
}

pub async fn deflate_first_message_inflates_on_a_fresh_context<R: TestRuntime>() {
    // With no context takeover on the server, every compressed message it sends inflates
    // on its own: check the bytes.
    let config = DeflateConfig {
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (engine, connections) = EngineIo::<R>::new(deflating(config));
    spawn_echo::<R>(connections);
    let addr = serve(engine).await;
    let (mut s, head) = open::<R>(addr, "permessage-deflate").await;
    assert!(
        head.contains("permessage-deflate; server_no_context_takeover"),
        "{head}"
    );
    let big = format!("4{}", "abcdefgh".repeat(1000));
    for _ in 0..3 {
        s.write_all(&frame(0xc1, &deflate(big.as_bytes())))
            .await
            .unwrap();
        let (first, payload) = read_frame(&mut s).await;
        assert_eq!(first, 0xc1);
        assert_eq!(inflate(&payload), big.as_bytes());
    }
}

/// The close code of the close frame the server sent, skipping other frames.
async fn close_code<S: futures_util::io::AsyncRead + Unpin>(s: &mut S) -> u16 {
    loop {
        let (first, payload) = read_frame(s).await;
        if first & 0x0f == 0x8 {
            assert!(payload.len() >= 2, "a close code");
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

pub async fn deflate_bombs_and_bad_data_close_the_websocket<R: TestRuntime>() {
    let config = ServerConfig {
        max_payload: 100_000,
        ..deflating(DeflateConfig::default())
    };
    let (engine, connections) = EngineIo::<R>::new(config);
    spawn_echo::<R>(connections);
    let addr = serve(engine.clone()).await;

    // 50 MB of zeros in about 50 KB: over max_payload once inflated, 1009.
    let bomb = deflate(&vec![b'4'; 50_000_000]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let (mut s, _) = open::<R>(addr, "permessage-deflate").await;
    s.write_all(&frame(0xc1, &bomb)).await.unwrap();
    assert_eq!(timeout::<R, _>(WAIT, close_code(&mut s)).await, Some(1009));

    // Data that does not inflate: 1007.
    let (mut s, _) = open::<R>(addr, "permessage-deflate").await;
    s.write_all(&frame(0xc1, &[0xff, 0xff, 0xff, 0x00, 0x12]))
        .await
        .unwrap();
    assert_eq!(timeout::<R, _>(WAIT, close_code(&mut s)).await, Some(1007));

    // RSV1 on a continuation frame, or on a control frame: the connection fails.
    for bytes in [
        [frame(0x41, &deflate(b"4ab")[..1]), frame(0xc0, b"x")].concat(),
        frame(0xc9, b""),
    ] {
        let (mut s, _) = open::<R>(addr, "permessage-deflate").await;
        s.write_all(&bytes).await.unwrap();
        let mut rest = Vec::new();
        let _ = timeout::<R, _>(WAIT, s.read_to_end(&mut rest)).await;
    }

    // The server still serves, with deflate.
    let (mut s, _) = open::<R>(addr, "permessage-deflate").await;
    s.write_all(&frame(0xc1, &deflate(b"4still here")))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut s).await, (0x81, b"4still here".to_vec()));
    assert_eq!(engine.metrics().sessions_open, 1);
}

pub async fn deflate_is_declined_when_off_or_unhonourable<R: TestRuntime>() {
    // Off (the default, as the reference): no extension, and RSV1 fails the connection.
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    spawn_echo::<R>(connections);
    let addr = serve(engine.clone()).await;
    let (_s, head) = open::<R>(addr, "permessage-deflate").await;
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    // A window the server cannot honour (2^8: zlib cannot deflate with it): declined, the
    // WebSocket runs plain.
    let (engine, connections) = EngineIo::<R>::new(deflating(DeflateConfig::default()));
    spawn_echo::<R>(connections);
    let addr = serve(engine.clone()).await;
    let (mut s, head) = open::<R>(addr, "permessage-deflate; server_max_window_bits=8").await;
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    let big = format!("4{}", "y".repeat(5000));
    s.write_all(&frame(0x81, big.as_bytes())).await.unwrap();
    assert_eq!(read_frame(&mut s).await, (0x81, big.into_bytes()));
    assert_eq!(engine.metrics().websockets_deflated, 0);
}

// ---- against the reference's peers ----------------------------------------------------------

/// Echoes of `messages()` through `client`, compared in order.
async fn check_echoes<R: TestRuntime>(c: &mut Client<R>) {
    let sent = messages();
    for m in &sent {
        c.send(m.clone()).await.expect("send");
    }
    for (i, expected) in sent.iter().enumerate() {
        let got = next_message(c).await;
        assert!(
            got == *expected,
            "echo {i} differs ({} bytes)",
            expected.len()
        );
    }
}

async fn next_message<R: TestRuntime>(c: &mut Client<R>) -> Message {
    loop {
        match timeout::<R, _>(WAIT, c.recv()).await.flatten() {
            Some(ClientSocketEvent::Message(m)) => return m,
            Some(ClientSocketEvent::Closed { reason, .. }) => panic!("closed: {reason:?}"),
            Some(_) => {}
            None => panic!("no message"),
        }
    }
}

/// Our client against the reference server `engine.io` with `perMessageDeflate: true`: the
/// reference's `ws` agrees, and 1 B to 1 MiB messages round-trip compressed.
pub async fn deflate_with_the_reference_server<R: TestRuntime>() {
    let server = engineio_tests::ServerProcess::node_engineio(&[
        "--per-message-deflate",
        "1",
        "--max-payload",
        "3000000",
    ]);
    for mode in ["websocket", "upgrade"] {
        let mut config = client_config(&server.url(), mode, ProtocolVersion::V4);
        config.per_message_deflate = Some(DeflateConfig::default());
        let mut c = Client::<R>::connect(config).await.expect("handshake");
        if mode == "upgrade" {
            loop {
                match timeout::<R, _>(WAIT, c.recv()).await.flatten() {
                    Some(ClientSocketEvent::Upgraded(_)) => break,
                    Some(ClientSocketEvent::Closed { reason, .. }) => panic!("{reason:?}"),
                    Some(_) => {}
                    None => panic!("no upgrade"),
                }
            }
        }
        c.send("__extensions").await.unwrap();
        assert_eq!(
            next_message(&mut c).await,
            Message::from("permessage-deflate"),
            "{mode}: the reference server's WebSocket agreed"
        );
        check_echoes(&mut c).await;
    }
}

/// Our client (which offers permessage-deflate by default, as the reference client) against
/// the `python-engineio` server on aiohttp, which agrees to it: 1 B to 1 MiB round-trip.
pub async fn deflate_with_python_engineio<R: TestRuntime>() {
    let server = engineio_tests::ServerProcess::python_engineio(&["--max-payload", "3000000"]);
    let config = client_config(&server.url(), "websocket", ProtocolVersion::V4);
    assert!(config.per_message_deflate.is_some(), "offered by default");
    let mut c = Client::<R>::connect(config).await.expect("handshake");
    check_echoes(&mut c).await;
}

/// The reference client (`engine.io-client` 6 on `ws`, which offers permessage-deflate) against
/// our server with it on: agreed on the client's side, and messages round-trip.
pub async fn deflate_with_the_reference_client<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(deflating(DeflateConfig::default()));
    spawn_echo::<R>(connections);
    let url = format!("http://{}", serve(engine.clone()).await);
    // The peer is driven over blocking pipes: on a thread of its own.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(move || {
            use engineio_tests::{ClientPeer, Msg};
            use serde_json::json;
            let mut out = Vec::new();
            for transports in [json!(["websocket"]), json!(["polling", "websocket"])] {
                let mut peer = ClientPeer::node("6");
                peer.connect(&url, json!({ "transports": transports }));
                if transports.as_array().map(Vec::len) == Some(2) {
                    peer.wait_upgrade();
                }
                let ext = peer.request(json!({ "op": "extensions" }));
                out.push(ext["extensions"].as_str().unwrap_or_default().to_owned());
                let sent: Vec<Msg> = [1usize, 1023, 1024, 5000, 65_536, 1 << 20]
                    .iter()
                    .map(|&n| Msg::Text("engine.io ".repeat(n / 10 + 1)[..n].to_owned()))
                    .collect();
                let answer = peer.echo(&sent);
                let received = answer["received"].as_array().cloned().unwrap_or_default();
                assert_eq!(received.len(), sent.len());
                for (m, r) in sent.iter().zip(&received) {
                    assert_eq!(&m.to_json()["t"], &r["t"], "an echo differs");
                }
                peer.close();
            }
            out
        });
        let _ = tx.send(result);
    });
    let result = timeout::<R, _>(Duration::from_secs(120), rx)
        .await
        .expect("the reference client finished")
        .expect("its thread");
    let extensions = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_eq!(extensions, ["permessage-deflate", "permessage-deflate"]);
    assert_eq!(engine.metrics().websockets_deflated, 2);
}

/// Our client honours `compress: false` on the wire: against a hand-written server (a thread
/// with a blocking socket) that agrees to permessage-deflate, a large message sent with it
/// arrives plain, the same message sent normally arrives compressed.
pub async fn deflate_our_client_honours_compress_false<R: TestRuntime>() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let big = "compress me? ".repeat(400);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let lower = head.to_ascii_lowercase();
        let offered = lower.contains("sec-websocket-extensions: permessage-deflate");
        let key = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("sec-websocket-key:")
                    .then(|| l.split_once(':').unwrap().1.trim().to_owned())
            })
            .unwrap();
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        write!(
            s,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        )
        .unwrap();
        let open = br#"0{"sid":"abcdefghijklmnopqrst","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let mut f = vec![0x81, 126];
        f.extend_from_slice(&(open.len() as u16).to_be_bytes());
        f.extend_from_slice(open);
        s.write_all(&f).unwrap();
        // Two client frames (masked): their first byte and unmasked payload.
        let mut frames = Vec::new();
        for _ in 0..2 {
            let mut h = [0u8; 2];
            s.read_exact(&mut h).unwrap();
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    s.read_exact(&mut b).unwrap();
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    s.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut mask = [0u8; 4];
            s.read_exact(&mut mask).unwrap();
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).unwrap();
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
            frames.push((h[0], payload));
        }
        let _ = tx.send((offered, frames));
    });
    let mut config = client_config(&format!("http://{addr}"), "websocket", ProtocolVersion::V4);
    config.per_message_deflate = Some(DeflateConfig::default());
    let c = Client::<R>::connect(config).await.expect("handshake");
    c.send_with(big.as_str(), SendOptions::compress(false))
        .await
        .unwrap();
    c.send(big.as_str()).await.unwrap();
    let (offered, frames) = timeout::<R, _>(WAIT, rx)
        .await
        .expect("the server's frames")
        .expect("its thread");
    assert!(offered, "our client offered permessage-deflate");
    assert_eq!(frames[0].0, 0x81, "compress: false goes plain");
    assert_eq!(frames[0].1, format!("4{big}").into_bytes());
    assert_eq!(frames[1].0, 0xc1, "the default is compressed");
    assert_eq!(inflate(&frames[1].1), format!("4{big}").into_bytes());
}

/// A client asking for a 1 KiB window (`server_max_window_bits=10`) gets it: the answer says
/// so, and what the server compresses inflates with a 1 KiB window (a decoder that reads 64
/// bytes at a time, so it cannot reach back into its output).
pub async fn deflate_honours_a_smaller_server_window<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(deflating(DeflateConfig::default()));
    spawn_echo::<R>(connections);
    let addr = serve(engine).await;
    let offer = "permessage-deflate; server_max_window_bits=10; server_no_context_takeover";
    let (mut s, head) = open::<R>(addr, offer).await;
    assert!(
        head.contains("permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
        "{head}"
    );
    // Text whose repeats are 4 KiB apart: a 32 KiB window would refer back to them.
    let block: String = (0..4096u32)
        .map(|i| (b'a' + ((i.wrapping_mul(2_654_435_761) >> 13) % 26) as u8) as char)
        .collect();
    let text = format!("4{block}{block}{block}");
    s.write_all(&frame(0xc1, &deflate(text.as_bytes())))
        .await
        .unwrap();
    let (first, payload) = read_frame(&mut s).await;
    assert_eq!(first, 0xc1);
    let mut d = flate2::Decompress::new_with_window_bits(false, 10);
    let mut input = payload;
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    while (d.total_in() as usize) < input.len() {
        let mut chunk = [0u8; 64];
        let (i0, o0) = (d.total_in(), d.total_out());
        d.decompress(
            &input[i0 as usize..],
            &mut chunk,
            flate2::FlushDecompress::Sync,
        )
        .expect("inflates with a 1 KiB window");
        let wrote = (d.total_out() - o0) as usize;
        out.extend_from_slice(&chunk[..wrote]);
        if wrote == 0 && d.total_in() == i0 {
            break;
        }
    }
    assert_eq!(out, text.as_bytes());
}
