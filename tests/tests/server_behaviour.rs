//! Our server's behaviour over real sockets: the `echo` example of each runtime binding
//! (engineio-tokio, engineio-smol) as a process, driven with plain HTTP/1.1 (hyper's client,
//! one connection per request) and WebSocket (tungstenite) from here, the way a misbehaving or
//! unusual client would. Every test runs once per runtime, as `on_tokio::NAME` and
//! `on_smol::NAME` (see [`engineio_tests::runtime_tests!`]); this side always runs on Tokio.
//!
//! Covered: two GETs at once on one session (400, the first gets the close packet), the
//! payload limit on polling bodies and WebSocket messages, ping timeout (a silent client is
//! closed, later requests get code 1), heartbeats during an abandoned upgrade (they keep going;
//! a silent client is still closed), the upgrade timeout itself, CORS (preflight and response
//! headers, unlisted origins, control characters in Origin), the error codes and their JSON
//! bodies, HTTP compression, and graceful shutdown on SIGTERM.
//!
//! Timers are short (pings every 200-300 ms) and every wait is bounded: a test that would
//! hang fails with the name of what it was waiting for.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_tests::{Runtime, ServerProcess};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot::error::TryRecvError;
use tokio_tungstenite::tungstenite::Message as Ws;

mod wire;
use wire::*;

// ---- tests -----------------------------------------------------------------------------------

engineio_tests::runtime_tests!(
    overlapping_gets,
    payload_limit,
    ping_timeout,
    silent_upgrade_keeps_heartbeat,
    upgrade_timeout_then_retry,
    cors,
    error_codes,
    error_codes_with_eio3,
    compression,
    graceful_shutdown
);

/// Two GETs on one session: the second is refused with a bare 400, the parked first one gets
/// the close packet, and the session is gone (code 1), as the reference does.
fn overlapping_gets(rt: Runtime) {
    let server = ServerProcess::echo(rt, &[]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let url = sid_url(&sid);
        let first = tokio::spawn({
            let url = url.clone();
            async move { get(addr, &url).await }
        });
        // Nothing is queued, so the first GET parks; give it time to get there.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!first.is_finished(), "the first GET was answered at once");
        let second = get(addr, &url).await;
        assert_eq!(second.status, 400, "the overlapping GET: {second:?}");
        let first = bounded("the parked GET", WAIT, first).await.expect("task");
        assert_eq!(first.status, 200, "the parked GET: {first:?}");
        assert_eq!(first.text(), "1", "the parked GET gets the close packet");
        get(addr, &url)
            .await
            .assert_error("a GET after the overlap", 400, 1, "Session ID unknown");
    });
}

/// `--max-payload 1000`: announced in the open packet; a POST of exactly 1000 bytes is taken,
/// 1001 bytes is 413 and ends the session (as the reference does: engine.io 6 answers 413, closes
/// with `transport error` "payload too large", and a later request gets "Session ID unknown");
/// a WebSocket message over the limit ends that WebSocket session.
fn payload_limit(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--max-payload", "1000"]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, open) = handshake(addr).await;
        assert_eq!(open["maxPayload"], 1000, "open packet: {open}");
        let url = sid_url(&sid);
        let exact = format!("4{}", "x".repeat(999));
        let r = post(addr, &url, &exact).await;
        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "1000-byte POST");
        assert_eq!(poll_message(addr, &sid).await, exact, "the 1000-byte echo");

        let over = format!("4{}", "x".repeat(1000));
        let r = post(addr, &url, &over).await;
        assert_eq!(r.status, 413, "1001-byte POST: {r:?}");
        post(addr, &url, "4too late").await.assert_error(
            "a POST after the 413",
            400,
            1,
            "Session ID unknown",
        );

        let mut ws = ws_connect(addr, "/engine.io/?EIO=4&transport=websocket").await;
        let open = ws_text(&mut ws, "the WebSocket open packet").await;
        assert!(open.is_some_and(|o| o.starts_with("0{")), "WebSocket open");
        ws_send(&mut ws, &exact).await;
        assert_eq!(ws_text(&mut ws, "the WebSocket echo").await, Some(exact));
        ws_send(&mut ws, &over).await;
        assert_eq!(
            ws_text(
                &mut ws,
                "the end of the WebSocket after an oversize message"
            )
            .await,
            None,
            "an oversize WebSocket message must end the session"
        );
    });
}

/// Ping timeout: a client that answers pings stays; one that does not is closed after
/// pingInterval + pingTimeout: its parked GET gets the close packet, later GETs code 1.
fn ping_timeout(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--ping-interval", "200", "--ping-timeout", "300"]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (live, open) = handshake(addr).await;
        assert_eq!(open["pingInterval"], 200, "{open}");
        assert_eq!(open["pingTimeout"], 300, "{open}");
        // The live client answers four pings in a row and is still there.
        for i in 0..4 {
            let r = get(addr, &sid_url(&live)).await;
            assert_eq!((r.status, r.text().as_str()), (200, "2"), "ping {i}");
            assert_eq!(post(addr, &sid_url(&live), "3").await.text(), "ok");
        }
        assert_eq!(post(addr, &sid_url(&live), "4alive").await.text(), "ok");
        assert_eq!(poll_message(addr, &live).await, "4alive");

        // The silent client takes its first ping, answers nothing, and parks a GET.
        let (silent, _) = handshake(addr).await;
        let r = get(addr, &sid_url(&silent)).await;
        assert_eq!((r.status, r.text().as_str()), (200, "2"), "silent: ping");
        let start = Instant::now();
        let r = bounded(
            "the close of a silent session",
            Duration::from_secs(3),
            async { get(addr, &sid_url(&silent)).await },
        )
        .await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "1"),
            "the parked GET of a timed-out session"
        );
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "closed only after {:?} (pingTimeout is 300 ms)",
            start.elapsed()
        );
        get(addr, &sid_url(&silent)).await.assert_error(
            "a GET after the ping timeout",
            400,
            1,
            "Session ID unknown",
        );
    });
}

/// An upgrade that is probed (`2probe`/`3probe`) and then left silent must not pause the
/// heartbeat: pings keep coming on polling while the client answers them, and when it stops,
/// the session is closed on ping timeout, long before the upgrade timeout (10 s). (The
/// reference has had such a leak: a pending upgrade stopped the heartbeat.)
fn silent_upgrade_keeps_heartbeat(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--ping-interval", "300", "--ping-timeout", "400"]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let mut ws = ws_connect(
            addr,
            &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        )
        .await;
        ws_send(&mut ws, "2probe").await;
        assert_eq!(ws_text(&mut ws, "3probe").await.as_deref(), Some("3probe"));

        // Upgrade pending: poll for 2 s answering pings; noops come in between.
        let (mut pings, mut noops) = (0, 0);
        let until = Instant::now() + Duration::from_millis(2000);
        while Instant::now() < until {
            let r = get(addr, &sid_url(&sid)).await;
            assert_eq!(r.status, 200, "poll while upgrading: {r:?}");
            for p in packets(&r.text()) {
                match p.as_str() {
                    "2" => {
                        pings += 1;
                        assert_eq!(post(addr, &sid_url(&sid), "3").await.text(), "ok");
                    }
                    "6" => noops += 1,
                    other => panic!("unexpected packet while upgrading: {other:?}"),
                }
            }
        }
        assert!(
            pings >= 3,
            "only {pings} pings in 2 s with pingInterval 300 ms while an upgrade was pending"
        );
        assert!(noops > 0, "no noop while an upgrade was pending");
        assert_eq!(post(addr, &sid_url(&sid), "4during").await.text(), "ok");
        assert_eq!(poll_message(addr, &sid).await, "4during");

        // Now stop answering pings: the session must close on ping timeout. The pings and
        // the noop ticks run in step here, so the ping timeout falls next to a noop tick: if
        // the noop goes first, no GET is parked when the session closes, and the next GET
        // learns it from a 400 (as with the reference) instead of a close packet.
        let start = Instant::now();
        let closed = bounded(
            "the ping timeout of a session with a pending upgrade",
            Duration::from_secs(3),
            async {
                loop {
                    let r = get(addr, &sid_url(&sid)).await;
                    if r.status != 200 {
                        r.assert_error(
                            "a GET after the ping timeout",
                            400,
                            1,
                            "Session ID unknown",
                        );
                        return "Session ID unknown".to_owned();
                    }
                    if packets(&r.text()).iter().any(|p| p == "1") {
                        return "close packet".to_owned();
                    }
                }
            },
        )
        .await;
        assert!(
            start.elapsed() < Duration::from_millis(2000),
            "closed ({closed}) after {:?}",
            start.elapsed()
        );
        assert_eq!(
            ws_text(&mut ws, "the probe WebSocket to be closed").await,
            None,
            "the probe WebSocket of a closed session"
        );
        get(addr, &sid_url(&sid)).await.assert_error(
            "a GET after the ping timeout",
            400,
            1,
            "Session ID unknown",
        );
    });
}

/// The upgrade timeout (10 s, the default): a probed WebSocket that never sends `5` is closed
/// by the server, the session goes on over polling, and a new upgrade then succeeds. After
/// it, a polling GET is code 3 and messages flow over the WebSocket.
fn upgrade_timeout_then_retry(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--ping-interval", "1000", "--ping-timeout", "1000"]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let ws_url = format!("/engine.io/?EIO=4&transport=websocket&sid={sid}");
        let mut ws = ws_connect(addr, &ws_url).await;
        let opened = Instant::now();
        ws_send(&mut ws, "2probe").await;
        assert_eq!(ws_text(&mut ws, "3probe").await.as_deref(), Some("3probe"));

        // Keep the session alive on polling until the server drops the probe WebSocket. (A
        // GET must never be abandoned half way: the server, like the reference, closes a
        // session whose parked GET goes away. So the WebSocket is watched by a task.)
        let (closed_tx, mut closed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let end = match ws.next().await {
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => Ok(Instant::now()),
                Some(Ok(m)) => Err(format!("unexpected frame on the probe WebSocket: {m:?}")),
            };
            let _ = closed_tx.send(end);
        });
        let closed_at = bounded(
            "the upgrade timeout to close the probe WebSocket",
            Duration::from_secs(14),
            async {
                loop {
                    match closed_rx.try_recv() {
                        Ok(Ok(at)) => return at,
                        Ok(Err(e)) => panic!("{e}"),
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Closed) => panic!("the WebSocket watcher failed"),
                    }
                    let r = get(addr, &sid_url(&sid)).await;
                    assert_eq!(r.status, 200, "poll while upgrading: {r:?}");
                    for p in packets(&r.text()) {
                        if p == "2" {
                            assert_eq!(post(addr, &sid_url(&sid), "3").await.text(), "ok");
                        }
                    }
                }
            },
        )
        .await;
        let took = closed_at - opened;
        assert!(
            took >= Duration::from_millis(9500),
            "the probe WebSocket was closed after {took:?}, before the 10 s upgrade timeout"
        );

        // The session goes on over polling.
        assert_eq!(post(addr, &sid_url(&sid), "4after").await.text(), "ok");
        assert_eq!(poll_message(addr, &sid).await, "4after");

        // A second upgrade completes.
        let mut ws = ws_connect(addr, &ws_url).await;
        ws_send(&mut ws, "2probe").await;
        assert_eq!(ws_text(&mut ws, "3probe").await.as_deref(), Some("3probe"));
        ws_send(&mut ws, "5").await;
        ws_send(&mut ws, "4over ws").await;
        loop {
            let t = ws_text(&mut ws, "the echo over the upgraded WebSocket").await;
            match t.as_deref() {
                Some("4over ws") => break,
                Some("2") => ws_send(&mut ws, "3").await,
                Some("6") => {}
                other => panic!("unexpected frame after the upgrade: {other:?}"),
            }
        }
        // Polling is over for this session (a parked GET may have been answered with a noop).
        let r = get(addr, &sid_url(&sid)).await;
        r.assert_error("a polling GET after the upgrade", 400, 3, "Bad request");
    });
}

/// CORS with `--cors-origin http://a.example` (credentials on, as the echo example sets):
/// preflight, response headers on handshake, POST, GET and errors; no allow-origin for
/// another origin; an Origin with a control character is refused.
fn cors(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--cors-origin", "http://a.example"]);
    let addr = server.addr;
    const A: (&str, &str) = ("origin", "http://a.example");
    client_runtime().block_on(async {
        let r = http(
            addr,
            "OPTIONS",
            HANDSHAKE,
            &[
                A,
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 204, "preflight: {r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://a.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let methods = r.header("access-control-allow-methods").unwrap_or_default();
        for m in ["GET", "POST"] {
            assert!(methods.contains(m), "preflight allows methods {methods:?}");
        }
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type")
        );
        assert!(r.header_all("vary").contains("Origin"), "vary: {r:?}");

        let r = http(
            addr,
            "OPTIONS",
            HANDSHAKE,
            &[
                ("origin", "http://b.example"),
                ("access-control-request-method", "POST"),
            ],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 204, "preflight from another origin: {r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        let r = http(addr, "GET", HANDSHAKE, &[A], Bytes::new()).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://a.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let sid = serde_json::from_str::<Value>(&r.text()[1..]).expect("open")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        let r = http(addr, "POST", &sid_url(&sid), &[A], "4x").await;
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://a.example")
        );
        let r = http(addr, "GET", &sid_url(&sid), &[A], Bytes::new()).await;
        assert_eq!((r.status, r.text().as_str()), (200, "4x"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://a.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

        let r = http(
            addr,
            "GET",
            "/engine.io/?EIO=4&transport=carrier-pigeon",
            &[A],
            Bytes::new(),
        )
        .await;
        r.assert_error(
            "unknown transport with an Origin",
            400,
            0,
            "Transport unknown",
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://a.example")
        );

        let r = http(
            addr,
            "GET",
            HANDSHAKE,
            &[("origin", "http://b.example")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

        // A control character in Origin: refused (by the HTTP parser or by us) with 400.
        let raw = raw_request(
            addr,
            b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\
              Origin: http://a.exa\x01mple\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            raw.starts_with("HTTP/1.1 400"),
            "an Origin with a control character: {raw:?}"
        );
    });
}

/// Writes `request` on a new connection and reads the answer until the server closes it.
async fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    bounded("a raw HTTP answer", WAIT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
}

/// Error codes and their JSON bodies, for requests without and with a session; plus the
/// path with and without its trailing slash, and another path (404).
fn error_codes(rt: Runtime) {
    let server = ServerProcess::echo(rt, &[]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let transport_unknown = [
            "/engine.io/?EIO=4&transport=__proto__",
            "/engine.io/?EIO=4&transport=flashsocket",
            "/engine.io/?EIO=4&transport=",
            "/engine.io/?EIO=4",
        ];
        for t in transport_unknown {
            get(addr, t)
                .await
                .assert_error(t, 400, 0, "Transport unknown");
        }
        let bad_version = [
            "/engine.io/?transport=polling",
            "/engine.io/?EIO=5&transport=polling",
            "/engine.io/?EIO=abc&transport=polling",
            "/engine.io/?EIO=04&transport=polling",
            "/engine.io/?EIO=&transport=polling",
            // Protocol 3 is off unless --allow-eio3.
            "/engine.io/?EIO=3&transport=polling",
        ];
        for t in bad_version {
            get(addr, t)
                .await
                .assert_error(t, 400, 5, "Unsupported protocol version");
        }
        for sid in ["nope", "__proto__", "constructor", "AAAAAAAAAAAAAAAAAAAA"] {
            let t = sid_url(sid);
            get(addr, &t)
                .await
                .assert_error(&t, 400, 1, "Session ID unknown");
            http(addr, "POST", &t, &[], "4x")
                .await
                .assert_error(&t, 400, 1, "Session ID unknown");
        }
        http(addr, "POST", HANDSHAKE, &[], "4x").await.assert_error(
            "POST handshake",
            400,
            2,
            "Bad handshake method",
        );
        http(addr, "PUT", HANDSHAKE, &[], "4x").await.assert_error(
            "PUT handshake",
            400,
            2,
            "Bad handshake method",
        );

        let (sid, _) = handshake(addr).await;
        http(addr, "PUT", &sid_url(&sid), &[], "4x")
            .await
            .assert_error("PUT with a sid", 400, 3, "Bad request");
        // A session opened on WebSocket is not reachable over polling.
        let mut ws = ws_connect(addr, "/engine.io/?EIO=4&transport=websocket").await;
        let open = ws_text(&mut ws, "the WebSocket open packet")
            .await
            .expect("open packet");
        let json: Value = serde_json::from_str(&open[1..]).expect("open JSON");
        assert_eq!(json["upgrades"], serde_json::json!([]), "{json}");
        let ws_sid = json["sid"].as_str().expect("sid");
        get(addr, &sid_url(ws_sid)).await.assert_error(
            "polling GET on a WebSocket session",
            400,
            3,
            "Bad request",
        );

        // A v4 binary POST: 400, and the session is closed.
        let r = http(
            addr,
            "POST",
            &sid_url(&sid),
            &[("content-type", "application/octet-stream")],
            vec![4u8, 1, 2, 3],
        )
        .await;
        assert_eq!(r.status, 400, "v4 binary POST: {r:?}");
        get(addr, &sid_url(&sid)).await.assert_error(
            "GET after a v4 binary POST",
            400,
            1,
            "Session ID unknown",
        );

        // The path with and without its trailing slash; another path.
        for t in [
            "/engine.io/?EIO=4&transport=polling",
            "/engine.io?EIO=4&transport=polling",
        ] {
            let r = get(addr, t).await;
            assert_eq!(r.status, 200, "{t}: {r:?}");
            assert!(r.text().starts_with("0{"), "{t}: {r:?}");
            assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
        }
        assert_eq!(
            get(addr, "/other/?EIO=4&transport=polling").await.status,
            404
        );
    });
}

/// With `--allow-eio3`: a v3 handshake is served (v3 payload framing, no maxPayload), other
/// versions are still code 5.
fn error_codes_with_eio3(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--allow-eio3"]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let r = get(addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        assert_eq!(r.status, 200, "{r:?}");
        let text = r.text();
        let (len, packet) = text.split_once(':').expect("a v3 payload");
        assert_eq!(
            len.parse::<usize>().ok(),
            Some(packet.encode_utf16().count())
        );
        let open: Value = serde_json::from_str(&packet[1..]).expect("open JSON");
        assert!(open.get("maxPayload").is_none(), "v3 open packet: {open}");
        for t in [
            "/engine.io/?EIO=5&transport=polling",
            "/engine.io/?EIO=abc&transport=polling",
            "/engine.io/?EIO=2&transport=polling",
        ] {
            get(addr, t)
                .await
                .assert_error(t, 400, 5, "Unsupported protocol version");
        }
    });
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid deflate (zlib)");
    out
}

/// HTTP compression of polling responses: gzip and deflate when accepted and the body is
/// over the 1024-byte threshold; identity below it, without Accept-Encoding, or for an
/// unknown encoding.
fn compression(rt: Runtime) {
    let server = ServerProcess::echo(rt, &[]);
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let url = sid_url(&sid);
        let big = format!("4{}", "é€ compress me ".repeat(200));
        type Decode = fn(&[u8]) -> Vec<u8>;
        let cases: [(&str, Option<&str>, Decode); 4] = [
            ("gzip", Some("gzip"), gunzip),
            ("gzip, deflate, br", Some("gzip"), gunzip),
            ("deflate", Some("deflate"), inflate),
            ("br", None, |b: &[u8]| b.to_vec()),
        ];
        for (accept, expect, decode) in cases {
            assert_eq!(post(addr, &url, &big).await.text(), "ok");
            let r = http(
                addr,
                "GET",
                &url,
                &[("accept-encoding", accept)],
                Bytes::new(),
            )
            .await;
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(
                r.header("content-encoding"),
                expect,
                "Accept-Encoding: {accept}"
            );
            let body = decode(&r.body);
            assert_eq!(
                String::from_utf8(body).expect("UTF-8"),
                big,
                "Accept-Encoding: {accept}: the decoded body"
            );
            if expect.is_some() {
                assert!(
                    r.body.len() < big.len() / 2,
                    "barely compressed: {}",
                    r.body.len()
                );
            }
        }
        // No Accept-Encoding, or a small body: identity.
        assert_eq!(post(addr, &url, &big).await.text(), "ok");
        let r = get(addr, &url).await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.text(), big);
        assert_eq!(post(addr, &url, "4small").await.text(), "ok");
        let r = http(
            addr,
            "GET",
            &url,
            &[("accept-encoding", "gzip")],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.header("content-encoding"), None, "a small body: {r:?}");
        assert_eq!(r.text(), "4small");
    });
}

/// SIGTERM to the echo process: a parked polling GET gets the close packet, a WebSocket
/// session's socket is closed, and the process exits successfully within the grace period.
fn graceful_shutdown(rt: Runtime) {
    let mut server = ServerProcess::echo(rt, &[]);
    let addr = server.addr;
    let runtime = client_runtime();
    let (parked, mut ws) = runtime.block_on(async {
        let (sid, _) = handshake(addr).await;
        let url = sid_url(&sid);
        let parked = tokio::spawn(async move { get(addr, &url).await });
        let mut ws = ws_connect(addr, "/engine.io/?EIO=4&transport=websocket").await;
        assert!(ws_text(&mut ws, "open").await.is_some());
        ws_send(&mut ws, "4before").await;
        assert_eq!(ws_text(&mut ws, "echo").await.as_deref(), Some("4before"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !parked.is_finished(),
            "the GET was answered before the shutdown"
        );
        (parked, ws)
    });
    let start = Instant::now();
    server.process.terminate();
    runtime.block_on(async {
        let r = bounded("the parked GET after SIGTERM", WAIT, parked)
            .await
            .expect("task");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "1"),
            "parked GET: {r:?}"
        );
        loop {
            match ws_text(&mut ws, "the WebSocket to close after SIGTERM").await {
                None => break,
                // A close packet before the close frame is fine too.
                Some(t) if t == "1" => {}
                Some(t) => panic!("unexpected frame during shutdown: {t:?}"),
            }
        }
    });
    let status = server.process.wait_exit(Duration::from_secs(8));
    let status = status.unwrap_or_else(|| {
        panic!(
            "{}",
            server
                .process
                .failure("still running 8 s after SIGTERM (grace is 5 s)")
        )
    });
    assert!(
        status.success(),
        "{}: exit status after SIGTERM: {status}",
        server.name()
    );
    println!("{} shut down in {:?}", server.name(), start.elapsed());
}
