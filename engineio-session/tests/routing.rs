//! Routing and verification of requests before any session is involved: error codes 0 to 5,
//! statuses, JSON bodies, the handshake, `allow_request`, shutdown.

mod support;

use engineio_session::proto::{Packet, ProtocolVersion, Transport};
use engineio_session::{
    Instant, ReqId, RequestKind, Route, Server, ServerConfig, ServerEvent, Sid, Transmit,
    Transports, Verdict,
};
use support::*;

fn server() -> Server {
    Server::new(ServerConfig {
        seed: Some(3),
        ..ServerConfig::default()
    })
}

#[test]
fn other_paths_pass_and_the_path_matches_with_and_without_slash() {
    let mut s = server();
    assert!(matches!(
        route(&mut s, "GET", "/socket.io/?EIO=4&transport=polling", &[]),
        Route::Pass
    ));
    assert!(matches!(
        route(&mut s, "GET", "/engine.io/x?EIO=4&transport=polling", &[]),
        Route::Pass
    ));
    assert!(matches!(
        route(&mut s, "GET", "/engine.io/?EIO=4&transport=polling", &[]),
        Route::Handshake(_)
    ));
    assert!(matches!(
        route(&mut s, "GET", "/engine.io?EIO=4&transport=polling", &[]),
        Route::Handshake(_)
    ));
    let mut custom = Server::new(ServerConfig {
        path: "/rt".into(),
        ..ServerConfig::default()
    });
    assert!(matches!(
        route(&mut custom, "GET", "/rt/?EIO=4&transport=polling", &[]),
        Route::Handshake(_)
    ));
}

#[test]
fn unknown_or_disabled_transport_is_code_0() {
    let mut s = server();
    for q in [
        "EIO=4",
        "EIO=4&transport=",
        "EIO=4&transport=xhr",
        "EIO=4&transport=__proto__",
        "EIO=4&transport=webtransport",
    ] {
        let r = respond(route(&mut s, "GET", &format!("/engine.io/?{q}"), &[]));
        assert_eq!((r.status().as_u16(), error_code(&r)), (400, 0), "{q}");
        assert_eq!(r.body(), r#"{"code":0,"message":"Transport unknown"}"#);
        assert_eq!(
            header(r.headers(), "content-type"),
            Some("application/json")
        );
    }
    let mut ws_only = Server::new(ServerConfig {
        transports: Transports {
            polling: false,
            websocket: true,
        },
        ..ServerConfig::default()
    });
    let r = respond(route(
        &mut ws_only,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[],
    ));
    assert_eq!(error_code(&r), 0);
    assert_eq!(
        ws_only.poll_event(),
        Some(ServerEvent::ConnectionError {
            code: engineio_session::proto::ErrorCode::UnknownTransport,
            context: "UNKNOWN_TRANSPORT"
        })
    );
}

#[test]
fn eio_must_be_exactly_4_or_3_and_3_only_when_allowed() {
    let mut s = server();
    for eio in ["", "EIO=&", "EIO=5&", "EIO=abc&", "EIO=04&", "EIO=3&"] {
        let r = respond(route(
            &mut s,
            "GET",
            &format!("/engine.io/?{eio}transport=polling"),
            &[],
        ));
        assert_eq!((r.status().as_u16(), error_code(&r)), (400, 5), "{eio}");
        assert_eq!(
            r.body(),
            r#"{"code":5,"message":"Unsupported protocol version"}"#
        );
    }
    let mut v3 = Server::new(ServerConfig {
        allow_eio3: true,
        ..ServerConfig::default()
    });
    let Route::Handshake(hs) = route(&mut v3, "GET", "/engine.io/?EIO=3&transport=polling", &[])
    else {
        panic!("v3 refused")
    };
    assert_eq!(hs.version(), ProtocolVersion::V3);
    let r = respond(route(
        &mut v3,
        "GET",
        "/engine.io/?EIO=2&transport=polling",
        &[],
    ));
    assert_eq!(error_code(&r), 5);
}

#[test]
fn handshake_must_be_get_and_websocket_needs_an_upgrade() {
    let mut s = server();
    let r = respond(route(
        &mut s,
        "POST",
        "/engine.io/?EIO=4&transport=polling",
        &[],
    ));
    assert_eq!((r.status().as_u16(), error_code(&r)), (400, 2));
    assert_eq!(r.body(), r#"{"code":2,"message":"Bad handshake method"}"#);
    let r = respond(route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=websocket",
        &[],
    ));
    assert_eq!(error_code(&r), 3);
    // An upgrade request that names polling is refused before any 101.
    let r = respond(route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("upgrade", "websocket")],
    ));
    assert_eq!(error_code(&r), 3);
    let ok = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=websocket",
        &[("upgrade", "WebSocket"), ("connection", "Upgrade")],
    );
    assert!(matches!(ok, Route::Handshake(h) if h.transport() == Transport::Websocket));
}

#[test]
fn origin_with_control_characters_cannot_reach_the_router() {
    // The reference answers code 3 to an Origin with control characters. With `http` types
    // such a value cannot even be built (hyper refuses the request line first); the machine
    // keeps its own check for hosts that build heads another way (unit-tested in headers.rs).
    for bad in [&b"http://a\x01b"[..], b"http://a\x7fb", b"a\nb", b"a\rb"] {
        assert!(http::HeaderValue::from_bytes(bad).is_err());
    }
    let mut s = server();
    let ok = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("origin", "http://a\tb")],
    );
    assert!(matches!(ok, Route::Handshake(_)));
}

#[test]
fn bad_queries_are_code_3() {
    let mut s = server();
    for q in [
        "EIO=4&transport=polling&transport=polling",
        "EIO=3&transport=polling&j=abc",
        "EIO=4&transport=polling&sid=a&sid=b",
    ] {
        let r = respond(route(&mut s, "GET", &format!("/engine.io/?{q}"), &[]));
        assert_eq!(error_code(&r), 3, "{q}");
    }
}

#[test]
fn requests_with_a_sid_go_to_the_session_or_are_code_1() {
    let mut s = server();
    let Route::Session { sid, request } = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling&sid=abc_DEF-123",
        &[],
    ) else {
        panic!()
    };
    assert_eq!(sid, Sid::new("abc_DEF-123").unwrap());
    assert_eq!(request.kind(), RequestKind::Get);
    // The host has no session with that sid: code 1.
    let r = s.unknown_session(Instant::ZERO, sid, &request);
    assert_eq!((r.status().as_u16(), error_code(&r)), (400, 1));
    assert_eq!(r.body(), r#"{"code":1,"message":"Session ID unknown"}"#);
    // Sids that cannot be ours (`__proto__` is fine as a sid shape but unknown to any host;
    // characters outside the alphabet or overlong ones are refused at once).
    for sid in ["a%20b", "%00", &"x".repeat(33)] {
        let r = respond(route(
            &mut s,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            &[],
        ));
        assert_eq!(error_code(&r), 1, "{sid}");
    }
    let Route::Session { request, .. } = route(
        &mut s,
        "POST",
        "/engine.io/?EIO=4&transport=polling&sid=x",
        &[("content-type", "application/octet-stream")],
    ) else {
        panic!()
    };
    assert_eq!(request.kind(), RequestKind::Post { binary: true });
    let r = respond(route(
        &mut s,
        "PUT",
        "/engine.io/?EIO=4&transport=polling&sid=x",
        &[],
    ));
    assert_eq!((r.status().as_u16(), error_code(&r)), (400, 3));
    let r = respond(route(
        &mut s,
        "DELETE",
        "/engine.io/?EIO=4&transport=polling",
        &[],
    ));
    assert_eq!(error_code(&r), 2);
}

#[test]
fn allow_request_verdicts() {
    let mut s = Server::new(ServerConfig {
        allow_request: true,
        ..ServerConfig::default()
    });
    let Route::Handshake(hs) = route(&mut s, "GET", "/engine.io/?EIO=4&transport=polling", &[])
    else {
        panic!()
    };
    assert!(hs.needs_verdict());
    while s.poll_event().is_some() {}
    let r = s
        .accept(
            Instant::ZERO,
            hs.clone(),
            ReqId(1),
            Verdict::Deny(Some("no \"token\"".into())),
        )
        .unwrap_err();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.body(), r#"{"code":4,"message":"no \"token\""}"#);
    let r = s
        .accept(Instant::ZERO, hs.clone(), ReqId(1), Verdict::Deny(None))
        .unwrap_err();
    assert_eq!(r.body(), r#"{"code":4,"message":"Forbidden"}"#);
    assert!(s
        .accept(Instant::ZERO, hs, ReqId(1), Verdict::Allow)
        .is_ok());
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert_eq!(events.len(), 3);
    assert!(matches!(
        events[2],
        ServerEvent::Connection {
            transport: Transport::Polling,
            ..
        }
    ));
    // Off by default.
    let mut plain = server();
    let Route::Handshake(hs) = route(
        &mut plain,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[],
    ) else {
        panic!()
    };
    assert!(!hs.needs_verdict());
}

#[test]
fn polling_handshake_response() {
    let h = Host::polling(ServerConfig::default());
    let mut h = h;
    let r = h.response(ReqId(0)).expect("handshake answered at once");
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(r.headers(), "content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(header(r.headers(), "cache-control"), Some("no-store"));
    assert_eq!(
        header(r.headers(), "content-length"),
        Some(r.body().len().to_string().as_str())
    );
    let expected = format!(
        r#"0{{"sid":"{}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#,
        h.sid
    );
    assert_eq!(std::str::from_utf8(r.body()).unwrap(), expected);
    assert_eq!(h.sid.as_str().len(), 20);
}

#[test]
fn upgrades_are_offered_only_when_possible() {
    for (config, offered) in [
        (ServerConfig::default(), true),
        (
            ServerConfig {
                allow_upgrades: false,
                ..ServerConfig::default()
            },
            false,
        ),
        (
            ServerConfig {
                transports: Transports {
                    polling: true,
                    websocket: false,
                },
                ..ServerConfig::default()
            },
            false,
        ),
    ] {
        let mut h = Host::polling(config);
        let packets = h.packets(ReqId(0)).unwrap();
        let Packet::Open(json) = &packets[0] else {
            panic!()
        };
        let hs = engineio_session::proto::Handshake::from_json(json).unwrap();
        assert_eq!(hs.upgrades == [Transport::Websocket], offered);
    }
}

#[test]
fn initial_packet_follows_the_open_packet() {
    let mut h = Host::polling(ServerConfig {
        initial_packet: Some("welcome".into()),
        ..ServerConfig::default()
    });
    let packets = h.packets(ReqId(0)).unwrap();
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1], Packet::text("welcome"));
}

#[test]
fn websocket_handshake_accepts_then_sends_open_without_upgrades() {
    let mut s = Server::new(ServerConfig {
        seed: Some(9),
        ..ServerConfig::default()
    });
    let Route::Handshake(hs) = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=websocket",
        &[("upgrade", "websocket")],
    ) else {
        panic!()
    };
    let (sid, mut session) = s
        .accept(Instant::ZERO, hs, ReqId(5), Verdict::Allow)
        .unwrap();
    assert!(matches!(
        session.poll_transmit(),
        Some(Transmit::AcceptWebSocket { req: ReqId(5), .. })
    ));
    let Some(Transmit::WsFrame {
        ws: ReqId(5),
        frame,
        ..
    }) = session.poll_transmit()
    else {
        panic!()
    };
    let p = frame.decode(ProtocolVersion::V4, usize::MAX).unwrap();
    let Packet::Open(json) = p else { panic!() };
    assert_eq!(
        json.as_str(),
        format!(
            r#"{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        )
    );
    assert_eq!(session.transport(), Transport::Websocket);
}

#[test]
fn shutdown_refuses_new_sessions() {
    let mut s = server();
    s.shutdown();
    let r = respond(route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[],
    ));
    assert_eq!(r.status().as_u16(), 503);
}

#[test]
fn seeded_sids_replay_and_custom_generators_plug_in() {
    let sids = |seed| {
        let mut s = Server::new(ServerConfig {
            seed: Some(seed),
            ..ServerConfig::default()
        });
        (0..3)
            .map(|i| {
                let Route::Handshake(hs) =
                    route(&mut s, "GET", "/engine.io/?EIO=4&transport=polling", &[])
                else {
                    panic!()
                };
                s.accept(Instant::ZERO, hs, ReqId(i), Verdict::Allow)
                    .unwrap()
                    .0
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sids(1), sids(1));
    assert_ne!(sids(1), sids(2));
    let all = sids(1);
    assert!(all[0] != all[1] && all[1] != all[2]);
    let mut n = 0;
    let mut s = Server::with_sid_generator(ServerConfig::default(), move || {
        n += 1;
        Sid::new(&format!("node1-{n}")).unwrap()
    });
    let Route::Handshake(hs) = route(&mut s, "GET", "/engine.io/?EIO=4&transport=polling", &[])
    else {
        panic!()
    };
    assert_eq!(
        s.accept(Instant::ZERO, hs, ReqId(0), Verdict::Allow)
            .unwrap()
            .0
            .as_str(),
        "node1-1"
    );
}

#[test]
fn a_sid_prefix_leads_every_generated_sid_and_routes() {
    let prefix = engineio_session::SidPrefix::new("n2-").unwrap();
    let mut s = Server::new(ServerConfig {
        sid_prefix: Some(prefix),
        seed: Some(3),
        ..ServerConfig::default()
    });
    let mut unprefixed = server();
    for i in 0..50 {
        let Route::Handshake(hs) = route(&mut s, "GET", "/engine.io/?EIO=4&transport=polling", &[])
        else {
            panic!()
        };
        let (sid, mut session) = s
            .accept(Instant::ZERO, hs, ReqId(i), Verdict::Allow)
            .unwrap();
        // The random part is the one an unprefixed server with the same seed generates.
        let Route::Handshake(hs) = route(
            &mut unprefixed,
            "GET",
            "/engine.io/?EIO=4&transport=polling",
            &[],
        ) else {
            panic!()
        };
        let (plain, _) = unprefixed
            .accept(Instant::ZERO, hs, ReqId(i), Verdict::Allow)
            .unwrap();
        assert_eq!(sid.as_str(), format!("n2-{plain}"));
        let Some(Transmit::Respond { response, .. }) = session.poll_transmit() else {
            panic!()
        };
        assert!(response
            .body()
            .starts_with(format!("0{{\"sid\":\"n2-{plain}\"").as_bytes()));
        // A request of that session is routed to it by its sid.
        let r = route(
            &mut s,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            &[],
        );
        assert!(
            matches!(r, Route::Session { sid: routed, .. } if routed == sid),
            "{r:?}"
        );
    }
    // The longest prefix still leaves the whole random part.
    let long = engineio_session::SidPrefix::new("abcdefghijk-").unwrap();
    let sid = long.apply(Sid::new("lv_VI97HAXpY6yYWAAAC").unwrap());
    assert_eq!(sid.as_str(), "abcdefghijk-lv_VI97HAXpY6yYWAAAC");
    for bad in ["", "n 1", "n1.", "thirteen-long", "é"] {
        assert!(engineio_session::SidPrefix::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_late_post_of_a_session_the_server_closed_gets_ok_for_a_ping_timeout() {
    use engineio_session::CloseReason;
    let mut s = Server::new(ServerConfig {
        ping_timeout: ms(1000),
        seed: Some(3),
        ..ServerConfig::default()
    });
    let post = |s: &mut Server, sid: &str| {
        let Route::Session { sid, request } = route(
            s,
            "POST",
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            &[],
        ) else {
            panic!()
        };
        (sid, request)
    };
    let get = |s: &mut Server, sid: &str| {
        let Route::Session { sid, request } = route(
            s,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            &[],
        ) else {
            panic!()
        };
        (sid, request)
    };
    let status = |r: http::Response<bytes::Bytes>| (r.status().as_u16(), r.into_body());
    // Closed by the server on polling: a late POST is taken, a GET is not.
    for reason in [CloseReason::ServerShuttingDown, CloseReason::ForcedClose] {
        let name = format!("closed{}", reason.as_str().len());
        s.session_ended(at(0), Sid::new(&name).unwrap(), reason, Transport::Polling);
        let (sid, req) = post(&mut s, &name);
        assert_eq!(
            status(s.unknown_session(at(999), sid, &req)),
            (200, bytes::Bytes::from("ok"))
        );
        let (sid, req) = get(&mut s, &name);
        assert_eq!(s.unknown_session(at(999), sid, &req).status(), 400);
        // Not after the ping timeout.
        let (sid, req) = post(&mut s, &name);
        assert_eq!(s.unknown_session(at(1000), sid, &req).status(), 400);
    }
    // Closed by the client or the network, or on WebSocket: the reference's 400.
    s.session_ended(
        at(0),
        Sid::new("gone").unwrap(),
        CloseReason::TransportClose,
        Transport::Polling,
    );
    s.session_ended(
        at(0),
        Sid::new("pingto").unwrap(),
        CloseReason::PingTimeout,
        Transport::Polling,
    );
    s.session_ended(
        at(0),
        Sid::new("ws").unwrap(),
        CloseReason::ServerShuttingDown,
        Transport::Websocket,
    );
    for name in ["gone", "pingto", "ws", "never"] {
        let (sid, req) = post(&mut s, name);
        let r = s.unknown_session(at(1), sid, &req);
        assert_eq!((r.status().as_u16(), error_code(&r)), (400, 1), "{name}");
    }
    // Bounded: the oldest is forgotten first.
    for i in 0..=Server::MAX_LINGERING {
        let sid = Sid::new(&format!("s{i}")).unwrap();
        s.session_ended(
            at(2),
            sid,
            CloseReason::ServerShuttingDown,
            Transport::Polling,
        );
    }
    let (sid, req) = post(&mut s, "s0");
    assert_eq!(s.unknown_session(at(3), sid, &req).status(), 400);
    let (sid, req) = post(&mut s, "s1");
    assert_eq!(s.unknown_session(at(3), sid, &req).status(), 200);
}

#[test]
fn a_websocket_from_an_origin_cors_does_not_allow_is_refused() {
    // python-engineio's CVE-2019-13611: a browser applies no CORS to a WebSocket, so a page of
    // any origin could open one with the user's cookies. Where CORS lists the allowed origins,
    // a WebSocket handshake or upgrade from another origin is refused with code 4.
    use engineio_session::{CorsConfig, CorsOrigin, OriginPredicate};
    let ws = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let with_origin = |origin: &'static str| {
        let mut h = ws.to_vec();
        h.push(("origin", origin));
        h
    };
    let listed = CorsOrigin::List(vec!["https://app.example".into()]);
    let predicate = CorsOrigin::Predicate(OriginPredicate::new(|o| o.ends_with(".app.example")));
    for (origin, good, bad) in [
        (listed, "https://app.example", "https://evil.example"),
        (
            predicate,
            "https://a.app.example",
            "https://app.example.evil",
        ),
    ] {
        let mut s = Server::new(ServerConfig {
            cors: Some(CorsConfig {
                origin,
                ..CorsConfig::default()
            }),
            ..ServerConfig::default()
        });
        let handshake = "/engine.io/?EIO=4&transport=websocket";
        let r = respond(route(&mut s, "GET", handshake, &with_origin(bad)));
        assert_eq!((r.status().as_u16(), error_code(&r)), (403, 4), "{bad}");
        assert_eq!(r.body(), r#"{"code":4,"message":"Forbidden"}"#);
        assert_eq!(header(r.headers(), "access-control-allow-origin"), None);
        // An upgrade of an existing session is refused the same way, before the session.
        let upgrade = "/engine.io/?EIO=4&transport=websocket&sid=abc";
        let r = respond(route(&mut s, "GET", upgrade, &with_origin(bad)));
        assert_eq!(error_code(&r), 4);
        for _ in 0..2 {
            assert!(matches!(
                s.poll_event(),
                Some(ServerEvent::ConnectionError {
                    context: "ORIGIN_NOT_ALLOWED",
                    ..
                })
            ));
        }
        // The allowed origin, and a client that sends none (not a browser), go through.
        let ok = route(&mut s, "GET", handshake, &with_origin(good));
        assert!(matches!(ok, Route::Handshake(_)), "{good}");
        assert!(matches!(
            route(&mut s, "GET", handshake, &ws),
            Route::Handshake(_)
        ));
        assert!(matches!(
            route(&mut s, "GET", upgrade, &with_origin(good)),
            Route::Session { .. }
        ));
        // Polling keeps the reference's CORS: the browser itself refuses to read the answer,
        // which carries no Access-Control-Allow-Origin.
        let polling = "/engine.io/?EIO=4&transport=polling";
        assert!(matches!(
            route(&mut s, "GET", polling, &[("origin", bad)]),
            Route::Handshake(_)
        ));
    }
    // CORS that allows any origin (or none configured) refuses no WebSocket, as the reference.
    for cors in [Some(CorsConfig::default()), None] {
        let mut s = Server::new(ServerConfig {
            cors,
            ..ServerConfig::default()
        });
        let r = route(
            &mut s,
            "GET",
            "/engine.io/?EIO=4&transport=websocket",
            &with_origin("https://evil.example"),
        );
        assert!(matches!(r, Route::Handshake(_)));
    }
}
