//! What the server's host does with a session's output, by the drain rule: every
//! [`Transmit`] performed over the simulated network, every [`Event`] given to the
//! application (and checked), the session's invariants after each round.

use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Frame, Transport};

use super::client::{Show, ShowFrame};
use super::host::{HostSession, ReqState};
use super::net::{Ev, LinkKind, NORMAL};
use super::trace::Esc;
use super::{Invariant, Sim};
use crate::{CloseReason, Event, ReqId, RequestKind, Sid, Transmit};

impl Sim {
    // ---- the drain rule -----------------------------------------------------------------------

    /// Drains transmits and events until both are empty, re-arms the timer, checks the
    /// session's invariants, and puts it back (or drops it once closed).
    pub(super) fn host_drain(&mut self, sid: Sid, mut hs: HostSession) {
        loop {
            let mut any = false;
            while let Some(t) = hs.session.poll_transmit() {
                any = true;
                self.host_transmit(&mut hs, t);
            }
            while let Some(e) = hs.session.poll_event() {
                any = true;
                self.host_event(&mut hs, e);
            }
            if !any {
                break;
            }
        }
        // Arm the one timer, a little late as real timers are.
        let lateness = self
            .rng
            .duration(Duration::ZERO, self.config.timer_lateness);
        hs.deadline = hs.session.poll_timeout().map(|d| d + lateness);
        if let Some(d) = hs.session.poll_timeout() {
            if d > self.now && self.rng.chance(self.config.spurious_wakeups) {
                let at = self.now
                    + self
                        .rng
                        .duration(Duration::ZERO, d - self.now - Duration::from_micros(1));
                self.queue
                    .push(at, NORMAL, Ev::Wakeup { client: hs.client });
            }
        }
        self.host_check(&mut hs);
        if let Some(reason) = hs.closed {
            trace!(self, "srv drops session s{}", hs.client);
            // As the runtime adapters do: the server remembers it (a late POST is taken).
            let transport = hs.session.transport();
            self.host
                .server
                .session_ended(self.now, sid, reason, transport);
            let by_server = matches!(
                reason,
                CloseReason::ForcedClose | CloseReason::ServerShuttingDown
            );
            if by_server && !hs.on_ws {
                let ttl = self.config.server.ping_timeout;
                self.host.lingering.ended(sid, self.now, ttl);
            }
            return;
        }
        self.host.sessions.insert(sid, hs);
    }

    pub(super) fn host_check(&mut self, hs: &mut HostSession) {
        let c = hs.client;
        if let Some(after) = hs.after.take() {
            self.check_after(c, after, hs.closed);
        }
        let gets = hs
            .pending
            .iter()
            .filter(|id| self.host.reqs.get(id).and_then(|r| r.kind) == Some(RequestKind::Get))
            .count();
        let posts = hs
            .pending
            .iter()
            .filter(|id| {
                matches!(
                    self.host.reqs.get(id).and_then(|r| r.kind),
                    Some(RequestKind::Post { .. })
                )
            })
            .count();
        if gets > 1 || posts > 1 {
            return self.fail(
                Invariant::ParkedRequests,
                format!("s{c}: {gets} GETs and {posts} POSTs held open at once"),
            );
        }
        let closed = hs.session.is_closed();
        if closed != hs.closed.is_some() || hs.session.close_reason() != hs.closed {
            return self.fail(
                Invariant::CloseCount,
                format!(
                    "s{c}: is_closed() {closed} but Closed events say {:?}",
                    hs.closed
                ),
            );
        }
        if closed {
            if hs.deadline.is_some() {
                return self.fail(
                    Invariant::Timer,
                    format!("s{c}: closed but still has a deadline"),
                );
            }
            if !hs.pending.is_empty() || !hs.sockets.is_empty() {
                let detail = format!(
                    "s{c}: closed with requests {:?} unanswered and WebSockets {:?} open",
                    hs.pending, hs.sockets
                );
                self.fail(Invariant::Leak, detail);
            }
        } else if hs.deadline.is_none() {
            self.fail(Invariant::Timer, format!("s{c}: open without a deadline"));
        }
    }

    pub(super) fn host_respond(
        &mut self,
        hs: Option<&mut HostSession>,
        id: ReqId,
        resp: http::Response<Bytes>,
    ) {
        let Some(r) = self.host.reqs.get_mut(&id) else {
            return self.fail(
                Invariant::Protocol,
                format!("response to unknown request R{}", id.0),
            );
        };
        match r.state {
            ReqState::Pending => r.state = ReqState::Answered,
            ReqState::Aborted => {
                trace!(self, "srv response to aborted R{} dropped", id.0);
                return;
            }
            _ => {
                let detail = format!("R{} answered twice ({:?})", id.0, r.state);
                return self.fail(Invariant::Protocol, detail);
            }
        }
        let link = r.link;
        let expect = r.expect.take();
        let (origin, preflight, cookie) =
            (r.origin.clone(), r.preflight.clone(), r.set_cookie.take());
        if let Some(hs) = hs {
            hs.pending.remove(&id);
        }
        let c = self.links[link].client;
        self.check_headers(
            c,
            id,
            resp.headers(),
            origin.as_ref(),
            preflight.as_ref().map(Option::as_ref),
            cookie.as_ref(),
        );
        if let Some(e) = expect {
            self.check_expect(c, id, &e, &resp);
        }
        self.send_down(
            link,
            Ev::Response {
                link,
                resp: Box::new(resp),
            },
        );
    }

    pub(super) fn host_transmit(&mut self, hs: &mut HostSession, t: Transmit) {
        let c = hs.client;
        match t {
            Transmit::Respond { req, response } => {
                trace!(
                    self,
                    "s{c} tx Respond R{} {} {}",
                    req.0,
                    response.status().as_u16(),
                    Esc(response.body())
                );
                self.host_respond(Some(hs), req, response);
            }
            Transmit::ReadBody { req, limit } => {
                trace!(self, "s{c} tx ReadBody R{} {limit}", req.0);
                match self.host.reqs.get_mut(&req) {
                    Some(r)
                        if r.state == ReqState::Pending
                            && matches!(r.kind, Some(RequestKind::Post { .. })) =>
                    {
                        r.limit = Some(limit);
                        let link = r.link;
                        // A slow upload (the first of overlapping POSTs) takes a while.
                        let at = self.now + self.links[link].body_delay;
                        self.queue.push(at, NORMAL, Ev::Body { link });
                    }
                    _ => self.fail(
                        Invariant::Protocol,
                        format!("s{c}: ReadBody for R{}", req.0),
                    ),
                }
            }
            Transmit::AcceptWebSocket { req, headers } => {
                trace!(self, "s{c} tx AcceptWebSocket R{}", req.0);
                let Some(r) = self.host.reqs.get_mut(&req) else {
                    return self.fail(
                        Invariant::Protocol,
                        format!("s{c}: accept of unknown R{}", req.0),
                    );
                };
                if r.state != ReqState::Pending || r.kind != Some(RequestKind::WebSocket) {
                    let detail =
                        format!("s{c}: accept of R{} ({:?}, {:?})", req.0, r.kind, r.state);
                    return self.fail(Invariant::Protocol, detail);
                }
                let direct = self.links[r.link].kind == LinkKind::WsHandshake;
                r.state = ReqState::WsOpen {
                    got_5: false,
                    direct,
                };
                let link = r.link;
                let cookie = r.set_cookie.take();
                hs.pending.remove(&req);
                hs.sockets.insert(req);
                if !direct {
                    hs.upgrade_ws = Some(req);
                }
                // A `101` carries the handshake's cookie, and no CORS headers.
                if headers.len() != usize::from(cookie.is_some()) {
                    let detail = format!("s{c}: the 101 of R{} has headers {headers:?}", req.0);
                    return self.fail(Invariant::Answer, detail);
                }
                self.check_cookie(c, req, &headers, cookie.as_ref());
                let headers = Box::new(headers);
                self.send_down(link, Ev::WsOpen { link, headers });
            }
            Transmit::WsFrame { ws, frame, .. } => {
                trace!(self, "s{c} tx WsFrame R{} {}", ws.0, ShowFrame(&frame));
                let Some(r) = self.host.reqs.get(&ws) else {
                    return self.fail(
                        Invariant::Protocol,
                        format!("s{c}: frame on unknown R{}", ws.0),
                    );
                };
                match r.state {
                    ReqState::WsOpen { got_5, direct } => {
                        let probe = matches!(&frame, Frame::Text(s) if s.as_str() == "3probe");
                        if !got_5 && !direct && !probe {
                            return self.fail(
                                Invariant::WsDataBefore5,
                                format!(
                                    "s{c}: {} on WebSocket R{} before 5",
                                    ShowFrame(&frame),
                                    ws.0
                                ),
                            );
                        }
                        let link = r.link;
                        self.send_down(link, Ev::FrameDown { link, frame });
                    }
                    ReqState::WsClosed => {
                        self.fail(
                            Invariant::Protocol,
                            format!("s{c}: frame on closed WebSocket R{}", ws.0),
                        );
                    }
                    _ => {
                        self.fail(
                            Invariant::Protocol,
                            format!("s{c}: frame on R{} ({:?})", ws.0, r.state),
                        );
                    }
                }
            }
            Transmit::WsClose { ws } => {
                trace!(self, "s{c} tx WsClose R{}", ws.0);
                let Some(r) = self.host.reqs.get_mut(&ws) else {
                    return self.fail(
                        Invariant::Protocol,
                        format!("s{c}: close of unknown R{}", ws.0),
                    );
                };
                if !matches!(r.state, ReqState::WsOpen { .. }) {
                    let detail = format!("s{c}: close of WebSocket R{} ({:?})", ws.0, r.state);
                    return self.fail(Invariant::Protocol, detail);
                }
                r.state = ReqState::WsClosed;
                let link = r.link;
                hs.sockets.remove(&ws);
                self.send_down(link, Ev::CloseDown { link });
            }
        }
    }

    pub(super) fn host_event(&mut self, hs: &mut HostSession, e: Event) {
        let c = hs.client;
        if hs.closed.is_some() {
            return self.fail(
                Invariant::CloseCount,
                format!("s{c}: event {e:?} after Closed"),
            );
        }
        match e {
            Event::Message(m) => {
                trace!(self, "s{c} ev Message {}", Show(Some(&m)));
                let cl = &mut self.clients[c];
                let Some(srv) = cl.srv.as_mut() else { return };
                let i = srv.received.len();
                let expected = cl.sent.get(i);
                if expected != Some(&m) {
                    let detail = format!(
                        "s{c} received message #{i} {} but the client sent {}",
                        Show(Some(&m)),
                        Show(expected)
                    );
                    return self.fail(Invariant::MessageOrder, detail);
                }
                srv.received.push(m);
                self.stats.messages_to_server += 1;
            }
            Event::Flushed { last } => {
                trace!(self, "s{c} ev Flushed {}", last.0);
                if hs.last_flushed.is_some_and(|l| l >= last) || last.0 >= hs.next_send {
                    let detail = format!(
                        "s{c}: Flushed {} after {:?} ({} sent)",
                        last.0, hs.last_flushed, hs.next_send
                    );
                    return self.fail(Invariant::Flushed, detail);
                }
                hs.last_flushed = Some(last);
            }
            Event::Upgrading => {
                trace!(self, "s{c} ev Upgrading");
                if hs.upgrade_ws.is_none() {
                    self.fail(
                        Invariant::Protocol,
                        format!("s{c}: Upgrading without a WebSocket"),
                    );
                }
            }
            Event::Upgraded => {
                trace!(self, "s{c} ev Upgraded");
                if hs.upgraded || hs.session.transport() != Transport::Websocket {
                    return self.fail(
                        Invariant::Protocol,
                        format!("s{c}: a second or false Upgraded"),
                    );
                }
                hs.upgraded = true;
                hs.on_ws = true;
                hs.upgrade_ws = None;
                self.stats.upgrades += 1;
            }
            Event::UpgradeAborted(why) => {
                trace!(self, "s{c} ev UpgradeAborted ({why})");
                self.stats.upgrades_aborted += 1;
                if let Some(ws) = hs.upgrade_ws.take() {
                    if hs.sockets.contains(&ws) {
                        self.fail(
                            Invariant::Leak,
                            format!("s{c}: upgrade aborted, its WebSocket R{} left open", ws.0),
                        );
                    }
                }
            }
            Event::Closed(reason) => {
                trace!(self, "s{c} ev Closed {reason}");
                hs.closed = Some(reason);
                self.host.closed += 1;
                *self.stats.server_closes.entry(reason.as_str()).or_default() += 1;
                let cl = &mut self.clients[c];
                if let Some(srv) = cl.srv.as_mut() {
                    srv.closed = Some((reason, self.now));
                }
                let allowed = cl.allowed;
                // Our client closes gracefully: what it sent before goes first.
                let graceful = cl
                    .ours
                    .as_ref()
                    .is_some_and(|o| o.graceful && o.closed_by_app());
                if let (true, CloseReason::TransportClose, Some(srv)) =
                    (graceful, reason, cl.srv.as_ref())
                {
                    if srv.received.len() != cl.sent.len() {
                        let detail = format!(
                            "c{c} closed gracefully after sending {} messages; its session got {}",
                            cl.sent.len(),
                            srv.received.len()
                        );
                        return self.fail(Invariant::Delivery, detail);
                    }
                }
                if !allowed.contains(reason) {
                    let detail = format!(
                        "s{c} closed with `{reason}`; the faults and script of c{c} allow {:?}",
                        allowed.names()
                    );
                    self.fail(Invariant::CloseReason, detail);
                }
            }
            other => trace!(self, "s{c} ev {other:?}"),
        }
    }
}
