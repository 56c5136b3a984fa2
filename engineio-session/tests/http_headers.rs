//! CORS, the sticky cookie and compression, as the machine decides them.

mod support;

use std::io::Read;

use engineio_session::proto::Packet;
use engineio_session::{
    CookieConfig, CookiePriority, CorsConfig, CorsOrigin, OriginPredicate, ReqId, Route, SameSite,
    SendOptions, Server, ServerConfig, Transmit,
};
use support::*;

fn cors(origin: CorsOrigin, credentials: bool) -> ServerConfig {
    ServerConfig {
        cors: Some(CorsConfig {
            origin,
            credentials,
            ..CorsConfig::default()
        }),
        ..ServerConfig::default()
    }
}

#[test]
fn preflight_is_answered_204_with_the_allow_headers() {
    let mut s = Server::new(ServerConfig {
        cors: Some(CorsConfig {
            origin: CorsOrigin::Mirror,
            credentials: true,
            max_age: Some(600),
            ..CorsConfig::default()
        }),
        ..ServerConfig::default()
    });
    let r = respond(route(
        &mut s,
        "OPTIONS",
        "/engine.io/?EIO=4&transport=polling",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-headers", "x-token"),
        ],
    ));
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(
        header(h, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(h, "access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(header(h, "access-control-allow-headers"), Some("x-token"));
    assert_eq!(header(h, "access-control-max-age"), Some("600"));
    let vary: Vec<_> = h
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Origin", "Access-Control-Request-Headers"]);
}

#[test]
fn without_cors_options_is_not_a_preflight() {
    let mut s = Server::new(ServerConfig::default());
    let r = respond(route(
        &mut s,
        "OPTIONS",
        "/engine.io/?EIO=4&transport=polling",
        &[("origin", "https://x")],
    ));
    assert_eq!(error_code(&r), 2);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn cors_headers_on_handshake_payload_and_error_responses() {
    let origin = [("origin", "https://app.example")];
    let mut h = Host::open(
        cors(CorsOrigin::Any, false),
        "EIO=4&transport=polling",
        &origin,
    );
    let r = h.response(ReqId(0)).unwrap();
    assert_eq!(
        header(r.headers(), "access-control-allow-origin"),
        Some("*")
    );
    assert!(r
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    let mut s = Server::new(cors(
        CorsOrigin::List(vec!["https://app.example".into()]),
        true,
    ));
    let r = respond(route(
        &mut s,
        "GET",
        "/engine.io/?EIO=5&transport=polling",
        &origin,
    ));
    assert_eq!(
        header(r.headers(), "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(r.headers(), "access-control-allow-credentials"),
        Some("true")
    );
    let r = respond(route(
        &mut s,
        "GET",
        "/engine.io/?EIO=5&transport=polling",
        &[("origin", "https://evil.example")],
    ));
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_eq!(header(r.headers(), "vary"), Some("Origin"));

    // An origin decided by a function (the reference's `cors.origin` as a function).
    let allows = OriginPredicate::new(|o| o.starts_with("https://") && o.ends_with(".example"));
    let mut s = Server::new(cors(CorsOrigin::Predicate(allows), false));
    for (o, allowed) in [
        ("https://app.example", true),
        ("https://evil.other", false),
        ("http://app.example", false),
    ] {
        let r = respond(route(
            &mut s,
            "GET",
            "/engine.io/?EIO=5&transport=polling",
            &[("origin", o)],
        ));
        let expected = allowed.then_some(o);
        assert_eq!(header(r.headers(), "access-control-allow-origin"), expected);
        assert_eq!(header(r.headers(), "vary"), Some("Origin"));
    }

    // Responses from the session carry them too, for the request's own origin.
    let mut s = Server::new(cors(CorsOrigin::Mirror, false));
    let Route::Handshake(hs) = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &origin,
    ) else {
        panic!()
    };
    let (sid, mut session) = s
        .accept(
            engineio_session::Instant::ZERO,
            hs,
            ReqId(0),
            engineio_session::Verdict::Allow,
        )
        .unwrap();
    while session.poll_transmit().is_some() {}
    let Route::Session { request, .. } = route(
        &mut s,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        &[("origin", "https://other.example")],
    ) else {
        panic!()
    };
    session.handle_input(
        engineio_session::Instant::ZERO,
        engineio_session::Input::Request(ReqId(1), request),
    );
    session.send("x").unwrap();
    let Some(Transmit::Respond { response, .. }) = session.poll_transmit() else {
        panic!()
    };
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some("https://other.example")
    );
}

#[test]
fn sticky_cookie_on_the_handshake_only() {
    let mut h = Host::polling(ServerConfig {
        cookie: Some(CookieConfig::default()),
        ..ServerConfig::default()
    });
    let r = h.response(ReqId(0)).unwrap();
    assert_eq!(
        header(r.headers(), "set-cookie"),
        Some(format!("io={}; Path=/; HttpOnly; SameSite=Lax", h.sid).as_str())
    );
    let get = h.get();
    h.session.send("x").unwrap();
    h.drain();
    assert!(h
        .response(get)
        .unwrap()
        .headers()
        .get("set-cookie")
        .is_none());

    let custom = CookieConfig {
        name: "sticky".into(),
        path: Some("/app".into()),
        domain: Some("example.com".into()),
        http_only: false,
        secure: true,
        same_site: Some(SameSite::None),
        max_age: Some(3600),
        expires: Some("Wed, 21 Oct 2026 07:28:00 GMT".into()),
        partitioned: true,
        priority: Some(CookiePriority::High),
    };
    let mut h = Host::polling(ServerConfig {
        cookie: Some(custom),
        ..ServerConfig::default()
    });
    let r = h.response(ReqId(0)).unwrap();
    assert_eq!(
        header(r.headers(), "set-cookie"),
        Some(
            format!(
                "sticky={}; Max-Age=3600; Domain=example.com; Path=/app; \
                 Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; Partitioned; Priority=High; \
                 SameSite=None",
                h.sid
            )
            .as_str()
        )
    );
    // Off by default.
    let mut h = Host::polling(ServerConfig::default());
    assert!(h
        .response(ReqId(0))
        .unwrap()
        .headers()
        .get("set-cookie")
        .is_none());
}

#[test]
fn sticky_cookie_on_a_websocket_handshake() {
    let mut s = Server::new(ServerConfig {
        cookie: Some(CookieConfig::default()),
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
        .accept(
            engineio_session::Instant::ZERO,
            hs,
            ReqId(0),
            engineio_session::Verdict::Allow,
        )
        .unwrap();
    let Some(Transmit::AcceptWebSocket { headers, .. }) = session.poll_transmit() else {
        panic!()
    };
    assert_eq!(
        header(&headers, "set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn large_responses_are_compressed_when_the_client_accepts_it() {
    let accept = [("accept-encoding", "gzip, deflate, br")];
    let mut s = Server::new(ServerConfig::default());
    let Route::Handshake(hs) = route(
        &mut s,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &accept,
    ) else {
        panic!()
    };
    let (sid, mut session) = s
        .accept(
            engineio_session::Instant::ZERO,
            hs,
            ReqId(0),
            engineio_session::Verdict::Allow,
        )
        .unwrap();
    let Some(Transmit::Respond { response, .. }) = session.poll_transmit() else {
        panic!()
    };
    assert!(
        response.headers().get("content-encoding").is_none(),
        "handshake is under the threshold"
    );

    let big = "x".repeat(5000);
    session.send(big.as_str()).unwrap();
    let Route::Session { request, .. } = route(
        &mut s,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        &accept,
    ) else {
        panic!()
    };
    session.handle_input(
        engineio_session::Instant::ZERO,
        engineio_session::Input::Request(ReqId(1), request),
    );
    let Some(Transmit::Respond { response, .. }) = session.poll_transmit() else {
        panic!()
    };
    assert_eq!(header(response.headers(), "content-encoding"), Some("gzip"));
    assert!(response.body().len() < 200);
    assert_eq!(
        header(response.headers(), "content-length"),
        Some(response.body().len().to_string().as_str())
    );
    assert_eq!(gunzip(response.body()), format!("4{big}").as_bytes());

    // Deflate when preferred, nothing when compression is off or not accepted.
    for (config, accept, expected) in [
        (ServerConfig::default(), "deflate", Some("deflate")),
        (ServerConfig::default(), "identity", None),
        (
            ServerConfig {
                http_compression: None,
                ..ServerConfig::default()
            },
            "gzip",
            None,
        ),
    ] {
        let mut h = Host::open(
            config,
            "EIO=4&transport=polling",
            &[("accept-encoding", accept)],
        );
        h.take_transmits();
        // The session remembers the encoding per request: route a real GET.
        let Route::Session { request, .. } = route(
            &mut h.server,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={}", h.sid),
            &[("accept-encoding", accept)],
        ) else {
            panic!()
        };
        h.input(engineio_session::Input::Request(ReqId(9), request));
        h.session.send(big.as_str()).unwrap();
        h.drain();
        let r = h.response(ReqId(9)).unwrap();
        assert_eq!(
            header(r.headers(), "content-encoding"),
            expected,
            "{accept}"
        );
    }
    let _ = Packet::Noop;
}

#[test]
fn messages_sent_without_compress_go_uncompressed_unless_mixed() {
    let big = "x".repeat(5000);
    // (options of each message queued before the GET, whether the response is compressed)
    let flag = |compress| SendOptions::compress(compress);
    for (messages, compressed) in [
        (vec![flag(false)], false),
        (vec![flag(false), flag(false)], false),
        (vec![flag(false), flag(true)], true),
        (vec![flag(true)], true),
    ] {
        let accept = [("accept-encoding", "gzip")];
        let mut h = Host::open(ServerConfig::default(), "EIO=4&transport=polling", &accept);
        h.take_transmits();
        for options in &messages {
            h.session.send_with(big.as_str(), *options).unwrap();
        }
        let Route::Session { request, .. } = route(
            &mut h.server,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={}", h.sid),
            &accept,
        ) else {
            panic!()
        };
        h.input(engineio_session::Input::Request(ReqId(9), request));
        h.drain();
        let r = h.response(ReqId(9)).unwrap();
        let expected = compressed.then_some("gzip");
        assert_eq!(
            header(r.headers(), "content-encoding"),
            expected,
            "{messages:?}"
        );
        // The next response decides afresh: an uncompressed message alone again.
        h.session.send_with(big.as_str(), flag(false)).unwrap();
        let Route::Session { request, .. } = route(
            &mut h.server,
            "GET",
            &format!("/engine.io/?EIO=4&transport=polling&sid={}", h.sid),
            &accept,
        ) else {
            panic!()
        };
        h.input(engineio_session::Input::Request(ReqId(10), request));
        h.drain();
        let r = h.response(ReqId(10)).unwrap();
        assert_eq!(
            header(r.headers(), "content-encoding"),
            None,
            "{messages:?}"
        );
    }
}
