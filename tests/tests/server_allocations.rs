//! Heap allocations per echo through the whole server (hyper, tungstenite, the driver, the
//! machine, the application's `recv` and `send`), on a warm session, and the heap an idle
//! WebSocket session holds, on both runtimes.
//!
//! dhat counts every allocation of the process; the client (raw HTTP and WebSocket over a
//! blocking socket, on its own thread) allocates nothing while it measures: its buffers are
//! allocated before. Runs without libtest's harness (`harness = false`) so that no other test
//! allocates meanwhile. The bounds are today's figures with a little room: a change that adds
//! an allocation per message fails here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::time::Duration;

use engineio_driver::{ServerConfig, SocketEvent};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations of the whole process so far.
fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

const WARM: usize = 1_000;
const MEASURED: usize = 5_000;

/// No heartbeat during the run (a debug build takes longer than `pingInterval`): only echoes
/// are counted.
fn config() -> ServerConfig {
    ServerConfig {
        ping_interval: Duration::from_secs(600),
        ping_timeout: Duration::from_secs(600),
        ..ServerConfig::default()
    }
}

/// [`config`] with permessage-deflate on: without context takeover either way (the setting
/// for many sessions), or with it (the default, as the reference's).
fn deflate_config(takeover: bool) -> ServerConfig {
    ServerConfig {
        per_message_deflate: Some(engineio_driver::session::DeflateConfig {
            server_no_context_takeover: !takeover,
            client_no_context_takeover: !takeover,
            ..Default::default()
        }),
        ..config()
    }
}

/// What an idle session did before it idled.
#[derive(Clone, Copy, PartialEq)]
enum Idle {
    /// Nothing.
    Plain,
    /// Agreed to permessage-deflate and echoed a small compressed message.
    Deflate,
    /// The same, then a 2 KiB message compressed both ways (with context takeover, each side
    /// then keeps its compressor and decompressor).
    DeflateBothWays,
}

/// Raw deflate of `data` as RFC 7692 sends it.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    out.truncate(out.len() - 4);
    out
}

/// A masked client frame with RSV1 set (compressed), any length.
fn compressed_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [3u8, 1, 4, 1];
    let mut frame = vec![0xc1];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one server frame: its first byte and payload.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

/// An echo server on its own thread: every message sent back as it came.
fn echo_server(runtime: &str) -> SocketAddr {
    echo_server_with(runtime, config())
}

fn echo_server_with(runtime: &str, config: ServerConfig) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    match runtime {
        "tokio" => {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let (engine, mut connections) = engineio_tokio::EngineIo::new(config);
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    tx.send(listener.local_addr().unwrap()).unwrap();
                    tokio::spawn(engineio_tokio::serve(listener, engine));
                    while let Some(s) = connections.accept().await {
                        tokio::spawn(echo(s));
                    }
                });
            });
        }
        _ => {
            std::thread::spawn(move || {
                smol::block_on(async move {
                    let (engine, mut connections) = engineio_smol::EngineIo::new(config);
                    let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    tx.send(listener.local_addr().unwrap()).unwrap();
                    smol::spawn(engineio_smol::serve(listener, engine)).detach();
                    while let Some(s) = connections.accept().await {
                        smol::spawn(echo(s)).detach();
                    }
                });
            });
        }
    }
    rx.recv_timeout(Duration::from_secs(10)).expect("server up")
}

async fn echo(mut socket: engineio_driver::Socket) {
    while let Some(event) = socket.recv().await {
        if let SocketEvent::Message(m) = event {
            if socket.send(m).await.is_err() {
                return;
            }
        }
    }
}

/// A blocking client socket.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one HTTP/1.1 `200` response with a `Content-Length` into `buf` (whose capacity is
/// enough: nothing is allocated): where its body is.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Range<usize> {
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = &buf[..end];
            assert!(
                head.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(head)
            );
            let at = find_ignore_case(head, b"\r\ncontent-length:").expect("content-length");
            let value = &head[at + 17..];
            let value = &value[..find(value, b"\r\n").unwrap_or(value.len())];
            let len = value
                .iter()
                .filter(|b| b.is_ascii_digit())
                .fold(0usize, |n, b| n * 10 + usize::from(b - b'0'));
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return end + 4..end + 4 + len;
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Allocations per echo over WebSocket: a masked text frame in, its echo out.
fn websocket_echoes(addr: SocketAddr) -> f64 {
    let mut s = connect(addr);
    s.write_all(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"));
    let message = b"4{\"event\":\"chat\",\"text\":\"hello\"}";
    let mask = [7u8, 1, 2, 3];
    let mut frame = vec![0x81, 0x80 | message.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(message.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    // The open packet may share the 101's read; the echoes come after it.
    let mut pending: Vec<u8> = buf[..n]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| buf[end + 4..n].to_vec())
        .unwrap_or_default();
    pending.reserve(64 * 1024);
    // Reads one frame into `pending`'s front: its payload's length (consumed by the next call).
    let mut consumed = 0;
    let mut read_frame = |s: &mut TcpStream, pending: &mut Vec<u8>| -> usize {
        pending.drain(..consumed);
        loop {
            if pending.len() >= 2 {
                let len = (pending[1] & 0x7f) as usize;
                assert!(len < 126, "a small frame");
                if pending.len() >= 2 + len {
                    consumed = 2 + len;
                    return len;
                }
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            pending.extend_from_slice(&buf[..n]);
        }
    };
    let len = read_frame(&mut s, &mut pending);
    assert_eq!(pending[2], b'0', "the open packet ({len} bytes)");
    let mut round = |s: &mut TcpStream| {
        s.write_all(&frame).unwrap();
        let len = read_frame(s, &mut pending);
        assert_eq!(&pending[2..2 + len], message);
    };
    measure(|| round(&mut s))
}

/// Opens a polling session on `s`: its sid.
fn polling_handshake(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    s.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let body = read_response(s, buf);
    let open = String::from_utf8_lossy(&buf[body]).into_owned();
    open.split("\"sid\":\"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .expect("sid")
        .to_owned()
}

/// Allocations per echo over polling: a POST of the message, then the GET that carries its echo.
fn polling_echoes(addr: SocketAddr) -> f64 {
    let mut s = connect(addr);
    let mut buf = Vec::with_capacity(64 * 1024);
    let sid = polling_handshake(&mut s, &mut buf);
    let message = "4{\"event\":\"chat\",\"text\":\"hello\"}";
    let post = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{message}",
        message.len()
    );
    let get =
        format!("GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut round = |s: &mut TcpStream| {
        s.write_all(post.as_bytes()).unwrap();
        let body = read_response(s, &mut buf);
        assert_eq!(&buf[body], b"ok");
        s.write_all(get.as_bytes()).unwrap();
        let body = read_response(s, &mut buf);
        assert_eq!(&buf[body], message.as_bytes());
    };
    measure(|| round(&mut s))
}

/// A WebSocket session on `addr`, after what `idle` says it did.
fn open_websocket(addr: SocketAddr, idle: Idle) -> TcpStream {
    let deflating = idle != Idle::Plain;
    let mut s = connect(addr);
    let offer = if deflating {
        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    } else {
        ""
    };
    write!(
        s,
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}\r\n",
    )
    .unwrap();
    // The 101 and the open packet.
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while find(&got, b"\r\n\r\n").is_none_or(|end| got.len() <= end + 4) {
        let k = s.read(&mut buf).unwrap();
        assert!(k > 0, "connection closed");
        got.extend_from_slice(&buf[..k]);
    }
    if deflating {
        assert!(
            find_ignore_case(&got, b"sec-websocket-extensions: permessage-deflate").is_some(),
            "not agreed"
        );
        // "4hello" compressed; the echo, under the threshold, plain.
        s.write_all(&compressed_frame(&deflate(b"4hello"))).unwrap();
        assert_eq!(read_frame(&mut s), (0x81, b"4hello".to_vec()));
    }
    if idle == Idle::DeflateBothWays {
        let text = format!("4{}", "a chat line, compressed both ways; ".repeat(60));
        s.write_all(&compressed_frame(&deflate(text.as_bytes())))
            .unwrap();
        let (first, payload) = read_frame(&mut s);
        assert_eq!(first, 0xc1, "a compressed echo");
        assert!(payload.len() < text.len() / 4);
    }
    s
}

/// Heap bytes the server holds per idle WebSocket session (live, without the allocator's
/// overhead): `n` sessions opened and held.
///
/// With deflate, each session offers permessage-deflate (the server must agree) and sends
/// compressed messages ([`Idle`]), whose echoes come back, before it idles.
fn idle_websocket_bytes(addr: SocketAddr, n: usize, idle: Idle) -> f64 {
    let open = |_| open_websocket(addr, idle);
    let _warm: Vec<TcpStream> = (0..10).map(open).collect();
    std::thread::sleep(Duration::from_millis(200));
    let before = dhat::HeapStats::get().curr_bytes;
    let held: Vec<TcpStream> = (0..n).map(open).collect();
    std::thread::sleep(Duration::from_millis(500));
    let after = dhat::HeapStats::get().curr_bytes;
    drop(held);
    (after as f64 - before as f64) / n as f64
}

/// The most heap bytes the server held per body byte while it read a polling POST whose body
/// came in one-byte chunks (chunked transfer encoding: hyper hands each chunk over on its
/// own): a client cannot make the server hold many times its body. Sampled every 2 ms from
/// the first byte sent to the answer.
fn chunked_body_bytes(addr: SocketAddr, len: usize) -> f64 {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::sync::Arc;
    let mut s = connect(addr);
    // A debug build under dhat takes seconds for 100,000 chunks on a busy machine.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = Vec::with_capacity(64 * 1024);
    let sid = polling_handshake(&mut s, &mut buf);
    let mut wire = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for i in 0..len {
        wire.extend_from_slice(if i == 0 { b"1\r\n4\r\n" } else { b"1\r\nx\r\n" });
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let before = dhat::HeapStats::get().curr_bytes as i64;
    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (done, most) = (Arc::clone(&done), Arc::clone(&most));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let held = dhat::HeapStats::get().curr_bytes as i64 - before;
                most.fetch_max(held, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    s.write_all(&wire).unwrap();
    let body = read_response(&mut s, &mut buf);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(&buf[body], b"ok");
    most.load(Ordering::Relaxed) as f64 / len as f64
}

/// Heap bytes the server still holds after `n` WebSocket sessions opened at once have all
/// closed, against before they opened: the least seen within 30 s (the server learns of the
/// closes as it reads them), or the first at most `enough`.
fn heap_after_sessions(addr: SocketAddr, n: usize, enough: i64) -> i64 {
    drop(
        (0..10)
            .map(|_| open_websocket(addr, Idle::Plain))
            .collect::<Vec<_>>(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = dhat::HeapStats::get().curr_bytes as i64;
    let held: Vec<TcpStream> = (0..n).map(|_| open_websocket(addr, Idle::Plain)).collect();
    std::thread::sleep(Duration::from_millis(200));
    drop(held);
    let mut least = i64::MAX;
    for _ in 0..300 {
        std::thread::sleep(Duration::from_millis(100));
        least = least.min(dhat::HeapStats::get().curr_bytes as i64 - before);
        if least <= enough {
            break;
        }
    }
    least
}

/// Runs `round` warm, then counts the allocations of `MEASURED` more: per round.
fn measure(mut round: impl FnMut()) -> f64 {
    for _ in 0..WARM {
        round();
    }
    let before = allocations();
    for _ in 0..MEASURED {
        round();
    }
    let after = allocations();
    (after - before) as f64 / MEASURED as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Thousands of sessions at once, both ends in this process.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // The counter counts (guards against a test that cannot fail): another thread's vector.
    let before = allocations();
    std::thread::spawn(|| drop(std::hint::black_box(vec![1u8; 16])))
        .join()
        .unwrap();
    assert!(allocations() > before);

    let mut failures = Vec::new();
    for runtime in ["tokio", "smol"] {
        let addr = echo_server(runtime);
        // Tokio: none per WebSocket echo. smol: its executor allocates now and then when a
        // wake-up crosses threads (1.3 to 2.1 per echo measured), as its spawned tasks run on
        // its global executor's thread. Polling: hyper's request and response (36 to 41).
        let ws_bound = if runtime == "tokio" { 0.5 } else { 4.0 };
        for (transport, per_echo, bound) in [
            ("websocket", websocket_echoes(addr), ws_bound),
            ("polling", polling_echoes(addr), 48.0),
        ] {
            println!("{runtime} {transport}: {per_echo:.2} allocations per echo (bound {bound})");
            if per_echo > bound {
                failures.push(format!("{runtime} {transport}: {per_echo:.2} > {bound}"));
            }
        }
    }
    for runtime in ["tokio", "smol"] {
        // Nothing kept per session once it is gone: the session map gives back what a burst
        // grew it to (it kept 430 KB after 2,000 sessions before it did). On smol a finished
        // task's memory waits for async-io to drop its timer's waker, which it does when it
        // next wakes (at the latest at that timer's deadline, here the next ping): a 1 s
        // heartbeat makes that soon.
        let addr = echo_server_with(
            runtime,
            ServerConfig {
                ping_interval: Duration::from_secs(1),
                ..config()
            },
        );
        // What stays is capacity, not sessions: the map's floor (128 slots, 27 KB), and on
        // smol its executor's and reactor's slabs, which keep their peak length (56 bytes
        // a task and a socket: 115 KB measured).
        let bound = if runtime == "tokio" {
            64 * 1024
        } else {
            192 * 1024
        };
        let kept = heap_after_sessions(addr, 2000, bound);
        println!("{runtime}: {kept} heap bytes kept after 2,000 sessions closed (bound {bound})");
        if kept > bound {
            failures.push(format!("{runtime} kept after sessions: {kept} > {bound}"));
        }
        let per_byte = chunked_body_bytes(addr, 100_000);
        let bound = 8.0;
        println!(
            "{runtime}: {per_byte:.1} heap bytes per body byte while reading a POST in one-byte \
             chunks (bound {bound})"
        );
        if per_byte > bound {
            failures.push(format!("{runtime} chunked body: {per_byte:.1} > {bound}"));
        }
    }
    for runtime in ["tokio", "smol"] {
        let addr = echo_server(runtime);
        // Of 10.4 KB: tungstenite's read buffer 4,096, the session task 1,152, the machine
        // 700, the request kept for the application 624, the application's echo task 640.
        let bytes = idle_websocket_bytes(addr, 1000, Idle::Plain);
        let bound = 10_500.0;
        println!("{runtime}: {bytes:.0} heap bytes per idle WebSocket session (bound {bound})");
        if bytes > bound {
            failures.push(format!("{runtime} idle: {bytes:.0} > {bound}"));
        }
        // permessage-deflate without context takeover: no compression state between
        // messages, only the layer's small state (about 800 bytes more, measured).
        let addr = echo_server_with(runtime, deflate_config(false));
        let bytes = idle_websocket_bytes(addr, 1000, Idle::Deflate);
        let bound = 11_500.0;
        println!(
            "{runtime}: {bytes:.0} heap bytes per idle WebSocket session with permessage-deflate \
             (bound {bound})"
        );
        if bytes > bound {
            failures.push(format!("{runtime} idle with deflate: {bytes:.0} > {bound}"));
        }
        // With context takeover, after messages compressed both ways: the compressor and
        // the decompressor stay (446 KB measured, zlib-rs at level 6; 100 sessions).
        let addr = echo_server_with(runtime, deflate_config(true));
        let bytes = idle_websocket_bytes(addr, 100, Idle::DeflateBothWays);
        let bound = 500_000.0;
        println!(
            "{runtime}: {bytes:.0} heap bytes per idle WebSocket session with permessage-deflate \
             and context takeover, after compressing both ways (bound {bound})"
        );
        if bytes > bound {
            failures.push(format!(
                "{runtime} idle with takeover: {bytes:.0} > {bound}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
