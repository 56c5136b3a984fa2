//! Hostile input over raw sockets: the WebSocket layer refuses it, the session closes
//! cleanly, the server keeps serving.

use std::net::SocketAddr;
use std::time::Duration;

use engineio_driver::session::{ClientConfig, CookieConfig};
use engineio_driver::{Client, CloseReason, EngineIo, ServerConfig, SocketEvent};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::harness::{serve, timeout, TestRuntime};

/// A server whose sessions report how they closed.
async fn server<R: TestRuntime>(
    config: ServerConfig,
) -> (EngineIo<R>, SocketAddr, mpsc::Receiver<CloseReason>) {
    let (engine, mut connections) = EngineIo::<R>::new(config);
    let addr = serve(engine.clone()).await;
    let (tx, rx) = mpsc::channel(16);
    let rt = R::default();
    let spawner = rt.clone();
    rt.spawn(async move {
        while let Some(mut s) = connections.accept().await {
            let tx = tx.clone();
            spawner.spawn(async move {
                while let Some(e) = s.recv().await {
                    if let SocketEvent::Closed(r) = e {
                        let _ = tx.send(r).await;
                    }
                }
            });
        }
    });
    (engine, addr, rx)
}

async fn connect<R: TestRuntime>(addr: SocketAddr) -> R::TcpStream {
    R::default()
        .connect("127.0.0.1", addr.port())
        .await
        .unwrap()
}

/// Opens a WebSocket session by hand and reads the 101 and the open packet.
async fn raw_websocket<R: TestRuntime>(addr: SocketAddr) -> R::TcpStream {
    let mut s = connect::<R>(addr).await;
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout::<R, _>(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("no 101")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    s
}

/// A masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![first, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

async fn expect_close<R: TestRuntime>(rx: &mut mpsc::Receiver<CloseReason>) -> CloseReason {
    timeout::<R, _>(Duration::from_secs(5), rx.recv())
        .await
        .expect("session not closed")
        .unwrap()
}

pub async fn hostile_frames_close_the_session_cleanly<R: TestRuntime>() {
    let (engine, addr, mut closes) = server::<R>(ServerConfig::default()).await;
    let cases: [(&str, Vec<u8>); 4] = [
        ("reserved bits", frame(0x80 | 0x40 | 0x1, b"4hi")),
        ("invalid UTF-8 text", frame(0x81, b"4\xff\xfe")),
        ("fragmented control frame", frame(0x09, b"")),
        ("unknown opcode", frame(0x83, b"4hi")),
    ];
    for (name, bytes) in cases {
        let mut s = raw_websocket::<R>(addr).await;
        s.write_all(&bytes).await.unwrap();
        let reason = expect_close::<R>(&mut closes).await;
        assert_eq!(reason, CloseReason::TransportClose, "{name}");
    }
    // A close frame in the middle, and a reset connection, are clean closes too.
    let mut s = raw_websocket::<R>(addr).await;
    s.write_all(&frame(0x88, &[0x03, 0xe8])).await.unwrap();
    assert_eq!(
        expect_close::<R>(&mut closes).await,
        CloseReason::TransportClose
    );
    let s = raw_websocket::<R>(addr).await;
    drop(s);
    assert_eq!(
        expect_close::<R>(&mut closes).await,
        CloseReason::TransportClose
    );
    // An oversize message is refused by the WebSocket layer (max_payload, not 64 MiB).
    let small = ServerConfig {
        max_payload: 100,
        ..ServerConfig::default()
    };
    let (_engine2, addr2, mut closes2) = server::<R>(small).await;
    let mut s = raw_websocket::<R>(addr2).await;
    let mut big = vec![0x81u8, 0x80 | 126, 0, 200, 1, 2, 3, 4];
    big.extend(std::iter::repeat_n(b'4' ^ 1, 200));
    s.write_all(&big).await.unwrap();
    assert_eq!(
        expect_close::<R>(&mut closes2).await,
        CloseReason::TransportClose
    );
    // The server still serves. (The client is kept until the count is read: dropping it
    // closes its session, a seventh `transport close` that could land before the read.)
    let url = format!("http://{addr}").parse().unwrap();
    let client = Client::<R>::connect(ClientConfig::new(url)).await;
    assert!(client.is_ok());
    assert_eq!(engine.metrics().closes[0], 6);
    drop(client);
}

pub async fn upgrade_refused_before_101_and_reset_mid_request<R: TestRuntime>() {
    let (_engine, addr, _closes) = server::<R>(ServerConfig::default()).await;
    // An upgrade for an unknown sid gets its error status, never a 101.
    let mut s = connect::<R>(addr).await;
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=websocket&sid=nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let r = String::from_utf8_lossy(&buf[..n]);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(
        r.contains(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{r}"
    );
    // A request cut off mid-body: no panic, and the server goes on.
    let mut s = connect::<R>(addr).await;
    s.write_all(b"POST /engine.io/?EIO=4&transport=polling&sid=nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4ab")
        .await
        .unwrap();
    drop(s);
    let url = format!("http://{addr}").parse().unwrap();
    assert!(Client::<R>::connect(ClientConfig::new(url)).await.is_ok());
}

pub async fn sticky_cookie_over_a_real_socket<R: TestRuntime>() {
    let config = ServerConfig {
        cookie: Some(CookieConfig::default()),
        ..ServerConfig::default()
    };
    let (_engine, addr, _closes) = server::<R>(config).await;
    let mut s = connect::<R>(addr).await;
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).await.unwrap();
    let sid = crate::harness::sid_of(&r);
    assert!(
        r.to_ascii_lowercase().contains(&format!(
            "set-cookie: io={}; path=/; httponly; samesite=lax",
            sid.to_ascii_lowercase()
        )),
        "{r}"
    );
    // Our client connects to a server that sets it (that its jar sends the cookie back is
    // tested on the machine: `cookies_are_kept_and_sent_back` in engineio-session).
    let url = format!("http://{addr}").parse().unwrap();
    let client = Client::<R>::connect(ClientConfig::new(url)).await.unwrap();
    assert!(!client.sid().is_empty());
}
