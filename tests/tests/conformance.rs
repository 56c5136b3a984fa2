//! The behaviours where the protocol's own test-suite (`engine.io-protocol/test-suite`) and
//! RFC 6455 decide, over real sockets. Each is written once against a server address and run
//! against our `echo` example on both runtimes (`on_tokio::NAME`, `on_smol::NAME`) and against
//! the reference server, `engine.io` under Node.js (`reference::NAME`), so the test itself is
//! proven to describe what the reference does.
//!
//! 1. A close packet POSTed while a GET is parked: the GET gets a noop (`6`), the POST `ok`,
//!    and the session is gone (code 1).
//! 2. A WebSocket for a session that has upgraded, or is upgrading: the handshake completes
//!    (`101`), then that WebSocket is closed at once; the session goes on.
//! 3. `2probe` and `5` written on the WebSocket, then a polling GET: the GET is refused (the
//!    session has upgraded) every time, 200 times in a row, while other sessions echo.
//! 4. A `Sec-WebSocket-Key` that is not the base64 of 16 bytes: 400, and the polling session
//!    of that sid goes on.
//! 5. One POST of 200,000 tiny v4 packets (or 100,000 v3 packets) within `maxPayload`: taken,
//!    and every message echoed.

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use engineio_tests::{Runtime, ServerProcess};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as Ws;
use wire::*;

engineio_tests::runtime_tests!(
    close_packet_with_a_parked_get,
    second_websocket_after_upgrade,
    second_websocket_while_upgrading,
    upgrade_frames_come_before_a_later_get,
    invalid_websocket_key,
    many_tiny_packets_v4,
    many_tiny_packets_v3
);

/// The same tests against the reference server: `reference::NAME` runs `NAME_on` against
/// the Node `engine.io` server.
macro_rules! reference_tests {
    ($($name:ident => $on:ident),+ $(,)?) => {
        mod reference {
            $(
                #[test]
                fn $name() {
                    super::$on(&engineio_tests::ServerProcess::node_engineio(&[]));
                }
            )+
        }
    };
}

reference_tests!(
    close_packet_with_a_parked_get => close_packet_with_a_parked_get_on,
    second_websocket_after_upgrade => second_websocket_after_upgrade_on,
    second_websocket_while_upgrading => second_websocket_while_upgrading_on,
    upgrade_frames_come_before_a_later_get => upgrade_frames_come_before_a_later_get_on,
    invalid_websocket_key => invalid_websocket_key_on,
    many_tiny_packets_v4 => many_tiny_packets_v4_on,
    many_tiny_packets_v3 => many_tiny_packets_v3_on,
);

/// Our echo server on `rt`, accepting v3 too (as the reference server of these tests does).
fn ours(rt: Runtime) -> ServerProcess {
    ServerProcess::echo(rt, &["--allow-eio3"])
}

/// The bound on a request that carries or answers hundreds of thousands of packets (debug
/// builds, tests in parallel on two cores).
const SLOW: Duration = Duration::from_secs(60);

fn ws_url(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=websocket&sid={sid}")
}

/// A polling session upgraded to a WebSocket (`2probe`, `3probe`, `5`).
async fn upgraded(addr: SocketAddr) -> (String, WsStream) {
    let (sid, _) = handshake(addr).await;
    let mut ws = ws_connect(addr, &ws_url(&sid)).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws, "3probe").await.as_deref(), Some("3probe"));
    ws_send(&mut ws, "5").await;
    (sid, ws)
}

/// Sends a message on `ws` and expects its echo, skipping pings (answered).
async fn ws_echo(ws: &mut WsStream, text: &str) {
    ws_send(ws, &format!("4{text}")).await;
    loop {
        match ws_text(ws, "an echo").await.as_deref() {
            Some("2") => ws_send(ws, "3").await,
            Some(t) => {
                assert_eq!(t, format!("4{text}"), "the echo");
                return;
            }
            None => panic!("the WebSocket closed instead of echoing {text:?}"),
        }
    }
}

/// Opens a WebSocket that the server must accept (`101`) and then close at once.
async fn accepted_then_closed(addr: SocketAddr, sid: &str) {
    let mut other = ws_connect(addr, &ws_url(sid)).await;
    let next = bounded("the second WebSocket's close", WAIT, other.next()).await;
    match next {
        Some(Ok(Ws::Close(_))) | None => {}
        other => panic!("the second WebSocket got {other:?} instead of a close"),
    }
}

// ---- 1 ---------------------------------------------------------------------------------------

fn close_packet_with_a_parked_get(rt: Runtime) {
    close_packet_with_a_parked_get_on(&ours(rt));
}

fn close_packet_with_a_parked_get_on(server: &ServerProcess) {
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let url = sid_url(&sid);
        let parked = tokio::spawn({
            let url = url.clone();
            async move { get(addr, &url).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!parked.is_finished(), "the GET was answered at once");
        let r = post(addr, &url, "1").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "ok"),
            "the POST: {r:?}"
        );
        let parked = bounded("the parked GET", WAIT, parked).await.expect("task");
        assert_eq!(parked.status, 200, "the parked GET: {parked:?}");
        assert_eq!(parked.text(), "6", "the parked GET gets a noop");
        get(addr, &url)
            .await
            .assert_error("a GET after the close", 400, 1, "Session ID unknown");
    });
}

// ---- 2 ---------------------------------------------------------------------------------------

fn second_websocket_after_upgrade(rt: Runtime) {
    second_websocket_after_upgrade_on(&ours(rt));
}

fn second_websocket_after_upgrade_on(server: &ServerProcess) {
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, mut ws) = upgraded(addr).await;
        ws_echo(&mut ws, "before").await;
        accepted_then_closed(addr, &sid).await;
        ws_echo(&mut ws, "after").await;
    });
}

fn second_websocket_while_upgrading(rt: Runtime) {
    second_websocket_while_upgrading_on(&ours(rt));
}

fn second_websocket_while_upgrading_on(server: &ServerProcess) {
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, _) = handshake(addr).await;
        let mut ws = ws_connect(addr, &ws_url(&sid)).await;
        ws_send(&mut ws, "2probe").await;
        assert_eq!(ws_text(&mut ws, "3probe").await.as_deref(), Some("3probe"));
        accepted_then_closed(addr, &sid).await;
        // The first upgrade completes as if nothing happened.
        ws_send(&mut ws, "5").await;
        ws_echo(&mut ws, "upgraded").await;
    });
}

// ---- 3 ---------------------------------------------------------------------------------------

/// Sessions echoing over WebSocket as fast as they can, until `stop`.
fn background_load(addr: SocketAddr, sessions: usize) -> tokio::sync::watch::Sender<bool> {
    let (stop, watch) = tokio::sync::watch::channel(false);
    for i in 0..sessions {
        let watch = watch.clone();
        tokio::spawn(async move {
            let (_, mut ws) = upgraded(addr).await;
            let mut n = 0u64;
            while !*watch.borrow() {
                ws_echo(&mut ws, &format!("load {i} {n}")).await;
                n += 1;
            }
            let _ = ws.close(None).await;
        });
    }
    stop
}

fn upgrade_frames_come_before_a_later_get(rt: Runtime) {
    upgrade_frames_come_before_a_later_get_on(&ours(rt));
}

fn upgrade_frames_come_before_a_later_get_on(server: &ServerProcess) {
    let addr = server.addr;
    // Several threads, so the load runs while the checked session waits.
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    client.block_on(async {
        let stop = background_load(addr, 8);
        for round in 0..200 {
            let (sid, mut ws) = upgraded(addr).await;
            // `5` is written; the GET goes out on another connection right after.
            let r = get(addr, &sid_url(&sid)).await;
            assert_eq!(
                r.status, 400,
                "round {round}: a GET after `5` was answered as if the session still polled: {r:?}"
            );
            ws_echo(&mut ws, "still here").await;
            let _ = ws.close(None).await;
        }
        stop.send_replace(true);
    });
}

// ---- 4 ---------------------------------------------------------------------------------------

fn invalid_websocket_key(rt: Runtime) {
    invalid_websocket_key_on(&ours(rt));
}

fn invalid_websocket_key_on(server: &ServerProcess) {
    let addr = server.addr;
    client_runtime().block_on(async {
        let upgrade = |key: &'static str| {
            [
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", key),
            ]
        };
        let (sid, _) = handshake(addr).await;
        for key in [
            "not-a-valid-key",
            "dGhlIHNhbXBsZSBub25jZQ",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            let r = http(addr, "GET", &ws_url(&sid), &upgrade(key), "").await;
            assert_eq!(r.status, 400, "key {key:?}: {r:?}");
            // A handshake without a session is refused the same way.
            let target = "/engine.io/?EIO=4&transport=websocket";
            let r = http(addr, "GET", target, &upgrade(key), "").await;
            assert_eq!(r.status, 400, "handshake with key {key:?}: {r:?}");
        }
        // The polling session goes on.
        let r = post(addr, &sid_url(&sid), "4still polling").await;
        assert_eq!(r.text(), "ok");
        assert_eq!(poll_message(addr, &sid).await, "4still polling");
    });
}

// ---- 5 ---------------------------------------------------------------------------------------

fn many_tiny_packets_v4(rt: Runtime) {
    many_tiny_packets_v4_on(&ours(rt));
}

fn many_tiny_packets_v4_on(server: &ServerProcess) {
    const N: usize = 200_000;
    let addr = server.addr;
    client_runtime().block_on(async {
        let (sid, open) = handshake(addr).await;
        let body = vec!["4a"; N].join("\u{1e}");
        assert!(body.len() as u64 <= open["maxPayload"].as_u64().expect("maxPayload"));
        let url = sid_url(&sid);
        let r = post_within(SLOW, addr, &url, &body).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "ok"),
            "{N} packets of `4a`"
        );
        let mut echoed = 0;
        let mut pongs = tokio::task::JoinSet::new();
        bounded("every echo", SLOW, async {
            while echoed < N {
                let r = get(addr, &url).await;
                assert_eq!(r.status, 200, "poll after {echoed} echoes: {r:?}");
                for p in packets(&r.text()) {
                    match p.as_str() {
                        "4a" => echoed += 1,
                        // Sent beside the polls, as a browser does: while the application
                        // still has messages to take, the server holds a POST's answer.
                        "2" => {
                            let url = url.clone();
                            pongs.spawn(async move { post_within(SLOW, addr, &url, "3").await });
                        }
                        "6" => {}
                        other => panic!("unexpected packet {other:?} after {echoed} echoes"),
                    }
                }
            }
        })
        .await;
        assert_eq!(echoed, N);
        while let Some(r) = pongs.join_next().await {
            assert_eq!(r.expect("a pong task").text(), "ok");
        }
    });
}

fn many_tiny_packets_v3(rt: Runtime) {
    many_tiny_packets_v3_on(&ours(rt));
}

/// The packets of a v3 text payload (`<length>:<packet>`...; ASCII here, so the UTF-16 length
/// is the byte length).
fn v3_packets(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':').expect("a v3 length");
        let len: usize = len.parse().expect("a v3 length");
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    out
}

fn many_tiny_packets_v3_on(server: &ServerProcess) {
    const N: usize = 100_000;
    let addr = server.addr;
    client_runtime().block_on(async {
        let r = get(addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        assert_eq!(r.status, 200, "v3 handshake: {r:?}");
        let text = r.text();
        let open = v3_packets(&text)[0];
        let json: serde_json::Value =
            serde_json::from_str(open.strip_prefix('0').expect("an open packet")).expect("JSON");
        let sid = json["sid"].as_str().expect("sid").to_owned();
        let url = format!("/engine.io/?EIO=3&transport=polling&b64=1&sid={sid}");
        let body = "2:4a".repeat(N);
        let r = post_within(SLOW, addr, &url, &body).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "ok"),
            "{N} packets of `2:4a`"
        );
        let mut echoed = 0;
        bounded("every echo", SLOW, async {
            while echoed < N {
                let r = get(addr, &url).await;
                assert_eq!(r.status, 200, "poll after {echoed} echoes: {r:?}");
                for p in v3_packets(&r.text()) {
                    match p {
                        "4a" => echoed += 1,
                        "6" => {}
                        other => panic!("unexpected packet {other:?} after {echoed} echoes"),
                    }
                }
            }
        })
        .await;
        assert_eq!(echoed, N);
    });
}
