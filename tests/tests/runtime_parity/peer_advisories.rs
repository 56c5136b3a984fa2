//! Advisories and bug reports of the other servers (python-engineio, engineioxide), replayed
//! against ours on both runtimes, like `advisories`: each with the exact answer, the server
//! still serving others, and the session count back where it was.
//!
//! - python-engineio CVE-2019-13611: cross-site WebSocket hijacking (a browser applies no CORS
//!   to a WebSocket; the server returned CORS headers and let the connection through).
//! - python-engineio CVE-2026-48802 (GHSA-cgwc-pv48-fhj5): every pong started a heartbeat
//!   thread, so a flood of pongs out of sequence exhausted the server.
//! - engineioxide #739: a malformed v3 payload sent the decoder into an infinite loop.
//! - engineioxide #737: binary and text packets merged wrongly on a parked v3 GET.
//! - engineioxide 0.17.2 (#554, and #560 for v3): a noop was sent for only one polling GET
//!   during an upgrade, and the client looped on its GETs; in v3 the noop went as binary.
//! - engineioxide #497 and 0.17.2's leaky sockets: a WebSocket closed in the middle of its
//!   upgrade left the session stuck.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use engineio_driver::proto::bytes::BytesMut;
use engineio_driver::proto::{DecodeLimits, Message, Packet, PayloadFormat};
use engineio_driver::session::{CorsConfig, CorsOrigin};
use engineio_driver::{EngineIo, ServerConfig};

use crate::advisories::{
    blocking, connect, raw_websocket, read_response, read_response_bytes, read_to_close,
    sessions_open, still_serves, upgrade_request,
};
use crate::harness::{serve, sid_of, spawn_echo, TestRuntime};

async fn echo_server<R: TestRuntime>(config: ServerConfig) -> (EngineIo<R>, SocketAddr) {
    let (engine, connections) = EngineIo::<R>::new(config);
    spawn_echo::<R>(connections);
    let addr = serve(engine.clone()).await;
    (engine, addr)
}

/// Writes a masked client frame with opcode `op` (1 text, 2 binary) and `payload`.
fn send_frame(s: &mut TcpStream, op: u8, payload: &[u8]) {
    let mask = [7u8, 1, 9, 3];
    let mut f = vec![0x80 | op];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).unwrap();
}

/// Reads one server frame (unmasked, at most 64 KiB): its opcode and payload.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

/// Reads frames until a text frame equal to `text` (skipping pings of the heartbeat).
fn read_text_until(s: &mut TcpStream, text: &str) {
    loop {
        let (op, payload) = read_frame(s);
        if op == 1 && payload == text.as_bytes() {
            return;
        }
        assert!(
            op == 1 && payload == b"2",
            "unexpected frame {op} {payload:?}"
        );
    }
}

/// Reads a WebSocket upgrade's answer head.
fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        got.push(b[0]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A v3 polling handshake (`b64` for text payloads): the session id.
fn v3_handshake(addr: SocketAddr, b64: bool) -> String {
    let mut s = connect(addr);
    let b64 = if b64 { "&b64=1" } else { "" };
    write!(
        s,
        "GET /engine.io/?EIO=3&transport=polling{b64} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let (head, body) = read_response_bytes(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    sid_of(&String::from_utf8_lossy(&body))
}

fn post(s: &mut TcpStream, url: &str, content_type: &str, body: &[u8]) -> String {
    write!(
        s,
        "POST {url} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

/// python-engineio CVE-2019-13611: where CORS lists the allowed origins, a WebSocket from any
/// other origin (a handshake or an upgrade) is refused with 403 and code 4; the allowed
/// origin, and a client without an Origin, go through.
pub async fn advisory_python_engineio_cve_2019_13611_a_websocket_from_another_origin_is_refused<
    R: TestRuntime,
>() {
    let config = ServerConfig {
        cors: Some(CorsConfig {
            origin: CorsOrigin::List(vec!["https://app.example".into()]),
            ..CorsConfig::default()
        }),
        ..ServerConfig::default()
    };
    let (engine, addr) = echo_server::<R>(config).await;
    let polling = still_serves::<R>(addr).await;
    let answers = blocking::<R, _>(move || {
        let upgrade = format!("/engine.io/?EIO=4&transport=websocket&sid={polling}");
        ["/engine.io/?EIO=4&transport=websocket", &upgrade].map(|target| {
            let mut s = connect(addr);
            let request = upgrade_request(target, "Origin: https://evil.example\r\n");
            s.write_all(request.as_bytes()).unwrap();
            read_response(&mut s)
        })
    })
    .await;
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(
            answer.ends_with(r#"{"code":4,"message":"Forbidden"}"#),
            "{answer}"
        );
    }
    sessions_open(&engine, 1).await;
    let heads = blocking::<R, _>(move || {
        ["Origin: https://app.example\r\n", ""].map(|origin| {
            let mut s = connect(addr);
            let target = "/engine.io/?EIO=4&transport=websocket";
            s.write_all(upgrade_request(target, origin).as_bytes())
                .unwrap();
            (read_head(&mut s), s)
        })
    })
    .await;
    for (head, _) in &heads {
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    }
    sessions_open(&engine, 3).await;
    drop(heads);
    sessions_open(&engine, 1).await;
}

/// python-engineio CVE-2026-48802: a flood of pongs nobody asked for costs a session nothing
/// (no task or timer per pong): it still echoes, and once its client falls silent the
/// heartbeat still ends it in time.
pub async fn advisory_python_engineio_cve_2026_48802_a_flood_of_pongs_costs_nothing<
    R: TestRuntime,
>() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let (engine, addr) = echo_server::<R>(config).await;
    let closed = blocking::<R, _>(move || {
        let mut s = raw_websocket(addr);
        let mut flood = Vec::new();
        let mask = [7u8, 1, 9, 3];
        for _ in 0..20_000 {
            flood.extend_from_slice(&[0x81, 0x81]);
            flood.extend_from_slice(&mask);
            flood.push(b'3' ^ mask[0]);
        }
        s.write_all(&flood).unwrap();
        send_frame(&mut s, 1, b"4after the flood");
        read_text_until(&mut s, "4after the flood");
        // Silence: the pings go unanswered and the server closes the connection.
        let started = std::time::Instant::now();
        let (_, closed) = read_to_close(&mut s);
        (closed, started.elapsed())
    })
    .await;
    assert!(closed.0, "the heartbeat closed the silent session");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// engineioxide #739: malformed v3 payloads (lengths without data, lengths past the end, no
/// length, overflowing lengths, bad binary headers) are each answered at once with 400 and
/// code 3, and end their session (`parse error`), as the reference's. (`0:` is not among them:
/// the reference's parser takes it as an empty payload, and so does ours.)
pub async fn advisory_engineioxide_malformed_v3_payloads_are_refused_at_once<R: TestRuntime>() {
    let config = ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    };
    let (engine, addr) = echo_server::<R>(config).await;
    let text: Vec<&[u8]> = vec![
        b"5:",
        b"2:4",
        b"99:4hi",
        b":4hi",
        b"1:",
        b"3:4hi3:",
        b"x",
        b"-1:4",
        b"18446744073709551616:4hi",
        b"3:4hi:::",
    ];
    let binary: Vec<&[u8]> = vec![
        &[0x00, 0xff],
        &[0x00, 0x09, 0x09, 0xff, 0x04],
        &[0x02, 0x01, 0xff],
        &[
            0x00, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff, 0x04,
        ],
        &[0x00, 0x01],
    ];
    let cases: Vec<(bool, Vec<u8>)> = text
        .into_iter()
        .map(|b| (false, b.to_vec()))
        .chain(binary.into_iter().map(|b| (true, b.to_vec())))
        .collect();
    let answers = blocking::<R, _>(move || {
        cases
            .into_iter()
            .map(|(binary, body)| {
                let sid = v3_handshake(addr, !binary);
                let mut s = connect(addr);
                let url = format!("/engine.io/?EIO=3&transport=polling&sid={sid}");
                let content_type = if binary {
                    "application/octet-stream"
                } else {
                    "text/plain;charset=UTF-8"
                };
                (body.clone(), post(&mut s, &url, content_type, &body))
            })
            .collect::<Vec<_>>()
    })
    .await;
    for (body, answer) in answers {
        assert!(answer.starts_with("HTTP/1.1 400"), "{body:?}: {answer}");
        assert!(
            answer.ends_with(r#"{"code":3,"message":"Bad request"}"#),
            "{body:?}: {answer}"
        );
    }
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}

/// engineioxide #737: on a v3 session with binary payloads, text and binary messages that
/// wait for a parked GET come back whole, each with its own type, in order.
pub async fn advisory_engineioxide_v3_text_and_binary_stay_apart_on_a_parked_get<R: TestRuntime>() {
    let config = ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    };
    let (engine, addr) = echo_server::<R>(config).await;
    let format = PayloadFormat::V3 { binary: true };
    let body = blocking::<R, _>(move || {
        let sid = v3_handshake(addr, false);
        let url = format!("/engine.io/?EIO=3&transport=polling&sid={sid}");
        // Park a GET first, then post the messages on another connection.
        let mut get = connect(addr);
        write!(get, "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let packets = [
            Packet::Message(Message::Text("héllo".into())),
            Packet::Message(Message::Binary(vec![0u8, 0xff, 1, 2].into())),
            Packet::Message(Message::Text("4 looks like a packet".into())),
            Packet::Message(Message::Binary(vec![b'4'; 3].into())),
        ];
        let mut encoded = BytesMut::new();
        format.encode(&packets, &mut encoded);
        let mut s = connect(addr);
        let posted = post(&mut s, &url, "application/octet-stream", &encoded);
        assert!(posted.ends_with("ok"), "{posted}");
        // The parked GET answers with what the echo sent first; collect until all four.
        let mut got = Vec::new();
        loop {
            let (head, body) = read_response_bytes(&mut get);
            let binary = head.contains("application/octet-stream");
            format
                .decode(binary, body.into(), &DecodeLimits::DEFAULT, &mut got)
                .expect("a v3 payload");
            if got.len() >= 4 {
                break;
            }
            write!(get, "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        (packets.to_vec(), got)
    })
    .await;
    assert_eq!(body.1, body.0);
    sessions_open(&engine, 1).await;
}

/// engineioxide 0.17.2 (#554, #560): while a session upgrades, every polling GET gets a noop
/// (not just the first), so the client's polling loop ends; in v3 with binary payloads the
/// noop goes as a text payload (`1:6`), as the reference sends it (engineioxide sent a binary
/// one).
pub async fn advisory_engineioxide_every_get_during_an_upgrade_gets_a_noop<R: TestRuntime>() {
    let config = ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    };
    let (engine, addr) = echo_server::<R>(config).await;
    for eio in [4, 3] {
        let noops = blocking::<R, _>(move || {
            let sid = if eio == 4 {
                let mut s = connect(addr);
                write!(
                    s,
                    "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                .unwrap();
                sid_of(&read_response(&mut s))
            } else {
                v3_handshake(addr, false)
            };
            let mut ws = connect(addr);
            let target = format!("/engine.io/?EIO={eio}&transport=websocket&sid={sid}");
            ws.write_all(upgrade_request(&target, "").as_bytes())
                .unwrap();
            assert!(read_head(&mut ws).starts_with("HTTP/1.1 101"));
            send_frame(&mut ws, 1, b"2probe");
            assert_eq!(read_frame(&mut ws), (1, b"3probe".to_vec()));
            let mut get = connect(addr);
            let url = format!("/engine.io/?EIO={eio}&transport=polling&sid={sid}");
            let noops: Vec<Vec<u8>> = (0..3)
                .map(|_| {
                    write!(get, "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                    read_response_bytes(&mut get).1
                })
                .collect();
            send_frame(&mut ws, 1, b"5");
            send_frame(&mut ws, 1, b"4upgraded");
            read_text_until(&mut ws, "4upgraded");
            noops
        })
        .await;
        // v3: a text payload, as the reference (engineioxide had sent a binary one).
        let noop: &[u8] = if eio == 4 { b"6" } else { b"1:6" };
        for body in noops {
            assert_eq!(body, noop, "EIO={eio}");
        }
        sessions_open(&engine, 0).await;
    }
    still_serves::<R>(addr).await;
}

/// engineioxide #497: a WebSocket that closes after its probe, before the upgrade packet,
/// leaves the session on polling, where it goes on; closing it then releases it.
pub async fn advisory_engineioxide_a_websocket_closed_mid_upgrade_leaves_polling_working<
    R: TestRuntime,
>() {
    let (engine, addr) = echo_server::<R>(ServerConfig::default()).await;
    let sid = still_serves::<R>(addr).await;
    let answers = blocking::<R, _>(move || {
        let mut ws = connect(addr);
        let target = format!("/engine.io/?EIO=4&transport=websocket&sid={sid}");
        ws.write_all(upgrade_request(&target, "").as_bytes())
            .unwrap();
        assert!(read_head(&mut ws).starts_with("HTTP/1.1 101"));
        send_frame(&mut ws, 1, b"2probe");
        assert_eq!(read_frame(&mut ws), (1, b"3probe".to_vec()));
        drop(ws);
        std::thread::sleep(Duration::from_millis(100));
        let url = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        let mut s = connect(addr);
        let posted = post(&mut s, &url, "text/plain;charset=UTF-8", b"4still polling");
        let mut bodies = String::new();
        while !bodies.contains("4still polling") {
            write!(s, "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            bodies += &read_response(&mut s);
        }
        let closed = post(&mut s, &url, "text/plain;charset=UTF-8", b"1");
        (posted, closed)
    })
    .await;
    assert!(answers.0.ends_with("ok"), "{answers:?}");
    assert!(answers.1.ends_with("ok"), "{answers:?}");
    sessions_open(&engine, 0).await;
    still_serves::<R>(addr).await;
}
