//! Slow and stuck peers over real sockets: a client that never reads, a WebSocket that stops
//! reading in the middle of a frame, a polling GET never collected, a POST body that stalls,
//! thousands of abandoned handshakes. Each is bounded (the send buffer holds, `send().await`
//! waits, `try_send` answers `Full`) and ended by the heartbeat; the server serves others
//! throughout and its session count returns to zero.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engineio_driver::proto::Message;
use engineio_driver::{CloseReason, EngineIo, SendError, ServerConfig, SocketEvent};
use tokio::sync::mpsc;

use crate::advisories::{
    blocking, connect, raw_websocket, read_response, read_to_close, sessions_open, still_serves,
};
use crate::harness::{serve, sid_of, timeout, TestRuntime};

/// What a flooding session saw: how it closed, how many messages its application got into
/// the send buffer, and whether `try_send` answered `Full`.
#[derive(Debug)]
struct Outcome {
    reason: CloseReason,
    sent: u64,
    full: bool,
}

/// How the application floods each session.
#[derive(Clone, Copy)]
enum Flood {
    /// `send().await` in a loop on a sender of its own, until the session closes.
    Send,
    /// `try_send` until it answers `Full`, then nothing more.
    TrySend,
}

/// A short heartbeat: a dead peer is noticed within 600 ms.
fn short_heartbeat() -> ServerConfig {
    ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    }
}

/// A server whose application sends `message` to every session as fast as `flood` lets it,
/// and reports each session's [`Outcome`].
async fn flood_server<R: TestRuntime>(
    config: ServerConfig,
    message: Message,
    flood: Flood,
) -> (EngineIo<R>, SocketAddr, mpsc::Receiver<Outcome>) {
    let (engine, mut connections) = EngineIo::<R>::new(config);
    let addr = serve(engine.clone()).await;
    let (tx, rx) = mpsc::channel(16);
    let rt = R::default();
    let spawner = rt.clone();
    rt.spawn(async move {
        while let Some(mut socket) = connections.accept().await {
            let tx = tx.clone();
            let message = message.clone();
            let sent = Arc::new(AtomicU64::new(0));
            let mut full = false;
            match flood {
                Flood::Send => {
                    let sender = socket.sender();
                    let sent = Arc::clone(&sent);
                    let message = message.clone();
                    spawner.spawn(async move {
                        while sender.send(message.clone()).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
                Flood::TrySend => loop {
                    match socket.try_send(message.clone()) {
                        Ok(_) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(SendError::Full) => {
                            full = true;
                            break;
                        }
                        Err(e) => panic!("try_send: {e}"),
                    }
                },
            }
            spawner.spawn(async move {
                while let Some(event) = socket.recv().await {
                    if let SocketEvent::Closed(reason) = event {
                        let sent = sent.load(Ordering::Relaxed);
                        let _ = tx.send(Outcome { reason, sent, full }).await;
                    }
                }
            });
        }
    });
    (engine, addr, rx)
}

async fn outcome<R: TestRuntime>(rx: &mut mpsc::Receiver<Outcome>) -> Outcome {
    timeout::<R, _>(Duration::from_secs(10), rx.recv())
        .await
        .flatten()
        .expect("the session closed within 10 s")
}

/// A WebSocket client that never reads (and never answers a ping), while the application
/// sends 1 MiB messages with `send().await`: the server's writes block in the middle of a
/// frame, the send buffer holds at its bound (4 MiB), the application's `send` waits, and the
/// heartbeat ends the session (ping timeout) although nothing can be written. The blocked
/// connection is dropped with it.
pub async fn a_websocket_peer_that_never_reads_is_ended_by_the_heartbeat<R: TestRuntime>() {
    let mib = Message::Binary(vec![7u8; 1 << 20].into());
    let (engine, addr, mut rx) = flood_server::<R>(short_heartbeat(), mib, Flood::Send).await;
    let (done, client) = tokio::sync::oneshot::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut s = raw_websocket(addr);
        // Stuck: neither read nor write until the server has given up on the session.
        let _ = client.blocking_recv();
        read_to_close(&mut s)
    });
    let out = outcome::<R>(&mut rx).await;
    assert_eq!(out.reason, CloseReason::PingTimeout, "{out:?}");
    // Bounded: the 4 MiB buffer and what the kernel's socket buffers hold, not a flood.
    assert!(out.sent < 64, "{} MiB went into the buffer", out.sent);
    let _ = done.send(());
    let (_, closed) = blocking::<R, _>(move || reader.join().unwrap()).await;
    assert!(closed, "the server closed the stuck connection");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// A polling session whose client never comes back for its messages: `try_send` fills the
/// buffer to its bound (`max_buffered_packets`) and answers `Full`; the unanswered heartbeat
/// ends the session.
pub async fn a_polling_get_never_collected_is_bounded_and_ended<R: TestRuntime>() {
    let config = ServerConfig {
        max_buffered_packets: 100,
        ..short_heartbeat()
    };
    let message = Message::Text("for nobody".into());
    let (engine, addr, mut rx) = flood_server::<R>(config, message, Flood::TrySend).await;
    still_serves::<R>(addr).await;
    let out = outcome::<R>(&mut rx).await;
    assert_eq!(out.reason, CloseReason::PingTimeout, "{out:?}");
    assert!(out.full, "{out:?}");
    assert!(out.sent <= 100, "{out:?}");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// A POST body that stalls (slow-loris on the body): the client cannot answer pings while its
/// POST is unfinished (a pong would be a second POST), so the heartbeat ends the session and
/// the stalled request is answered or its connection closed. A POST for an unknown session
/// is answered at once without its body.
pub async fn a_stalled_post_body_is_ended_by_the_heartbeat<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(short_heartbeat());
    let addr = serve(engine.clone()).await;
    crate::harness::spawn_echo::<R>(connections);
    let sid = still_serves::<R>(addr).await;
    let (stalled, unknown) = blocking::<R, _>(move || {
        let mut s = connect(addr);
        write!(
            s,
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000\r\n\r\n4slo"
        )
        .unwrap();
        let stalled = read_to_close(&mut s);
        let mut s = connect(addr);
        write!(
            s,
            "POST /engine.io/?EIO=4&transport=polling&sid=nobody HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100000\r\n\r\n"
        )
        .unwrap();
        (stalled, read_response(&mut s))
    })
    .await;
    // Answered (the session's close answers its pending request) or closed, not left open.
    assert!(stalled.1, "the stalled POST's connection was closed");
    let answer = String::from_utf8_lossy(&stalled.0);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 "),
        "{answer}"
    );
    assert!(unknown.starts_with("HTTP/1.1 400"), "{unknown}");
    assert!(
        unknown.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{unknown}"
    );
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// 2,000 polling handshakes never followed up and 100 WebSockets opened and left silent: all
/// are reaped by the heartbeat (within pingInterval + pingTimeout), the WebSockets' connections
/// closed by the server.
pub async fn thousands_of_abandoned_handshakes_are_reaped<R: TestRuntime>() {
    let (engine, connections) = EngineIo::<R>::new(short_heartbeat());
    let addr = serve(engine.clone()).await;
    crate::harness::spawn_echo::<R>(connections);
    let (opened, sockets) = blocking::<R, _>(move || {
        let mut s = connect(addr);
        let mut opened = 0;
        for _ in 0..2000 {
            write!(
                s,
                "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            .unwrap();
            let answer = read_response(&mut s);
            assert!(answer.contains("\r\n\r\n0{"), "{answer}");
            let _ = sid_of(&answer);
            opened += 1;
        }
        let sockets: Vec<_> = (0..100).map(|_| raw_websocket(addr)).collect();
        (opened, sockets)
    })
    .await;
    assert_eq!(opened, 2000);
    sessions_open(&engine, 0).await;
    let closed = blocking::<R, _>(move || {
        sockets
            .into_iter()
            .map(|mut s| read_to_close(&mut s).1)
            .filter(|c| *c)
            .count()
    })
    .await;
    assert_eq!(
        closed, 100,
        "every silent WebSocket was closed by the server"
    );
    let m = engine.metrics();
    assert_eq!(m.sessions_open, 0);
    still_serves::<R>(addr).await;
}
