//! Published advisories of the reference and its peers, replayed against our server on both
//! runtimes: each as a named test with the exact answer, the server still serving others, and
//! the session's memory released (the server's open-session count back where it was).
//!
//! - CVE-2020-36048 (engine.io < 4.0.0): a huge polling body consumed memory.
//! - CVE-2022-21676 (engine.io 4.0.0 to 6.1.0): an invalid WebSocket frame ("RSV2 and RSV3
//!   must be clear") killed the process.
//! - CVE-2022-41940 (engine.io < 3.6.1, 6.0.0 to 6.2.0): a connection reset (`read
//!   ECONNRESET`) around an upgrade killed the process.
//! - CVE-2023-31125 (engine.io 5.1.0 to 6.4.1): a crafted upgrade request killed the process;
//!   replayed as upgrade requests for transports that do not upgrade.
//! - `ws` CVE-2024-37890 (too many headers) and CVE-2021-32640 (a long
//!   `Sec-WebSocket-Protocol`).
//!
//! python-engineio's and engineioxide's are in `peer_advisories`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use engineio_driver::{EngineIo, ServerConfig};

use crate::harness::{raw_get, serve, sid_of, spawn_echo, timeout, TestRuntime};

const WAIT: Duration = Duration::from_secs(10);

/// Runs blocking socket code on a thread of its own; its result.
pub(crate) async fn blocking<R: TestRuntime, T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match timeout::<R, _>(Duration::from_secs(60), rx).await {
        Some(Ok(Ok(v))) => v,
        Some(Ok(Err(panic))) => std::panic::resume_unwind(panic),
        _ => panic!("the blocking part did not finish"),
    }
}

/// Waits until the server has `n` sessions open.
pub(crate) async fn sessions_open<R: TestRuntime>(engine: &EngineIo<R>, n: u64) {
    for _ in 0..200 {
        if engine.metrics().sessions_open == n {
            return;
        }
        let rt = R::default();
        rt.sleep_until(rt.now() + Duration::from_millis(25)).await;
    }
    panic!("{} sessions open, not {n}", engine.metrics().sessions_open);
}

/// The server still serves: a handshake is answered with an open packet.
pub(crate) async fn still_serves<R: TestRuntime>(addr: SocketAddr) -> String {
    let (head, body) = raw_get::<R>(addr, "/engine.io/?EIO=4&transport=polling", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.starts_with("0{"), "{body}");
    sid_of(&body)
}

async fn echo_server<R: TestRuntime>() -> (EngineIo<R>, SocketAddr) {
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    spawn_echo::<R>(connections);
    let addr = serve(engine.clone()).await;
    (engine, addr)
}

pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads until the peer closes: everything it sent, and whether it closed (rather than the
/// read timing out).
pub(crate) fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, true),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (all, true),
            Err(_) => return (all, false),
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one HTTP response (head and a `Content-Length` body) from a kept-alive connection.
pub(crate) fn read_response(s: &mut TcpStream) -> String {
    let (head, body) = read_response_bytes(s);
    head + &String::from_utf8_lossy(&body)
}

/// Reads one HTTP response from a kept-alive connection: its head (with the blank line) and
/// its `Content-Length` body as bytes.
pub(crate) fn read_response_bytes(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        got.push(b[0]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// A WebSocket upgrade request for `target`, with the extra header lines `extra` (each ending
/// in CRLF).
pub(crate) fn upgrade_request(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Opens a WebSocket session by hand: the socket, after the 101 and the open packet's frame.
pub(crate) fn raw_websocket(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    let request = upgrade_request("/engine.io/?EIO=4&transport=websocket", "");
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        got.push(b[0]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let mut open = vec![0u8; (h[1] & 0x7f) as usize];
    s.read_exact(&mut open).unwrap();
    assert!(open.starts_with(b"0{"));
    s
}

/// Resets `s` (RST, not FIN): the peer reads ECONNRESET.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

pub async fn advisory_cve_2020_36048_a_huge_polling_body_is_refused_unread<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    let sid = still_serves::<R>(addr).await;
    sessions_open(&engine, 1).await;
    // A POST announcing 100 MB: 413 as soon as the body passes max_payload (1 MB), long
    // before the rest is sent; the session ends, as the reference's.
    let status = blocking::<R, _>(move || {
        let mut s = connect(addr);
        write!(
            s,
            "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100000000\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        // 2 MB, then stop sending: the answer must not wait for the other 98.
        for _ in 0..32 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        read_response(&mut s)
    })
    .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

pub async fn advisory_cve_2022_21676_an_invalid_websocket_frame_closes_cleanly<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    for first in [0xa1u8, 0x91, 0xe1] {
        // RSV2, RSV3, all three: "RSV2 and RSV3 must be clear".
        let answer = blocking::<R, _>(move || {
            let mut s = raw_websocket(addr);
            let payload = b"4hi";
            let mask = [1u8, 2, 3, 4];
            let mut f = vec![first, 0x80 | payload.len() as u8];
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            s.write_all(&f).unwrap();
            read_to_close(&mut s)
        })
        .await;
        // The connection ends at once (`ws` sends a close frame with 1002 first; tungstenite
        // fails the connection without one, which RFC 6455 allows).
        assert_eq!(answer, (vec![], true), "{first:#x}");
        sessions_open(&engine, 0).await;
    }
    still_serves::<R>(addr).await;
}

pub async fn advisory_cve_2022_41940_a_reset_around_an_upgrade_is_survived<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    let sid = still_serves::<R>(addr).await;
    let polling = sid.clone();
    blocking::<R, _>(move || {
        // Reset right after a WebSocket handshake request (a new session), and right after
        // an upgrade request for a polling session, and mid-request.
        for target in [
            "/engine.io/?EIO=4&transport=websocket".to_owned(),
            format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        ] {
            let mut s = connect(addr);
            s.write_all(upgrade_request(&target, "").as_bytes())
                .unwrap();
            reset(s);
            let mut s = connect(addr);
            write!(
                s,
                "GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            )
            .unwrap();
            reset(s);
        }
    })
    .await;
    // The polling session is untouched (its probe, if it got that far, is given up); a
    // WebSocket session that opened ends. The server goes on.
    sessions_open(&engine, 1).await;
    let echoed = blocking::<R, _>(move || {
        let mut s = connect(addr);
        let url = format!("/engine.io/?EIO=4&transport=polling&sid={polling}");
        write!(
            s,
            "POST {url} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Content-Length: 9\r\n\r\n4still up"
        )
        .unwrap();
        let posted = read_response(&mut s);
        write!(s, "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        (posted, read_response(&mut s))
    })
    .await;
    assert!(echoed.0.ends_with("ok"), "{echoed:?}");
    assert!(echoed.1.ends_with("4still up"), "{echoed:?}");
    still_serves::<R>(addr).await;
}

pub async fn advisory_cve_2023_31125_upgrades_for_other_transports_are_refused<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    let sid = still_serves::<R>(addr).await;
    let answers = blocking::<R, _>(move || {
        let mut answers = Vec::new();
        for target in [
            "/engine.io/?EIO=4&transport=polling".to_owned(),
            format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            "/engine.io/?EIO=4&transport=bogus".to_owned(),
            format!("/engine.io/?EIO=4&transport=bogus&sid={sid}"),
            "/engine.io/?EIO=4".to_owned(),
        ] {
            let mut s = connect(addr);
            s.write_all(upgrade_request(&target, "").as_bytes())
                .unwrap();
            answers.push((target, read_response(&mut s)));
        }
        answers
    })
    .await;
    for (target, answer) in &answers {
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let expected = if target.contains("bogus") || !target.contains("transport=") {
            r#"{"code":0,"message":"Transport unknown"}"#
        } else {
            r#"{"code":3,"message":"Bad request"}"#
        };
        assert!(answer.ends_with(expected), "{target}: {answer}");
    }
    // The polling session goes on; nothing else opened.
    sessions_open(&engine, 1).await;
    still_serves::<R>(addr).await;
}

/// `ws` CVE-2024-37890: a request with more headers than the server takes crashed the
/// process. Ours answers 431 (hyper's limit) and goes on.
pub async fn advisory_ws_cve_2024_37890_too_many_headers_are_refused<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    let answer = blocking::<R, _>(move || {
        let mut s = connect(addr);
        let filler: String = (0..2000)
            .map(|i| format!("X-Filler-{i}: {i}\r\n"))
            .collect();
        let request = upgrade_request("/engine.io/?EIO=4&transport=websocket", &filler);
        let _ = s.write_all(request.as_bytes());
        read_to_close(&mut s)
    })
    .await;
    let text = String::from_utf8_lossy(&answer.0);
    assert!(text.starts_with("HTTP/1.1 431"), "{text:?}");
    assert!(answer.1, "the connection is closed");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// `ws` CVE-2021-32640: a `Sec-WebSocket-Protocol` header of many spaces made the server
/// spin (a regular expression's backtracking). Ours takes it as an ordinary header: the
/// session opens at once (Engine.IO has no subprotocol to choose).
pub async fn advisory_ws_cve_2021_32640_a_long_subprotocol_header_costs_nothing<R: TestRuntime>() {
    let (engine, addr) = echo_server::<R>().await;
    let head = blocking::<R, _>(move || {
        let mut s = connect(addr);
        let spaces = " ".repeat(60_000);
        let protocol = format!("Sec-WebSocket-Protocol: b{spaces}x\r\n");
        let request = upgrade_request("/engine.io/?EIO=4&transport=websocket", &protocol);
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            got.push(b[0]);
        }
        (String::from_utf8_lossy(&got).into_owned(), s)
    })
    .await;
    let (head, socket) = head;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "no subprotocol chosen: {head}"
    );
    sessions_open(&engine, 1).await;
    drop(socket);
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}
