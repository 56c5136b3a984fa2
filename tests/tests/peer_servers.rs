//! The reference servers the client tests will run against: `engine.io` 6.x under Node.js
//! (`tests/node/engineio_server.js`, `allowEIO3: true`) and `python-engineio`
//! (`tests/python/engineio_server.py`, asyncio/aiohttp). Each starts on a free port, answers a
//! plain HTTP handshake with an open packet, and echoes messages (checked with the reference
//! clients of `interop_clients.rs`, so the harness itself is known to be sound).
//!
//! Testing a client of ours against them is then: start one with
//! [`ServerProcess::node_engineio`] or [`ServerProcess::python_engineio`], point the client
//! at [`ServerProcess::url`], and check its echoes with [`engineio_tests::check_echoes`] or
//! by comparing with [`engineio_tests::generate_messages`] directly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use engineio_tests::{
    generate_messages, node_peers, npm_peer_version, python_package_version, python_peers,
    run_echo_session, ClientPeer, EchoRules, EchoSession, Expect, MessageRules, ServerProcess,
};
use serde_json::{json, Value};

/// A GET with `Connection: close`; returns the status code and body.
fn http_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("GET {target}: no complete answer within 5 s ({e})"));
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {target}: no HTTP answer: {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {target}: bad status line: {head:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// Checks a v4 handshake answer: an open packet with a sid and the announced timers.
fn check_v4_open(server: &str, addr: SocketAddr, ping_interval: u64) -> Value {
    let (status, body) = http_get(addr, "/engine.io/?EIO=4&transport=polling");
    assert_eq!(status, 200, "{server}: handshake: {body}");
    let open: Value = serde_json::from_str(
        body.strip_prefix('0')
            .unwrap_or_else(|| panic!("{server}: not an open packet: {body:?}")),
    )
    .unwrap_or_else(|e| panic!("{server}: open packet JSON: {e}: {body:?}"));
    assert!(open["sid"].is_string(), "{server}: {open}");
    assert_eq!(open["pingInterval"], ping_interval, "{server}: {open}");
    assert_eq!(open["upgrades"], json!(["websocket"]), "{server}: {open}");
    open
}

fn echo_check(peer: ClientPeer, url: &str, transports: Value, expect: Expect, rules: MessageRules) {
    let mut peer = peer;
    let messages = generate_messages(7, 60, &rules);
    let report = run_echo_session(
        &mut peer,
        url,
        &EchoSession {
            opts: json!({ "transports": transports }),
            messages: &messages,
            batches: 4,
            expect,
            rules: EchoRules {
                undefined_is_empty_text: true,
            },
            heartbeats: 0,
        },
    );
    println!(
        "{} against {url}: {} echoes in {:?}",
        peer.name(),
        report.stats.messages,
        report.elapsed
    );
}

#[test]
fn node_engineio_server() {
    let dir = node_peers();
    println!("engine.io {}", npm_peer_version(&dir, "engine.io"));
    let server = ServerProcess::node_engineio(&["--ping-interval", "1500"]);
    let open = check_v4_open("engine.io", server.addr, 1500);
    assert!(open["maxPayload"].is_number(), "{open}");
    // allowEIO3: a v3 handshake is served, in v3 framing.
    let (status, body) = http_get(server.addr, "/engine.io/?EIO=3&transport=polling&b64=1");
    assert_eq!(status, 200, "v3 handshake: {body}");
    let (len, packet) = body.split_once(':').expect("v3 payload");
    assert_eq!(
        len.parse::<usize>().ok(),
        Some(packet.encode_utf16().count())
    );
    assert!(packet.starts_with("0{"), "{body}");
    // And it echoes, to protocol 4 and 3 clients.
    echo_check(
        ClientPeer::node("6"),
        &server.url(),
        json!(["polling", "websocket"]),
        Expect::Upgrade,
        MessageRules::default(),
    );
    echo_check(
        ClientPeer::node("3"),
        &server.url(),
        json!(["polling"]),
        Expect::Polling,
        MessageRules {
            record_separator: true,
            ..MessageRules::default()
        },
    );
}

#[test]
fn python_engineio_server() {
    let venv = python_peers();
    println!(
        "python-engineio {}, aiohttp {}",
        python_package_version(&venv, "python-engineio"),
        python_package_version(&venv, "aiohttp")
    );
    // python-engineio has whole-second ping intervals (see the script).
    let server = ServerProcess::python_engineio(&["--ping-interval", "2000"]);
    check_v4_open("python-engineio", server.addr, 2000);
    echo_check(
        ClientPeer::python(),
        &server.url(),
        json!(["polling", "websocket"]),
        Expect::Upgrade,
        MessageRules {
            json_text: false,
            ..MessageRules::default()
        },
    );
    echo_check(
        ClientPeer::node("6"),
        &server.url(),
        json!(["polling"]),
        Expect::Polling,
        MessageRules::default(),
    );
}
