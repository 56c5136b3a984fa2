//! The reference server's API beyond messages: `connection_error`, `headers` and
//! `initial_headers` as hooks, the clients view (`clients`, `clientsCount`), and a socket's
//! state (`readyState`, `upgraded`, `upgrading`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engineio_driver::proto::{ErrorCode, Message, ProtocolVersion};
use engineio_driver::{
    Client, ClientSocketEvent, ConnectionError, EngineIo, ReadyState, ServerConfig, Sid,
    SocketError, SocketEvent,
};
use http::HeaderValue;

use crate::harness::{serve, timeout, TestRuntime};
use crate::loopback::client_config;

const WAIT: Duration = Duration::from_secs(10);

/// One GET on a new connection: the whole response, head (lowercased) and body.
async fn get<R: TestRuntime>(addr: SocketAddr, target: &str) -> String {
    let (head, body) = crate::harness::raw_get::<R>(addr, target, "X-Probe: hook\r\n").await;
    format!("{}\r\n\r\n{body}", head.to_ascii_lowercase())
}

pub async fn hooks_see_refusals_and_edit_headers<R: TestRuntime>() {
    let refused: Arc<Mutex<Vec<ConnectionError>>> = Arc::default();
    let seen = refused.clone();
    let (engine, _connections) = EngineIo::<R>::builder(ServerConfig::default())
        .on_connection_error(move |e| seen.lock().unwrap().push(e))
        .on_headers(|info, headers| {
            let name = if info.initial {
                "x-initial"
            } else {
                "x-session"
            };
            let probe = info.request.headers.get("x-probe").cloned();
            headers.insert(name, probe.unwrap_or(HeaderValue::from_static("none")));
        })
        .build();
    let addr = serve(engine.clone()).await;

    // Refusals reach the hook with their request; their answers are not edited.
    let r = get::<R>(addr, "/engine.io/?EIO=4&transport=polling&sid=nope").await;
    assert!(r.starts_with("http/1.1 400"), "{r}");
    assert!(!r.contains("x-session") && !r.contains("x-initial"), "{r}");
    let r = get::<R>(addr, "/engine.io/?EIO=4&transport=bogus").await;
    assert!(r.starts_with("http/1.1 400"), "{r}");
    {
        let refused = refused.lock().unwrap();
        let codes: Vec<ErrorCode> = refused.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [ErrorCode::UnknownSid, ErrorCode::UnknownTransport],
            "{refused:?}"
        );
        assert_eq!(refused[0].message, "Session ID unknown");
        assert!(refused[0].request.uri.to_string().contains("sid=nope"));
        assert_eq!(refused[0].request.headers["x-probe"], "hook");
        assert!(refused[0].request.remote_addr.is_some());
    }

    // The handshake's answer is `initial`; the session's next ones are not.
    let r = get::<R>(addr, "/engine.io/?EIO=4&transport=polling").await;
    assert!(r.starts_with("http/1.1 200"), "{r}");
    assert!(r.contains("x-initial: hook"), "{r}");
    let sid = crate::harness::sid_of(&r);
    // A GET that finds a message waiting answers at once.
    let sender = engine
        .client(Sid::new(&sid).expect("a sid"))
        .expect("the session");
    sender.send("hi").await.expect("send");
    let r = get::<R>(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert!(r.starts_with("http/1.1 200"), "{r}");
    assert!(
        r.contains("x-session: hook") && !r.contains("x-initial"),
        "{r}"
    );
    assert_eq!(refused.lock().unwrap().len(), 2);
}

pub async fn clients_view_and_socket_state<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::new(ServerConfig::default());
    let url = format!("http://{}", serve(engine.clone()).await);
    assert_eq!(engine.clients_count(), 0);
    let polling = Client::<R>::connect(client_config(&url, "polling", ProtocolVersion::V4))
        .await
        .expect("handshake");
    let mut polling_socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    let mut upgrading = Client::<R>::connect(client_config(&url, "upgrade", ProtocolVersion::V4))
        .await
        .expect("handshake");
    let mut upgrading_socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    assert_eq!(engine.clients_count(), 2);
    let mut sids: Vec<String> = engine
        .clients()
        .iter()
        .map(|s| s.sid().to_string())
        .collect();
    sids.sort();
    let mut expected = vec![polling.sid().to_owned(), upgrading.sid().to_owned()];
    expected.sort();
    assert_eq!(sids, expected);

    // A session found by its id sends like its own socket.
    let found = engine
        .client(Sid::new(upgrading.sid()).unwrap())
        .expect("found by sid");
    found.send("via the clients view").await.expect("send");
    loop {
        match timeout::<R, _>(WAIT, upgrading.recv()).await.flatten() {
            Some(ClientSocketEvent::Message(m)) => {
                assert_eq!(m, Message::from("via the clients view"));
                break;
            }
            Some(ClientSocketEvent::Closed { .. }) | None => panic!("closed"),
            Some(_) => {}
        }
    }

    // `upgraded` once the upgrade is done; never on a polling-only session.
    loop {
        match timeout::<R, _>(WAIT, upgrading_socket.recv())
            .await
            .flatten()
        {
            Some(SocketEvent::Upgraded(_)) => break,
            Some(SocketEvent::Closed(r)) => panic!("{r:?}"),
            Some(_) => {}
            None => panic!("no upgrade"),
        }
    }
    assert!(upgrading_socket.is_upgraded());
    assert!(!upgrading_socket.is_upgrading());
    assert!(!polling_socket.is_upgraded());
    assert_eq!(upgrading_socket.ready_state(), ReadyState::Open);

    // Closed: the state says so, and the view forgets it.
    polling.close().await;
    loop {
        match timeout::<R, _>(WAIT, polling_socket.recv()).await.flatten() {
            Some(SocketEvent::Closed(_)) => break,
            Some(_) => {}
            None => panic!("no close"),
        }
    }
    assert_eq!(polling_socket.ready_state(), ReadyState::Closed);
    for _ in 0..100 {
        if engine.clients_count() == 1 {
            break;
        }
        let rt = R::default();
        rt.sleep_until(rt.now() + Duration::from_millis(20)).await;
    }
    assert_eq!(engine.clients_count(), 1);
    assert!(engine.client(Sid::new(polling.sid()).unwrap()).is_none());
}

pub async fn generate_id_chooses_session_ids<R: TestRuntime>() {
    let (engine, mut connections) = EngineIo::<R>::builder(ServerConfig::default())
        .generate_id(|request| {
            // From the request: a header, or an id that is not valid.
            match request.headers.get("x-user") {
                Some(user) => format!("user-{}", user.to_str().unwrap_or("x")),
                None => "not a valid id!".to_owned(),
            }
        })
        .build();
    let url = format!("http://{}", serve(engine.clone()).await);
    let mut config = client_config(&url, "polling", ProtocolVersion::V4);
    config
        .extra_headers
        .insert("x-user", HeaderValue::from_static("ada"));
    let client = Client::<R>::connect(config).await.expect("handshake");
    assert_eq!(client.sid(), "user-ada");
    let socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    assert_eq!(socket.sid().as_str(), "user-ada");
    // The same id again is in use: the server's generator chooses instead, as for an invalid one.
    let mut config = client_config(&url, "polling", ProtocolVersion::V4);
    config
        .extra_headers
        .insert("x-user", HeaderValue::from_static("ada"));
    let again = Client::<R>::connect(config).await.expect("handshake");
    assert_ne!(again.sid(), "user-ada");
    assert_eq!(again.sid().len(), 20);
    let other = Client::<R>::connect(client_config(&url, "polling", ProtocolVersion::V4))
        .await
        .expect("handshake");
    assert_eq!(other.sid().len(), 20, "{}", other.sid());
    assert_eq!(engine.clients_count(), 3);
}

pub async fn send_with_compress_false_skips_http_compression<R: TestRuntime>() {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    let (engine, _connections) = EngineIo::<R>::new(ServerConfig::default());
    let addr = serve(engine.clone()).await;
    let (_, open) =
        crate::harness::raw_get::<R>(addr, "/engine.io/?EIO=4&transport=polling", "").await;
    let sid = crate::harness::sid_of(&open);
    let sender = engine.client(Sid::new(&sid).unwrap()).expect("the session");
    let big = "x".repeat(5000);
    for compress in [false, true] {
        let options = engineio_driver::SendOptions::compress(compress);
        sender.send_with(big.as_str(), options).await.expect("send");
        let mut s = R::default()
            .connect("127.0.0.1", addr.port())
            .await
            .unwrap();
        let request = format!(
            "GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        );
        s.write_all(request.as_bytes()).await.unwrap();
        let mut r = Vec::new();
        timeout::<R, _>(WAIT, s.read_to_end(&mut r))
            .await
            .expect("a response")
            .unwrap();
        let end = r.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
        let head = String::from_utf8_lossy(&r[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(
            head.contains("content-encoding: gzip"),
            compress,
            "compress {compress}: {head}"
        );
    }
}

/// A request a session refuses without closing (a polling GET on a session that runs over
/// WebSocket) is the socket's `error` event and the server's `connection_error`, with the
/// request; the session goes on.
pub async fn a_refused_request_is_a_socket_error_and_a_connection_error<R: TestRuntime>() {
    let refused: Arc<Mutex<Vec<ConnectionError>>> = Arc::default();
    let seen = refused.clone();
    let (engine, mut connections) = EngineIo::<R>::builder(ServerConfig::default())
        .on_connection_error(move |e| seen.lock().unwrap().push(e))
        .build();
    let addr = serve(engine.clone()).await;
    let url = format!("http://{addr}");
    let mut client = Client::<R>::connect(client_config(&url, "websocket", ProtocolVersion::V4))
        .await
        .expect("handshake");
    let mut socket = timeout::<R, _>(WAIT, connections.accept())
        .await
        .flatten()
        .expect("a session");
    let sid = client.sid().to_owned();
    let r = get::<R>(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert!(r.starts_with("http/1.1 400"), "{r}");
    assert!(r.contains(r#""code":3"#), "{r}");
    let error = loop {
        match timeout::<R, _>(WAIT, socket.recv()).await.flatten() {
            Some(SocketEvent::Error(e)) => break e,
            Some(SocketEvent::Closed(r)) => panic!("closed: {r:?}"),
            Some(_) => {}
            None => panic!("no error event"),
        }
    };
    assert_eq!(
        error,
        SocketError::Refused {
            code: ErrorCode::BadRequest,
            context: "TRANSPORT_MISMATCH"
        }
    );
    assert_eq!(
        error.to_string(),
        "request refused with code 3 (TRANSPORT_MISMATCH)"
    );
    {
        let refused = refused.lock().unwrap();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].code, ErrorCode::BadRequest);
        assert_eq!(refused[0].context, "TRANSPORT_MISMATCH");
        assert_eq!(refused[0].message, "Bad request");
        assert!(refused[0].request.uri.to_string().contains(&sid));
        assert_eq!(refused[0].request.headers["x-probe"], "hook");
    }
    // The session goes on.
    assert_eq!(socket.ready_state(), ReadyState::Open);
    socket.send("still here").await.expect("send");
    loop {
        match timeout::<R, _>(WAIT, client.recv()).await.flatten() {
            Some(ClientSocketEvent::Message(m)) => {
                assert_eq!(m, Message::from("still here"));
                break;
            }
            Some(ClientSocketEvent::Closed { .. }) | None => panic!("closed"),
            Some(_) => {}
        }
    }
}
