//! A small host for driving one server and its sessions from tests, with explicit times.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use engineio_session::proto::{DecodeLimits, Frame, Packet, PayloadFormat, ProtocolVersion};
use engineio_session::{
    Event, Input, Instant, ReqId, Route, Server, ServerConfig, Session, SessionRequest, Sid,
    Transmit, Verdict,
};
use http::{HeaderMap, Request, Response};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn at(n: u64) -> Instant {
    Instant::ZERO + ms(n)
}

/// Routes a request given as method, target and headers.
pub fn route(server: &mut Server, method: &str, target: &str, headers: &[(&str, &str)]) -> Route {
    let mut b = Request::builder().method(method).uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(()).unwrap();
    server.route((&req).into())
}

pub fn respond(route: Route) -> Response<Bytes> {
    match route {
        Route::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The JSON error code of a response.
pub fn error_code(r: &Response<Bytes>) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(r.body()).expect("JSON error body");
    v["code"].as_u64().expect("numeric code")
}

/// One session under test, with its server and a clock.
pub struct Host {
    pub server: Server,
    pub session: Session,
    pub sid: Sid,
    pub version: ProtocolVersion,
    pub now: Instant,
    next: u64,
    pub transmits: Vec<Transmit>,
    pub events: Vec<Event>,
}

impl Host {
    /// Handshakes over polling (`EIO=4` unless `query` says otherwise) and returns the host
    /// with the handshake's transmits drained.
    pub fn polling(config: ServerConfig) -> Host {
        Host::open(config, "EIO=4&transport=polling", &[])
    }

    pub fn open(config: ServerConfig, query: &str, headers: &[(&str, &str)]) -> Host {
        let mut server = Server::new(ServerConfig {
            seed: Some(1),
            ..config
        });
        let hs = match route(&mut server, "GET", &format!("/engine.io/?{query}"), headers) {
            Route::Handshake(hs) => hs,
            other => panic!("expected a handshake, got {other:?}"),
        };
        let version = hs.version();
        let (sid, session) = server
            .accept(Instant::ZERO, hs, ReqId(0), Verdict::Allow)
            .unwrap();
        let mut h = Host {
            server,
            session,
            sid,
            version,
            now: Instant::ZERO,
            next: 1,
            transmits: vec![],
            events: vec![],
        };
        h.drain();
        h
    }

    pub fn id(&mut self) -> ReqId {
        self.next += 1;
        ReqId(self.next)
    }

    /// Drains transmits and events into the host's lists.
    pub fn drain(&mut self) {
        while let Some(t) = self.session.poll_transmit() {
            self.transmits.push(t);
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }

    pub fn input(&mut self, input: Input) {
        self.session.handle_input(self.now, input);
        self.drain();
    }

    pub fn advance_to(&mut self, t: Instant) {
        while let Some(deadline) = self.session.poll_timeout() {
            if deadline > t {
                break;
            }
            self.now = deadline;
            self.session.handle_timeout(deadline);
            assert!(
                self.session
                    .poll_timeout()
                    .is_none_or(|next| next > deadline),
                "poll_timeout must move past now"
            );
            self.drain();
        }
        self.now = t;
    }

    pub fn take_transmits(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.transmits)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn request(
        &self,
        kind: engineio_session::RequestKind,
        transport: engineio_session::proto::Transport,
    ) -> SessionRequest {
        SessionRequest::new(kind, transport, self.version)
    }

    /// A polling GET; returns its id.
    pub fn get(&mut self) -> ReqId {
        let id = self.id();
        let r = self.request(
            engineio_session::RequestKind::Get,
            engineio_session::proto::Transport::Polling,
        );
        self.input(Input::Request(id, r));
        id
    }

    /// A whole polling POST with `body`: the request, then its body when the session asks.
    pub fn post(&mut self, body: &[u8]) -> ReqId {
        let id = self.id();
        let r = self.request(
            engineio_session::RequestKind::Post { binary: false },
            engineio_session::proto::Transport::Polling,
        );
        self.input(Input::Request(id, r));
        let asked = self
            .transmits
            .iter()
            .any(|t| matches!(t, Transmit::ReadBody { req, .. } if *req == id));
        if asked {
            self.input(Input::PostBody(id, Bytes::copy_from_slice(body)));
        }
        id
    }

    /// Opens a WebSocket for an upgrade; returns its id.
    pub fn websocket(&mut self) -> ReqId {
        let id = self.id();
        let r = self.request(
            engineio_session::RequestKind::WebSocket,
            engineio_session::proto::Transport::Websocket,
        );
        self.input(Input::Request(id, r));
        id
    }

    pub fn frame(&mut self, ws: ReqId, text: &str) {
        self.input(Input::WsFrame(ws, Frame::Text(text.into())));
    }

    /// The response to request `id` among the transmits, removed from them.
    pub fn response(&mut self, id: ReqId) -> Option<Response<Bytes>> {
        let i = self
            .transmits
            .iter()
            .position(|t| matches!(t, Transmit::Respond { req, .. } if *req == id))?;
        match self.transmits.remove(i) {
            Transmit::Respond { response, .. } => Some(response),
            _ => unreachable!(),
        }
    }

    /// The packets of the polling response to `id`.
    pub fn packets(&mut self, id: ReqId) -> Option<Vec<Packet>> {
        let r = self.response(id)?;
        Some(decode_response(self.version, &r))
    }

    /// The packets sent on WebSocket `ws`, removed from the transmits.
    pub fn ws_packets(&mut self, ws: ReqId) -> Vec<Packet> {
        let mut out = vec![];
        let version = self.version;
        self.transmits.retain(|t| match t {
            Transmit::WsFrame { ws: w, frame, .. } if *w == ws => {
                out.push(frame.clone().decode(version, usize::MAX).unwrap());
                false
            }
            _ => true,
        });
        out
    }

    /// Whether WebSocket `ws` was accepted (its `101`).
    pub fn ws_accepted(&self, ws: ReqId) -> bool {
        self.transmits
            .iter()
            .any(|t| matches!(t, Transmit::AcceptWebSocket { req, .. } if *req == ws))
    }

    pub fn ws_closed(&self, ws: ReqId) -> bool {
        self.transmits
            .iter()
            .any(|t| matches!(t, Transmit::WsClose { ws: w } if *w == ws))
    }

    pub fn closed_events(&self) -> Vec<engineio_session::CloseReason> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Closed(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<engineio_session::proto::Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Decodes a polling response body as a client of `version` would.
pub fn decode_response(version: ProtocolVersion, r: &Response<Bytes>) -> Vec<Packet> {
    assert_eq!(r.status(), 200, "not a payload response: {r:?}");
    let ct = r.headers()[http::header::CONTENT_TYPE].to_str().unwrap();
    let format = match version {
        ProtocolVersion::V4 => PayloadFormat::V4,
        ProtocolVersion::V3 => PayloadFormat::V3 { binary: true },
    };
    let mut out = vec![];
    format
        .decode(
            ct == "application/octet-stream",
            r.body().clone(),
            &DecodeLimits::UNLIMITED,
            &mut out,
        )
        .unwrap();
    out
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}
