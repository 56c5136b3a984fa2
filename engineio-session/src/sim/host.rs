//! The server's host, as small as an adapter can be: a map of sessions, request ids, and
//! every [`Transmit`] honoured by the simulated network, following the drain rule.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Frame, Message, Transport};
use http::header::HeaderValue;

use super::client::{Show, ShowFrame};
use super::expect::{After, Expect, Lingering};
use super::net::{AppAction, Ev, LinkId, NORMAL};
use super::trace::Esc;
use super::wire::{self, Alphabet};
use super::{Invariant, Sim};
use crate::{
    CloseReason, Input, Instant, ReqId, RequestKind, SendError, SendId, Server, Session, Sid,
};

/// What became of a request the host received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReqState {
    /// Waiting for the session's answer.
    Pending,
    /// Answered with a response.
    Answered,
    /// The client went away before the answer.
    Aborted,
    /// An accepted WebSocket; `got_5` once the client's `5` reached the session.
    WsOpen { got_5: bool, direct: bool },
    /// A WebSocket closed (by either side).
    WsClosed,
}

#[derive(Debug)]
pub(crate) struct HostReq {
    pub(crate) link: LinkId,
    pub(crate) sid: Option<Sid>,
    pub(crate) kind: Option<RequestKind>,
    pub(crate) state: ReqState,
    pub(crate) body: Bytes,
    pub(crate) limit: Option<usize>,
    /// The request's `Origin`.
    pub(crate) origin: Option<HeaderValue>,
    /// `Some(its Access-Control-Request-Headers)` for a preflight.
    pub(crate) preflight: Option<Option<HeaderValue>>,
    /// The `Set-Cookie` its answer must carry (a handshake's).
    pub(crate) set_cookie: Option<HeaderValue>,
    /// The answer the model expects, when it knows it exactly.
    pub(crate) expect: Option<Expect>,
}

pub(crate) struct HostSession {
    pub(crate) session: Session,
    pub(crate) client: usize,
    /// The timer armed after the last drain.
    pub(crate) deadline: Option<Instant>,
    /// Requests routed to the session and not answered yet.
    pub(crate) pending: BTreeSet<ReqId>,
    /// WebSockets accepted for the session and still open.
    pub(crate) sockets: BTreeSet<ReqId>,
    pub(crate) upgrade_ws: Option<ReqId>,
    pub(crate) last_flushed: Option<SendId>,
    pub(crate) next_send: u64,
    pub(crate) upgraded: bool,
    /// On WebSocket (opened there, or upgraded), as the host saw it.
    pub(crate) on_ws: bool,
    pub(crate) closed: Option<CloseReason>,
    /// What the model expects of the session once the input being handled is.
    pub(crate) after: Option<After>,
}

pub(crate) struct Host {
    pub(crate) server: Server,
    pub(crate) sessions: BTreeMap<Sid, HostSession>,
    pub(crate) by_client: BTreeMap<usize, Sid>,
    pub(crate) reqs: BTreeMap<ReqId, HostReq>,
    pub(crate) next_req: u64,
    /// The server was shut down.
    pub(crate) shut_down: bool,
    /// Every sid the server issued.
    pub(crate) issued: BTreeSet<Sid>,
    /// Sessions opened and closed.
    pub(crate) opened: u64,
    pub(crate) closed: u64,
    /// The model's polling sessions closed lately by the server.
    pub(crate) lingering: Lingering,
}

impl Host {
    pub(crate) fn new(server: Server) -> Host {
        Host {
            server,
            sessions: BTreeMap::new(),
            by_client: BTreeMap::new(),
            reqs: BTreeMap::new(),
            next_req: 1,
            shut_down: false,
            issued: BTreeSet::new(),
            opened: 0,
            closed: 0,
            lingering: Lingering::default(),
        }
    }

    /// The earliest armed timer, and its session.
    pub(crate) fn next_deadline(&self) -> Option<(Instant, Sid)> {
        self.sessions
            .iter()
            .filter_map(|(sid, s)| s.deadline.map(|d| (d, *sid)))
            .min()
    }
}

impl Sim {
    // ---- inputs from the network --------------------------------------------------------------

    /// The session's name in the trace, `s<client>` (written without allocating).
    pub(super) fn short_of(&self, hs: &HostSession) -> impl std::fmt::Display {
        struct Short<T>(T);
        impl<T: std::fmt::Display> std::fmt::Display for Short<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "s{}", self.0)
            }
        }
        Short(hs.client)
    }

    /// A session, taken out of the map while the host works on it (put back by the drain).
    pub(super) fn host_take(&mut self, link: LinkId) -> Option<(ReqId, Sid, HostSession)> {
        let id = self.links[link].req?;
        let sid = self.host.reqs.get(&id)?.sid?;
        let hs = self.host.sessions.remove(&sid)?;
        Some((id, sid, hs))
    }

    pub(super) fn host_body(&mut self, link: LinkId) {
        let Some(id) = self.links[link].req else {
            return;
        };
        let Some(r) = self.host.reqs.get(&id) else {
            return;
        };
        if r.state != ReqState::Pending {
            return;
        }
        let (body, limit) = (r.body.clone(), r.limit.unwrap_or(usize::MAX));
        let Some((id, sid, mut hs)) = self.host_take(link) else {
            return;
        };
        let input = if body.len() > limit {
            trace!(self, "{} in PostTooLarge R{}", self.short_of(&hs), id.0);
            // The model: 413, and the session closes (the client may not know maxPayload).
            if let Some(r) = self.host.reqs.get_mut(&id) {
                r.expect = Some(Expect::bare("oversized_post", 413));
            }
            self.expect_closing(&mut hs, "oversized_post");
            if self.clients[hs.client].plan.ours {
                self.clients[hs.client]
                    .machine_allowed
                    .add(super::faults::MACHINE_POST_TOO_LARGE);
            }
            Input::PostTooLarge(id)
        } else {
            if body.len() == limit {
                if let Some(r) = self.host.reqs.get_mut(&id) {
                    r.expect = Some(Expect::ok("at_limit_post"));
                }
            }
            trace!(
                self,
                "{} in PostBody R{} {}",
                self.short_of(&hs),
                id.0,
                Esc(&body)
            );
            Input::PostBody(id, body)
        };
        let c = hs.client;
        hs.session.handle_input(self.now, input);
        self.host_drain(sid, hs);
        self.check_answered(c, id);
    }

    pub(super) fn host_abort(&mut self, link: LinkId) {
        let Some(id) = self.links[link].req else {
            return;
        };
        match self.host.reqs.get_mut(&id) {
            Some(r) if r.state == ReqState::Pending => r.state = ReqState::Aborted,
            _ => return,
        }
        let Some((id, sid, mut hs)) = self.host_take(link) else {
            return;
        };
        trace!(self, "{} in RequestAborted R{}", self.short_of(&hs), id.0);
        hs.pending.remove(&id);
        hs.session.handle_input(self.now, Input::RequestAborted(id));
        self.host_drain(sid, hs);
    }

    pub(super) fn host_frame(&mut self, link: LinkId, frame: Frame) {
        let Some(id) = self.links[link].req else {
            return;
        };
        let mut after = None;
        match self.host.reqs.get_mut(&id) {
            Some(HostReq {
                state: ReqState::WsOpen { got_5, direct },
                ..
            }) => {
                // The model: a message over maxPayload on the session's WebSocket closes it
                // with `transport error`; one of exactly maxPayload is taken.
                let limit = self.config.server.max_payload;
                if *got_5 || *direct {
                    after = match frame.len() {
                        n if n > limit => Some(After::Closed(
                            CloseReason::TransportError,
                            "oversized_frame",
                        )),
                        n if n == limit => Some(After::Open("at_limit_frame")),
                        _ => None,
                    };
                }
                if matches!(&frame, Frame::Text(s) if s.as_str() == "5") {
                    *got_5 = true;
                }
            }
            _ => {
                trace!(self, "srv drops a frame on closed WebSocket R{}", id.0);
                return;
            }
        }
        let Some((id, sid, mut hs)) = self.host_take(link) else {
            return;
        };
        trace!(
            self,
            "{} in WsFrame R{} {}",
            self.short_of(&hs),
            id.0,
            ShowFrame(&frame)
        );
        if let Some(After::Closed(..)) = after {
            self.clients[hs.client]
                .allowed
                .add(super::faults::TRANSPORT_ERROR);
        }
        hs.after = after;
        hs.session.handle_input(self.now, Input::WsFrame(id, frame));
        self.host_drain(sid, hs);
    }

    pub(super) fn host_ws_closed(&mut self, link: LinkId) {
        let Some(id) = self.links[link].req else {
            return;
        };
        match self.host.reqs.get_mut(&id) {
            Some(r) if matches!(r.state, ReqState::WsOpen { .. }) => r.state = ReqState::WsClosed,
            _ => return,
        }
        let Some((id, sid, mut hs)) = self.host_take(link) else {
            return;
        };
        trace!(self, "{} in WsClosed R{}", self.short_of(&hs), id.0);
        hs.sockets.remove(&id);
        hs.session.handle_input(self.now, Input::WsClosed(id));
        self.host_drain(sid, hs);
    }

    pub(super) fn host_timeout(&mut self, sid: Sid) {
        let Some(mut hs) = self.host.sessions.remove(&sid) else {
            return;
        };
        trace!(self, "{} timeout", self.short_of(&hs));
        hs.session.handle_timeout(self.now);
        if let Some(d) = hs.session.poll_timeout() {
            if d <= self.now {
                let detail = format!(
                    "{}: after handle_timeout({}ms) the deadline is {}ms",
                    self.short_of(&hs),
                    self.now.as_millis(),
                    d.as_millis()
                );
                self.fail(Invariant::Timer, detail);
            }
        }
        self.host_drain(sid, hs);
    }

    /// A wakeup before the deadline: `handle_timeout` must do nothing.
    pub(super) fn host_wakeup(&mut self, c: usize) {
        let Some(&sid) = self.host.by_client.get(&c) else {
            return;
        };
        let Some(mut hs) = self.host.sessions.remove(&sid) else {
            return;
        };
        let before = hs.session.poll_timeout();
        if before.is_none_or(|d| d <= self.now) {
            // Something is due after all (a frozen host woke up): a normal timeout.
            self.host.sessions.insert(sid, hs);
            return self.host_timeout(sid);
        }
        trace!(self, "s{c} early wakeup");
        hs.session.handle_timeout(self.now);
        let t = hs.session.poll_transmit();
        let e = hs.session.poll_event();
        if t.is_some() || e.is_some() || hs.session.poll_timeout() != before {
            let detail = format!(
                "s{c}: handle_timeout({}ms) before the deadline {:?} did something: {t:?} {e:?}",
                self.now.as_millis(),
                before.map(Instant::as_millis)
            );
            self.fail(Invariant::Timer, detail);
            if let Some(t) = t {
                self.host_transmit(&mut hs, t);
            }
            if let Some(e) = e {
                self.host_event(&mut hs, e);
            }
        }
        self.host_drain(sid, hs);
    }

    /// The server shuts down: no new sessions, every session closes.
    pub(super) fn host_shutdown(&mut self) {
        trace!(self, "srv shutdown");
        self.host.server.shutdown();
        self.host.shut_down = true;
        let sids: Vec<Sid> = self.host.sessions.keys().copied().collect();
        for sid in sids {
            let Some(mut hs) = self.host.sessions.remove(&sid) else {
                continue;
            };
            let cl = &mut self.clients[hs.client];
            cl.allowed.add(super::faults::SHUTDOWN);
            if let Some(srv) = cl.srv.as_mut() {
                // Like an application's close, it waits up to closeTimeout for a GET.
                srv.app_closing = Some(self.now);
            }
            hs.session.shutdown(self.now);
            self.host_drain(sid, hs);
        }
    }

    pub(super) fn host_app(&mut self, c: usize, action: AppAction) {
        let Some(&sid) = self.host.by_client.get(&c) else {
            return;
        };
        let Some(mut hs) = self.host.sessions.remove(&sid) else {
            return;
        };
        match action {
            AppAction::Send => {
                if self.now >= self.send_until {
                    self.host.sessions.insert(sid, hs);
                    return;
                }
                let a = Alphabet {
                    record_separator: true,
                    backslash: true,
                };
                let srv = self.clients[c]
                    .srv
                    .as_mut()
                    .expect("a session has its record");
                let n = srv.next_tag;
                srv.next_tag += 1;
                let m = wire::message(&mut self.rng, n, a);
                let r = hs.session.send(m.clone());
                trace!(self, "s{c} app send {} -> {r:?}", Show(Some(&m)));
                match r {
                    Ok(id) => {
                        if id.0 != hs.next_send {
                            self.fail(
                                Invariant::Protocol,
                                format!("s{c}: send id {id:?}, expected {}", hs.next_send),
                            );
                        }
                        hs.next_send += 1;
                        if let Some(srv) = self.clients[c].srv.as_mut() {
                            srv.sent.push(m);
                        }
                    }
                    Err(SendError::Full | SendError::Closed) => {}
                    Err(SendError::Unencodable) => {
                        let ok = matches!(&m, Message::Text(s) if s.contains('\u{1e}'))
                            && hs.session.transport() == Transport::Polling
                            && hs.session.version() == engineio_proto::ProtocolVersion::V4;
                        if !ok {
                            self.fail(
                                Invariant::Protocol,
                                format!("s{c}: Unencodable for {}", Show(Some(&m))),
                            );
                        }
                    }
                }
                let mean = self.clients[c].plan.app_send_mean;
                let next = self.rng.duration(Duration::ZERO, mean * 2);
                let at = self.now + next;
                self.queue.push(
                    at,
                    NORMAL,
                    Ev::App {
                        client: c,
                        action: AppAction::Send,
                    },
                );
            }
            AppAction::Close => {
                trace!(self, "s{c} app close");
                if let Some(srv) = self.clients[c].srv.as_mut() {
                    if srv.closed.is_none() {
                        srv.app_closing = Some(self.now);
                    }
                }
                hs.session.close(self.now);
            }
        }
        self.host_drain(sid, hs);
    }
}
