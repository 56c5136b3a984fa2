//! The client machine against scripted server responses, with explicit times.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_session::proto::{
    Frame, Handshake, Message, Packet, PayloadFormat, ProtocolVersion, Transport,
};
use engineio_session::{
    ClientConfig, ClientEvent, ClientInput, ClientSession, ClientTransmit, CloseReason, Instant,
    ReadyState, ReqId, SendError, SendOptions,
};
use http::{HeaderMap, Method};

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn config() -> ClientConfig {
    ClientConfig::new("http://example.test:3000".parse().unwrap())
}

fn handshake(version: ProtocolVersion, upgrades: &[Transport], max_payload: Option<u64>) -> Packet {
    Handshake {
        sid: "SID123".into(),
        upgrades: upgrades.to_vec(),
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: if version == ProtocolVersion::V4 {
            max_payload
        } else {
            None
        },
    }
    .to_packet()
}

fn payload(version: ProtocolVersion, packets: &[Packet]) -> Bytes {
    let mut b = BytesMut::new();
    let format = match version {
        ProtocolVersion::V4 => PayloadFormat::V4,
        ProtocolVersion::V3 => PayloadFormat::V3 { binary: false },
    };
    format.encode(packets, &mut b);
    b.freeze()
}

/// A client and what it asked for.
struct C {
    c: ClientSession,
    out: Vec<ClientTransmit>,
    events: Vec<ClientEvent>,
    now: Instant,
}

impl C {
    fn new(config: ClientConfig) -> C {
        let mut c = C {
            c: ClientSession::new(Instant::ZERO, config),
            out: vec![],
            events: vec![],
            now: Instant::ZERO,
        };
        c.drain();
        c
    }

    fn drain(&mut self) {
        while let Some(t) = self.c.poll_transmit() {
            self.out.push(t);
        }
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    fn input(&mut self, i: ClientInput) {
        self.c.handle_input(self.now, i);
        self.drain();
    }

    fn advance(&mut self, t: Instant) {
        while let Some(d) = self.c.poll_timeout() {
            if d > t {
                break;
            }
            self.now = d;
            self.c.handle_timeout(d);
            self.drain();
        }
        self.now = t;
    }

    /// The oldest request with `method` not yet answered, removed.
    fn take_request(&mut self, method: Method) -> (ReqId, String, HeaderMap, Bytes) {
        let i = self
            .out
            .iter()
            .position(
                |t| matches!(t, ClientTransmit::HttpRequest { method: m, .. } if *m == method),
            )
            .unwrap_or_else(|| panic!("no {method} request in {:?}", self.out));
        match self.out.remove(i) {
            ClientTransmit::HttpRequest {
                req,
                uri,
                headers,
                body,
                ..
            } => (req, uri.to_string(), headers, body),
            _ => unreachable!(),
        }
    }

    fn has_request(&self, method: Method) -> bool {
        self.out
            .iter()
            .any(|t| matches!(t, ClientTransmit::HttpRequest { method: m, .. } if *m == method))
    }

    fn take_ws_connect(&mut self) -> (ReqId, String, HeaderMap) {
        let i = self
            .out
            .iter()
            .position(|t| matches!(t, ClientTransmit::WsConnect { .. }))
            .expect("no WsConnect");
        match self.out.remove(i) {
            ClientTransmit::WsConnect { ws, uri, headers } => (ws, uri.to_string(), headers),
            _ => unreachable!(),
        }
    }

    fn frames(&mut self, ws: ReqId, version: ProtocolVersion) -> Vec<Packet> {
        let mut v = vec![];
        self.out.retain(|t| match t {
            ClientTransmit::WsFrame { ws: w, frame, .. } if *w == ws => {
                v.push(frame.clone().decode(version, usize::MAX).unwrap());
                false
            }
            _ => true,
        });
        v
    }

    fn respond(&mut self, req: ReqId, status: u16, headers: HeaderMap, body: Bytes) {
        self.input(ClientInput::HttpResponse {
            req,
            status,
            headers,
            body,
        });
    }

    fn ok(&mut self, req: ReqId) {
        self.respond(req, 200, HeaderMap::new(), Bytes::from_static(b"ok"));
    }

    fn closed(&self) -> Vec<(CloseReason, bool)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Closed { reason, local } => Some((*reason, *local)),
                _ => None,
            })
            .collect()
    }

    fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Completes a polling handshake; returns the first poll's id.
    fn open(
        &mut self,
        version: ProtocolVersion,
        upgrades: &[Transport],
        max_payload: Option<u64>,
    ) -> ReqId {
        let (hs, _, _, _) = self.take_request(Method::GET);
        self.respond(
            hs,
            200,
            HeaderMap::new(),
            payload(version, &[handshake(version, upgrades, max_payload)]),
        );
        self.take_request(Method::GET).0
    }
}

fn decode_post(version: ProtocolVersion, body: &Bytes) -> Vec<Packet> {
    let mut out = vec![];
    let format = match version {
        ProtocolVersion::V4 => PayloadFormat::V4,
        ProtocolVersion::V3 => PayloadFormat::V3 { binary: true },
    };
    format
        .decode(
            false,
            body.clone(),
            &engineio_session::proto::DecodeLimits::UNLIMITED,
            &mut out,
        )
        .unwrap();
    out
}

#[test]
fn polling_handshake_then_polls_and_probes() {
    let mut c = C::new(config());
    let (hs, uri, _, body) = c.take_request(Method::GET);
    assert!(
        uri.starts_with("http://example.test:3000/engine.io/?EIO=4&transport=polling&t="),
        "{uri}"
    );
    assert!(body.is_empty());
    let mut response = payload(
        ProtocolVersion::V4,
        &[
            handshake(ProtocolVersion::V4, &[Transport::Websocket], Some(1000)),
            Packet::text("welcome"),
        ],
    )
    .to_vec();
    response.extend_from_slice(b"");
    c.respond(hs, 200, HeaderMap::new(), Bytes::from(response));
    assert!(matches!(&c.events[0], ClientEvent::Open(h) if h.sid == "SID123"));
    assert_eq!(c.messages(), [Message::from("welcome")]);
    assert_eq!(c.c.sid(), Some("SID123"));
    let (_, poll_uri, _, _) = c.take_request(Method::GET);
    assert!(poll_uri.contains("&sid=SID123"), "{poll_uri}");
    assert_ne!(poll_uri, uri, "a new timestamp per request");
    let (_, ws_uri, _) = c.take_ws_connect();
    assert!(
        ws_uri
            .starts_with("ws://example.test:3000/engine.io/?EIO=4&transport=websocket&sid=SID123"),
        "{ws_uri}"
    );
    assert!(!ws_uri.contains("&t="), "no timestamp on WebSocket");
}

#[test]
fn options_shape_the_requests() {
    let mut cfg = config();
    cfg.path = "/rt".into();
    cfg.query = vec![("token".into(), "a b".into())];
    cfg.extra_headers.insert("x-app", "7".parse().unwrap());
    cfg.timestamp_requests = false;
    cfg.url = "https://example.test".parse().unwrap();
    let mut c = C::new(cfg);
    let (_, uri, headers, _) = c.take_request(Method::GET);
    assert_eq!(
        uri,
        "https://example.test/rt/?token=a+b&EIO=4&transport=polling"
    );
    assert_eq!(headers["x-app"], "7");
}

#[test]
fn v4_answers_pings_and_times_out_without_them() {
    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[], None);
    c.now = at(250);
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::ping()]),
    );
    let (post, _, headers, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V4, &body), [Packet::pong()]);
    assert_eq!(headers["content-type"], "text/plain;charset=UTF-8");
    c.ok(post);
    assert!(c.events.contains(&ClientEvent::Heartbeat));
    // Next deadline: pingInterval + pingTimeout after the last ping.
    c.advance(at(749));
    assert!(c.closed().is_empty());
    c.advance(at(750));
    assert_eq!(c.closed(), [(CloseReason::PingTimeout, false)]);
}

#[test]
fn v3_pings_and_expects_pongs() {
    let mut cfg = config();
    cfg.version = ProtocolVersion::V3;
    cfg.force_base64 = true;
    let mut c = C::new(cfg);
    let (hs, uri, _, _) = c.take_request(Method::GET);
    assert!(uri.contains("EIO=3") && uri.contains("&b64=1"), "{uri}");
    c.respond(
        hs,
        200,
        HeaderMap::new(),
        payload(
            ProtocolVersion::V3,
            &[handshake(ProtocolVersion::V3, &[], None)],
        ),
    );
    let (poll, poll_uri, _, _) = c.take_request(Method::GET);
    assert!(!poll_uri.contains("b64"), "b64 only on the handshake");
    c.advance(at(300));
    let (post, _, _, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V3, &body), [Packet::ping()]);
    c.ok(post);
    c.now = at(350);
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V3, &[Packet::pong()]),
    );
    assert!(c.events.contains(&ClientEvent::Heartbeat));
    c.advance(at(650));
    assert!(
        c.has_request(Method::POST),
        "next ping pingInterval after the pong"
    );
    let (post, _, _, _) = c.take_request(Method::POST);
    c.ok(post);
    c.advance(at(850));
    assert_eq!(
        c.closed(),
        [(CloseReason::PingTimeout, false)],
        "no pong within pingTimeout"
    );
}

#[test]
fn one_post_at_a_time_and_sends_coalesce_under_max_payload() {
    let mut c = C::new(config());
    c.open(ProtocolVersion::V4, &[], Some(20));
    c.c.send("first").unwrap();
    c.drain();
    let (post, _, _, body) = c.take_request(Method::POST);
    assert_eq!(
        decode_post(ProtocolVersion::V4, &body),
        [Packet::text("first")]
    );
    for m in ["aaaaa", "bbbbb", "ccccc", "ddddd"] {
        c.c.send(m).unwrap();
    }
    c.drain();
    assert!(
        !c.has_request(Method::POST),
        "no second POST while one is in flight"
    );
    c.ok(post);
    let (post, _, _, body) = c.take_request(Method::POST);
    assert!(body.len() <= 20, "{}", body.len());
    let first = decode_post(ProtocolVersion::V4, &body);
    assert_eq!(
        first,
        [
            Packet::text("aaaaa"),
            Packet::text("bbbbb"),
            Packet::text("ccccc")
        ]
    );
    c.ok(post);
    let (post, _, _, body) = c.take_request(Method::POST);
    assert_eq!(
        decode_post(ProtocolVersion::V4, &body),
        [Packet::text("ddddd")]
    );
    c.ok(post);
    assert!(c.events.contains(&ClientEvent::Flushed {
        last: engineio_session::SendId(4)
    }));
}

#[test]
fn sends_before_the_handshake_wait_for_it() {
    let mut c = C::new(config());
    c.c.send("early").unwrap();
    c.drain();
    assert!(!c.has_request(Method::POST));
    c.open(ProtocolVersion::V4, &[], None);
    let (_, _, _, body) = c.take_request(Method::POST);
    assert_eq!(
        decode_post(ProtocolVersion::V4, &body),
        [Packet::text("early")]
    );
}

#[test]
fn the_upgrade_waits_for_the_poll_and_the_post_then_sends_5() {
    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[Transport::Websocket], None);
    let (ws, _, _) = c.take_ws_connect();
    c.c.send("in flight").unwrap();
    c.drain();
    let (post, _, _, _) = c.take_request(Method::POST);
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    assert_eq!(c.frames(ws, ProtocolVersion::V4), [Packet::ping_probe()]);
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Text("3probe".into()),
    });
    assert!(c.events.contains(&ClientEvent::Upgrading));
    c.c.send("during upgrade").unwrap();
    c.drain();
    assert!(
        c.frames(ws, ProtocolVersion::V4).is_empty(),
        "nothing before 5"
    );
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::Noop]),
    );
    assert!(!c.has_request(Method::GET), "polling paused");
    assert!(
        c.frames(ws, ProtocolVersion::V4).is_empty(),
        "still waiting for the POST"
    );
    c.ok(post);
    assert_eq!(
        c.frames(ws, ProtocolVersion::V4),
        [Packet::Upgrade, Packet::text("during upgrade")]
    );
    assert!(c.events.contains(&ClientEvent::Upgraded));
    assert_eq!(c.c.transport(), Transport::Websocket);
    assert!(c.c.websocket_succeeded());
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Text("2".into()),
    });
    assert_eq!(c.frames(ws, ProtocolVersion::V4), [Packet::pong()]);
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Binary(Bytes::from_static(&[1, 2])),
    });
    assert_eq!(c.messages(), [Message::Binary(Bytes::from_static(&[1, 2]))]);
}

#[test]
fn a_failed_probe_falls_back_to_polling() {
    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[Transport::Websocket], None);
    let (ws, _, _) = c.take_ws_connect();
    c.c.send("slow upload").unwrap();
    c.drain();
    let (post, _, _, _) = c.take_request(Method::POST);
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Text("3probe".into()),
    });
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::Noop]),
    );
    assert!(
        !c.has_request(Method::GET),
        "paused while the POST finishes"
    );
    c.input(ClientInput::WsClosed { ws });
    c.ok(post);
    assert!(c
        .events
        .contains(&ClientEvent::UpgradeFailed("the probe's WebSocket closed")));
    assert!(c.has_request(Method::GET), "polling resumes");
    assert_eq!(c.c.transport(), Transport::Polling);
    c.c.send("x").unwrap();
    c.drain();
    assert!(c.has_request(Method::POST));

    // A wrong answer to the probe fails it too.
    let mut c = C::new(config());
    c.open(ProtocolVersion::V4, &[Transport::Websocket], None);
    let (ws, _, _) = c.take_ws_connect();
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Text("3".into()),
    });
    assert!(c.events.contains(&ClientEvent::UpgradeFailed(
        "the probe was not answered with 3probe"
    )));
    assert!(c
        .out
        .iter()
        .any(|t| matches!(t, ClientTransmit::WsClose { ws: w } if *w == ws)));
}

#[test]
fn no_probe_when_upgrades_are_off_or_not_offered() {
    let mut cfg = config();
    cfg.upgrade = false;
    let mut c = C::new(cfg);
    c.open(ProtocolVersion::V4, &[Transport::Websocket], None);
    assert!(!c
        .out
        .iter()
        .any(|t| matches!(t, ClientTransmit::WsConnect { .. })));
    let mut c = C::new(config());
    c.open(ProtocolVersion::V4, &[], None);
    assert!(!c
        .out
        .iter()
        .any(|t| matches!(t, ClientTransmit::WsConnect { .. })));
}

#[test]
fn websocket_first_and_remember_upgrade() {
    let mut cfg = config();
    cfg.transports = vec![Transport::Websocket];
    let mut c = C::new(cfg);
    let (ws, uri, _) = c.take_ws_connect();
    assert!(
        uri.starts_with("ws://example.test:3000/engine.io/?EIO=4&transport=websocket"),
        "{uri}"
    );
    assert!(!uri.contains("sid="));
    c.c.send("queued").unwrap();
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    assert!(
        c.frames(ws, ProtocolVersion::V4).is_empty(),
        "waits for the open packet"
    );
    let open = handshake(ProtocolVersion::V4, &[], Some(100));
    let mut buf = BytesMut::new();
    let frame = Frame::encode(&open, ProtocolVersion::V4, &mut buf);
    c.input(ClientInput::WsFrame { ws, frame });
    assert!(matches!(c.events[0], ClientEvent::Open(_)));
    assert_eq!(c.frames(ws, ProtocolVersion::V4), [Packet::text("queued")]);

    let mut cfg = config();
    cfg.remember_upgrade = true;
    cfg.prior_websocket_success = true;
    let mut c = C::new(cfg);
    c.take_ws_connect();
}

#[test]
fn application_close_flushes_then_sends_the_close_packet() {
    let mut c = C::new(config());
    c.open(ProtocolVersion::V4, &[], None);
    c.c.send("a").unwrap();
    c.drain();
    let (post, _, _, _) = c.take_request(Method::POST);
    c.c.send("b").unwrap();
    c.c.close(c.now);
    c.drain();
    assert_eq!(c.c.send("late"), Err(SendError::Closed));
    assert!(c.closed().is_empty(), "waits for the queue");
    c.ok(post);
    let (post, _, _, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V4, &body), [Packet::text("b")]);
    c.ok(post);
    let (_, _, _, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V4, &body), [Packet::Close]);
    assert_eq!(c.closed(), [(CloseReason::ForcedClose, true)]);
    assert_eq!(c.c.sid(), Some("SID123"), "the last sid stays readable");
    assert_eq!(c.c.poll_timeout(), None);
}

#[test]
fn remote_closes_and_failures() {
    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[], None);
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(
            ProtocolVersion::V4,
            &[Packet::text("last"), Packet::Close, Packet::text("never")],
        ),
    );
    assert_eq!(c.messages(), [Message::from("last")]);
    assert_eq!(c.closed(), [(CloseReason::TransportClose, false)]);

    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[], None);
    c.respond(
        poll,
        400,
        HeaderMap::new(),
        Bytes::from_static(br#"{"code":1,"message":"Session ID unknown"}"#),
    );
    assert_eq!(c.closed(), [(CloseReason::TransportError, false)]);

    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[], None);
    c.input(ClientInput::HttpFailed { req: poll });
    assert_eq!(c.closed(), [(CloseReason::TransportError, false)]);

    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[], None);
    c.respond(poll, 200, HeaderMap::new(), Bytes::from_static(b"9garbage"));
    assert_eq!(c.closed(), [(CloseReason::ParseError, false)]);

    let mut c = C::new(config());
    let (hs, _, _, _) = c.take_request(Method::GET);
    c.respond(
        hs,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::text("not an open packet")]),
    );
    assert_eq!(c.closed(), [(CloseReason::ParseError, false)]);
}

#[test]
fn a_handshake_that_never_completes_times_out() {
    let mut c = C::new(config());
    c.advance(at(19_999));
    assert!(c.closed().is_empty());
    c.advance(at(20_000));
    assert_eq!(c.closed().len(), 1);
}

#[test]
fn cookies_are_kept_and_sent_back() {
    let mut c = C::new(config());
    let (hs, _, _, _) = c.take_request(Method::GET);
    let mut h = HeaderMap::new();
    h.insert(
        "set-cookie",
        "io=SID123; Path=/; HttpOnly; SameSite=Lax".parse().unwrap(),
    );
    c.respond(
        hs,
        200,
        h,
        payload(
            ProtocolVersion::V4,
            &[handshake(
                ProtocolVersion::V4,
                &[Transport::Websocket],
                None,
            )],
        ),
    );
    let (_, _, headers, _) = c.take_request(Method::GET);
    assert_eq!(headers["cookie"], "io=SID123");
    let (_, _, headers) = c.take_ws_connect();
    assert_eq!(headers["cookie"], "io=SID123");
}

#[test]
fn the_send_queue_is_bounded() {
    let mut cfg = config();
    cfg.max_queued_packets = 2;
    let mut c = C::new(cfg);
    c.c.send("1").unwrap();
    c.c.send("2").unwrap();
    assert_eq!(c.c.send("3"), Err(SendError::Full));
    assert_eq!(
        c.c.send(Message::from("a\u{1e}b")),
        Err(SendError::Unencodable)
    );
}

#[test]
fn v3_has_no_max_payload_and_coalesces_everything() {
    // Regression: with no maxPayload (v3) the size check must not overflow.
    let mut cfg = config();
    cfg.version = ProtocolVersion::V3;
    let mut c = C::new(cfg);
    let (hs, _, _, _) = c.take_request(Method::GET);
    c.respond(
        hs,
        200,
        HeaderMap::new(),
        payload(
            ProtocolVersion::V3,
            &[handshake(ProtocolVersion::V3, &[], None)],
        ),
    );
    c.c.send("a").unwrap();
    c.drain();
    let (post, _, _, _) = c.take_request(Method::POST);
    for m in ["b", "c", "d"] {
        c.c.send(m).unwrap();
    }
    c.drain();
    c.ok(post);
    let (_, _, _, body) = c.take_request(Method::POST);
    assert_eq!(
        decode_post(ProtocolVersion::V3, &body),
        [Packet::text("b"), Packet::text("c"), Packet::text("d")]
    );
}

#[test]
fn posts_carry_at_most_16_packets_by_default() {
    let mut c = C::new(config());
    c.open(ProtocolVersion::V4, &[], None);
    c.c.send("first").unwrap();
    c.drain();
    let (post, _, _, _) = c.take_request(Method::POST);
    for i in 0..20 {
        c.c.send(format!("m{i}")).unwrap();
    }
    c.drain();
    c.ok(post);
    let (post, _, _, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V4, &body).len(), 16);
    c.ok(post);
    let (_, _, _, body) = c.take_request(Method::POST);
    assert_eq!(decode_post(ProtocolVersion::V4, &body).len(), 4);
}

/// Found by the simulator: a WebSocket-first client whose handshake timed out (or whose
/// application closed it) before the WebSocket opened never closed that WebSocket, so it stayed
/// open once the `101` came. Every WebSocket the client asked for is closed when it closes,
/// unless the host reported it closed.
#[test]
fn closing_while_the_first_websocket_connects_closes_it() {
    let ws_first = || {
        let mut cfg = config();
        cfg.transports = vec![Transport::Websocket];
        cfg.connect_timeout = Duration::from_millis(500);
        C::new(cfg)
    };
    let is_close =
        |t: &ClientTransmit, ws| matches!(t, ClientTransmit::WsClose { ws: w } if *w == ws);

    // The handshake times out while the WebSocket connects.
    let mut c = ws_first();
    let (ws, _, _) = c.take_ws_connect();
    c.advance(at(500));
    assert_eq!(c.closed(), [(CloseReason::PingTimeout, false)]);
    assert!(c.out.iter().any(|t| is_close(t, ws)), "{:?}", c.out);

    // The application closes while it connects.
    let mut c = ws_first();
    let (ws, _, _) = c.take_ws_connect();
    c.c.close(c.now);
    c.drain();
    assert_eq!(c.closed(), [(CloseReason::ForcedClose, true)]);
    assert!(c.out.iter().any(|t| is_close(t, ws)), "{:?}", c.out);

    // Opened, then the handshake times out: closed as well.
    let mut c = ws_first();
    let (ws, _, _) = c.take_ws_connect();
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    c.advance(at(500));
    assert!(c.out.iter().any(|t| is_close(t, ws)), "{:?}", c.out);

    // The host reported it closed: no close for it.
    let mut c = ws_first();
    let (ws, _, _) = c.take_ws_connect();
    c.input(ClientInput::WsClosed { ws });
    assert_eq!(c.closed().len(), 1);
    assert!(!c.out.iter().any(|t| is_close(t, ws)), "{:?}", c.out);
}

/// Found by the simulator: closing by the application during an upgrade's pause, the messages
/// it queued went out after `5` in the same call that closed, and their `Flushed` was emitted
/// when the host took the frames, after `Closed`. `Closed` stays the last event.
#[test]
fn closed_is_the_last_event_when_the_last_frames_go_with_the_close() {
    let mut c = C::new(config());
    let poll = c.open(ProtocolVersion::V4, &[Transport::Websocket], None);
    let (ws, _, _) = c.take_ws_connect();
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    assert_eq!(c.frames(ws, ProtocolVersion::V4), [Packet::ping_probe()]);
    c.input(ClientInput::WsFrame {
        ws,
        frame: Frame::Text("3probe".into()),
    });
    c.c.send("during upgrade").unwrap();
    c.c.close(c.now);
    c.drain();
    assert!(c.closed().is_empty(), "waits for the upgrade to settle");
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::Noop]),
    );
    assert_eq!(
        c.frames(ws, ProtocolVersion::V4),
        [Packet::Upgrade, Packet::text("during upgrade")]
    );
    assert!(c
        .out
        .iter()
        .any(|t| matches!(t, ClientTransmit::WsClose { ws: w } if *w == ws)));
    let flushed = c
        .events
        .iter()
        .position(|e| matches!(e, ClientEvent::Flushed { last } if last.0 == 0));
    assert!(flushed.is_some(), "{:?}", c.events);
    assert_eq!(
        c.events.last(),
        Some(&ClientEvent::Closed {
            reason: CloseReason::ForcedClose,
            local: true
        }),
        "{:?}",
        c.events
    );
}

#[test]
fn packet_events_and_ready_state_follow_the_connection() {
    let mut c = C::new(ClientConfig {
        packet_events: true,
        ..config()
    });
    assert_eq!(c.c.ready_state(), ReadyState::Opening);
    let poll = c.open(ProtocolVersion::V4, &[], None);
    assert_eq!(c.c.ready_state(), ReadyState::Open);
    c.c.send("up").unwrap();
    c.drain();
    c.respond(
        poll,
        200,
        HeaderMap::new(),
        payload(ProtocolVersion::V4, &[Packet::ping(), Packet::text("down")]),
    );
    let packets: Vec<_> = c
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::PacketIn(p) => Some(("in", p.clone())),
            ClientEvent::PacketOut(p) => Some(("out", p.clone())),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&packets[0], ("in", Packet::Open(_))),
        "the open packet first: {packets:?}"
    );
    assert_eq!(
        packets[1..],
        [
            ("out", Packet::text("up")),
            ("in", Packet::ping()),
            ("out", Packet::pong()),
            ("in", Packet::text("down")),
        ]
    );
    // In the order the machine saw them: the ping's packet event before its heartbeat.
    let ping_in = c
        .events
        .iter()
        .position(|e| *e == ClientEvent::PacketIn(Packet::ping()));
    let heartbeat = c.events.iter().position(|e| *e == ClientEvent::Heartbeat);
    assert!(ping_in < heartbeat, "{:?}", c.events);

    // Without the option, none.
    let mut quiet = C::new(config());
    quiet.open(ProtocolVersion::V4, &[], None);
    assert!(!quiet
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::PacketIn(_) | ClientEvent::PacketOut(_))));

    c.c.close(c.now);
    c.drain();
    assert_eq!(c.c.ready_state(), ReadyState::Closing, "a POST in flight");
    // The message's POST, then the pong's: the close waits for both.
    for _ in 0..2 {
        assert_eq!(c.c.ready_state(), ReadyState::Closing);
        let (post, _, _, _) = c.take_request(Method::POST);
        c.ok(post);
    }
    assert_eq!(c.c.ready_state(), ReadyState::Closed);
}

#[test]
fn compress_false_reaches_each_websocket_message() {
    let mut cfg = config();
    cfg.transports = vec![Transport::Websocket];
    let mut c = C::new(cfg);
    let (ws, _, _) = c.take_ws_connect();
    let flag = SendOptions::compress;
    // Queued before the handshake, and after it.
    c.c.send_with("a", flag(false)).unwrap();
    c.c.send("b").unwrap();
    c.input(ClientInput::WsOpened {
        ws,
        headers: HeaderMap::new(),
    });
    let open = handshake(ProtocolVersion::V4, &[], None);
    let mut buf = BytesMut::new();
    let frame = Frame::encode(&open, ProtocolVersion::V4, &mut buf);
    c.input(ClientInput::WsFrame { ws, frame });
    c.c.send_with("c", flag(true)).unwrap();
    c.c.send_with("d", flag(false)).unwrap();
    c.drain();
    let flags: Vec<(Packet, bool)> = c
        .out
        .iter()
        .filter_map(|t| match t {
            ClientTransmit::WsFrame {
                frame, compress, ..
            } => Some((
                frame
                    .clone()
                    .decode(ProtocolVersion::V4, usize::MAX)
                    .unwrap(),
                *compress,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        flags,
        [
            (Packet::text("a"), false),
            (Packet::text("b"), true),
            (Packet::text("c"), true),
            (Packet::text("d"), false),
        ]
    );
}
