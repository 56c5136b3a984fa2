//! The server's host receiving a request: [`Server::route`](crate::Server::route), the
//! application's verdict on a handshake, [`Server::accept`](crate::Server::accept) or
//! [`Server::unknown_session`](crate::Server::unknown_session), or the session, with what the
//! model ([`expect`](super::expect)) says the answer must be.

use std::collections::BTreeSet;

use bytes::Bytes;
use engineio_proto::{ErrorCode, Transport};
use http::header::{self, HeaderValue};
use http::{Method, Request};

use super::client::SrvSide;
use super::expect::{After, Expect};
use super::host::{HostReq, HostSession, ReqState};
use super::inputs::{self, MAX_REFUSALS_IN_ROW};
use super::net::{LinkId, LinkKind};
use super::{Invariant, Sim};
use crate::{Input, ReqId, RequestKind, Route, ServerEvent, SessionRequest, Sid, Verdict};

/// The request's facts the model reads.
struct Facts {
    origin: Option<HeaderValue>,
    /// `Some(its Access-Control-Request-Headers)` for an `OPTIONS`.
    preflight: Option<Option<HeaderValue>>,
    /// The `sid` of its query, as sent.
    sid: Option<String>,
    cookie: Option<HeaderValue>,
    /// A WebSocket request from an origin the server must refuse it from.
    cross_site: bool,
}

impl Facts {
    fn of(req: &Request<Bytes>, cors: Option<&crate::CorsConfig>) -> Facts {
        let h = req.headers();
        let upgrade = h
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
        let origin = h.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let sid = req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("sid="))
                .map(str::to_owned)
        });
        Facts {
            origin: h.get(header::ORIGIN).cloned(),
            preflight: (req.method() == Method::OPTIONS)
                .then(|| h.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned()),
            sid,
            cookie: h.get(header::COOKIE).cloned(),
            cross_site: upgrade && inputs::refuses_websocket(cors, origin),
        }
    }
}

impl Sim {
    pub(super) fn host_request(&mut self, link: LinkId, req: Request<Bytes>) {
        let id = ReqId(self.host.next_req);
        self.host.next_req += 1;
        self.links[link].req = Some(id);
        let facts = Facts::of(&req, self.config.server.cors.as_ref());
        let route = self.host.server.route((&req).into());
        let events = self.server_events();
        let c = self.links[link].client;
        let entry = HostReq {
            link,
            sid: None,
            kind: None,
            state: ReqState::Pending,
            body: req.into_body(),
            limit: None,
            origin: facts.origin.clone(),
            preflight: facts.preflight.clone(),
            set_cookie: None,
            expect: None,
        };
        match route {
            Route::Pass => {
                self.fail(
                    Invariant::Protocol,
                    format!("c{c}: L{link} not routed to Engine.IO"),
                );
            }
            Route::Respond(resp) => {
                trace!(
                    self,
                    "srv R{} from c{c} L{link}: refused {}",
                    id.0,
                    resp.status()
                );
                let Some((expect, want)) = self.model_refusal(c, link, &facts) else {
                    return;
                };
                self.check_server_events(c, expect.what, &events, &want);
                // A cross-site WebSocket is refused without echoing its origin.
                let origin = entry.origin.clone().filter(|_| !facts.cross_site);
                let entry = HostReq {
                    expect: Some(expect),
                    origin,
                    ..entry
                };
                self.host.reqs.insert(id, entry);
                self.host_respond(None, id, resp);
            }
            _ if facts.cross_site => {
                let detail = format!("c{c}: a cross-site WebSocket on L{link} not refused");
                self.fail(Invariant::Answer, detail);
            }
            Route::Handshake(hs) => self.host_handshake(c, link, id, entry, hs, &events),
            Route::Session { sid, request } => {
                let kind = request.kind();
                self.host.reqs.insert(
                    id,
                    HostReq {
                        sid: Some(sid),
                        kind: Some(kind),
                        ..entry
                    },
                );
                self.check_cookie_sent_back(c, sid, &facts);
                let Some(mut hs) = self.host.sessions.remove(&sid) else {
                    trace!(self, "srv R{} from c{c} L{link}: unknown sid", id.0);
                    return self.host_unknown_session(c, link, id, sid, &request);
                };
                trace!(
                    self,
                    "{} in Request R{} {kind:?} (L{link})",
                    self.short_of(&hs),
                    id.0
                );
                self.model_session_request(&mut hs, id, kind);
                hs.pending.insert(id);
                hs.session
                    .handle_input(self.now, Input::Request(id, request));
                self.host_drain(sid, hs);
                self.check_answered(c, id);
            }
        }
    }

    /// The server-wide events so far, traced.
    fn server_events(&mut self) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        while let Some(e) = self.host.server.poll_event() {
            trace!(self, "server event {e:?}");
            events.push(e);
        }
        events
    }

    /// A request the model expects an answer to at once must have had it.
    pub(super) fn check_answered(&mut self, c: usize, id: ReqId) {
        if let Some(r) = self.host.reqs.get(&id) {
            if let (Some(e), ReqState::Pending) = (&r.expect, &r.state) {
                let detail = format!("c{c}: {} R{} not answered at once", e.what, id.0);
                self.fail(Invariant::Answer, detail);
            }
        }
    }

    /// What the model says a request refused by [`Server::route`](crate::Server::route) must
    /// get (and the server-wide events with it); `None` after failing the run when the model
    /// says it must not be refused there.
    fn model_refusal(
        &mut self,
        c: usize,
        link: LinkId,
        facts: &Facts,
    ) -> Option<(Expect, Vec<ServerEvent>)> {
        let error = |code, context| ServerEvent::ConnectionError { code, context };
        let kind = self.links[link].kind;
        let valid_sid = facts.sid.as_deref().is_some_and(|s| Sid::new(s).is_ok());
        let expected =
            match kind {
                _ if facts.cross_site => (
                    Expect::error("cross_site_ws", ErrorCode::Forbidden),
                    vec![error(ErrorCode::Forbidden, "ORIGIN_NOT_ALLOWED")],
                ),
                LinkKind::Handshake | LinkKind::WsHandshake if self.host.shut_down => {
                    (Expect::unavailable(), vec![])
                }
                LinkKind::Stray if facts.preflight.is_some() => {
                    if self.config.server.cors.is_some() {
                        (Expect::bare("preflight", 204), vec![])
                    } else if facts.sid.is_some() {
                        (
                            Expect::error("bad_method", ErrorCode::BadRequest),
                            vec![error(ErrorCode::BadRequest, "BAD_METHOD")],
                        )
                    } else {
                        (
                            Expect::error("bad_method", ErrorCode::BadHandshakeMethod),
                            vec![error(ErrorCode::BadHandshakeMethod, "BAD_HANDSHAKE_METHOD")],
                        )
                    }
                }
                LinkKind::Stray if facts.sid.is_some() && !valid_sid => (
                    Expect::error("unknown_sid", ErrorCode::UnknownSid),
                    vec![error(ErrorCode::UnknownSid, "UNKNOWN_SID")],
                ),
                _ => {
                    let detail =
                        format!(
                    "c{c}: a {} request on L{link} refused by the server's routing; the model \
                     routes it to {}",
                    kind.name(),
                    if facts.sid.is_some() { "its session" } else { "a new session" }
                );
                    self.fail(Invariant::Answer, detail);
                    return None;
                }
            };
        Some(expected)
    }

    /// A handshake: the application's verdict (when `allow_request` asks for one), then a new
    /// session or the refusal.
    fn host_handshake(
        &mut self,
        c: usize,
        link: LinkId,
        id: ReqId,
        mut entry: HostReq,
        hs: crate::HandshakeRequest,
        events: &[ServerEvent],
    ) {
        trace!(
            self,
            "srv R{} from c{c} L{link}: handshake {:?}",
            id.0,
            hs.transport()
        );
        let direct = hs.transport() == Transport::Websocket;
        if direct != (self.links[link].kind == LinkKind::WsHandshake) {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: handshake routed as {:?}", hs.transport()),
            );
        }
        if self.host.shut_down {
            let detail = format!("c{c}: a handshake during shutdown routed to a new session");
            return self.fail(Invariant::Answer, detail);
        }
        self.check_server_events(c, "a handshake", events, &[]);
        if hs.needs_verdict() != self.config.server.allow_request {
            let detail = format!(
                "c{c}: the handshake needs a verdict: {}, with allow_request {}",
                hs.needs_verdict(),
                self.config.server.allow_request
            );
            return self.fail(Invariant::Answer, detail);
        }
        let mut verdict = Verdict::Allow;
        if hs.needs_verdict() {
            let cl = &mut self.clients[c];
            if cl.refused_in_row < MAX_REFUSALS_IN_ROW && self.rng.chance(self.config.inputs.refuse)
            {
                let (message, json) = *self.rng.pick(&inputs::REFUSALS);
                cl.refused_in_row += 1;
                entry.expect = Some(Expect::error_with("refused", ErrorCode::Forbidden, json));
                verdict = Verdict::Deny(message.map(str::to_owned));
                self.count_input("refused");
            } else {
                cl.refused_in_row = 0;
            }
            trace!(self, "app verdict on R{}: {verdict:?}", id.0);
        }
        let denied = verdict != Verdict::Allow;
        entry.kind = Some(if direct {
            RequestKind::WebSocket
        } else {
            RequestKind::Get
        });
        self.host.reqs.insert(id, entry);
        let (version, transport) = (hs.version(), hs.transport());
        let accepted = self.host.server.accept(self.now, hs, id, verdict);
        let events = self.server_events();
        let (sid, session) = match accepted {
            Ok(s) if !denied => s,
            Ok((sid, _)) => {
                let detail = format!("c{c}: a handshake the application refused opened {sid}");
                return self.fail(Invariant::Answer, detail);
            }
            Err(resp) => {
                if !denied {
                    let detail = format!("c{c}: an allowed handshake refused: {}", resp.status());
                    return self.fail(Invariant::Answer, detail);
                }
                let want = ServerEvent::ConnectionError {
                    code: ErrorCode::Forbidden,
                    context: "FORBIDDEN",
                };
                self.check_server_events(c, "a refused handshake", &events, &[want]);
                return self.host_respond(None, id, resp);
            }
        };
        trace!(self, "srv accept c{c} sid {sid}");
        let want = ServerEvent::Connection {
            sid,
            transport,
            version,
        };
        self.check_server_events(c, "a handshake", &events, &[want]);
        if !self.host.issued.insert(sid) {
            let detail = format!("c{c}: the server issued sid {sid} a second time");
            return self.fail(Invariant::Answer, detail);
        }
        self.stats.sessions += 1;
        self.host.opened += 1;
        let cookie = self.model_cookie(sid);
        if let Some(r) = self.host.reqs.get_mut(&id) {
            r.sid = Some(sid);
            r.set_cookie = cookie;
        }
        let mut sent = Vec::new();
        if let Some(m) = &self.config.server.initial_packet {
            sent.push(m.clone());
        }
        self.clients[c].srv = Some(SrvSide {
            sid,
            sent,
            received: Vec::new(),
            closed: None,
            app_closing: None,
            next_tag: 0,
        });
        let mut pending = BTreeSet::new();
        if !direct {
            pending.insert(id);
        }
        let hs = HostSession {
            session,
            client: c,
            deadline: None,
            pending,
            sockets: BTreeSet::new(),
            upgrade_ws: None,
            last_flushed: None,
            next_send: 0,
            upgraded: false,
            on_ws: direct,
            closed: None,
            after: None,
        };
        if let Some(old) = self.host.by_client.insert(c, sid) {
            return self.fail(
                Invariant::Protocol,
                format!("c{c} got a second session ({old}, {sid})"),
            );
        }
        self.host_drain(sid, hs);
        let events = self.server_events();
        self.check_server_events(c, "a new session's first transmits", &events, &[]);
    }

    /// A request for a session that does not live here: `Session ID unknown`, or `ok` for a
    /// POST of a polling session the server closed lately.
    fn host_unknown_session(
        &mut self,
        c: usize,
        link: LinkId,
        id: ReqId,
        sid: Sid,
        request: &SessionRequest,
    ) {
        let ttl = self.config.server.ping_timeout;
        let post = matches!(request.kind(), RequestKind::Post { .. });
        let lingers = post && self.host.lingering.takes_post(sid, self.now, ttl);
        let stray = self.links[link].kind == LinkKind::Stray;
        let (expect, want) = if lingers {
            (Expect::ok("late_post_ok"), vec![])
        } else {
            let what = match (stray, self.host.issued.contains(&sid)) {
                (true, true) => "stale_sid",
                _ => "unknown_sid",
            };
            let event = ServerEvent::ConnectionError {
                code: ErrorCode::UnknownSid,
                context: "UNKNOWN_SID",
            };
            (Expect::error(what, ErrorCode::UnknownSid), vec![event])
        };
        if let Some(r) = self.host.reqs.get_mut(&id) {
            r.expect = Some(expect);
        }
        let resp = self.host.server.unknown_session(self.now, sid, request);
        let events = self.server_events();
        self.check_server_events(c, "a request for no session", &events, &want);
        self.host_respond(None, id, resp);
    }

    /// Our client machine sends the sticky cookie back on every request of its session.
    fn check_cookie_sent_back(&mut self, c: usize, sid: Sid, facts: &Facts) {
        let cl = &self.clients[c];
        if !cl.plan.ours || cl.srv.as_ref().map(|s| s.sid) != Some(sid) {
            return;
        }
        let Some(cookie) = &self.config.server.cookie else {
            return;
        };
        let want = format!("{}={}", cookie.name, sid.as_str());
        if facts.cookie.as_ref().map(HeaderValue::as_bytes) != Some(want.as_bytes()) {
            let detail = format!(
                "c{c} (our client) sent Cookie {:?} on a request of its session; the server set \
                 {want}",
                facts.cookie
            );
            return self.fail(Invariant::Answer, detail);
        }
        self.count_check("cookie_sent_back");
    }

    /// What the model expects of a request to a live session: overlaps.
    fn model_session_request(&mut self, hs: &mut HostSession, id: ReqId, kind: RequestKind) {
        let pending = |k: fn(RequestKind) -> bool,
                       reqs: &std::collections::BTreeMap<ReqId, HostReq>| {
            hs.pending.iter().copied().find(|r| {
                reqs.get(r)
                    .is_some_and(|x| x.state == ReqState::Pending && x.kind.is_some_and(k))
            })
        };
        let is_get = |k| k == RequestKind::Get;
        let is_post = |k| matches!(k, RequestKind::Post { .. });
        let what = match kind {
            RequestKind::Get if pending(is_get, &self.host.reqs).is_some() => "overlapping_get",
            RequestKind::Post { .. }
                if !hs.on_ws && pending(is_post, &self.host.reqs).is_some() =>
            {
                "overlapping_post"
            }
            _ => return,
        };
        if let Some(r) = self.host.reqs.get_mut(&id) {
            r.expect = Some(Expect::bare(what, 400));
        }
        self.expect_closing(hs, what);
    }

    /// The session `hs` is about to close with `transport error` at the next input (`what`):
    /// its parked GET gets the close packet, its POST being read `Session ID unknown`.
    pub(super) fn expect_closing(&mut self, hs: &mut HostSession, what: &'static str) {
        let format = self.clients[hs.client].plan.format;
        for r in &hs.pending {
            let Some(x) = self.host.reqs.get_mut(r) else {
                continue;
            };
            if x.state != ReqState::Pending || x.expect.is_some() {
                continue;
            }
            x.expect = match x.kind {
                Some(RequestKind::Get) => Some(Expect::only_close(format)),
                Some(RequestKind::Post { .. }) => {
                    Some(Expect::error("closed_post", ErrorCode::UnknownSid))
                }
                _ => None,
            };
        }
        hs.after = Some(After::Closed(crate::CloseReason::TransportError, what));
        self.clients[hs.client]
            .allowed
            .add(super::faults::TRANSPORT_ERROR);
    }
}
