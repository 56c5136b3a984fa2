//! Our own client machine as a simulated client: a [`ClientSession`] under a host as small as
//! the server's. The host performs every [`ClientTransmit`] over the simulated links (requests
//! go through [`Server::route`](crate::Server::route) like the wire clients' requests), feeds
//! back what becomes of them as [`ClientInput`]s, follows the drain rule, and arms one timer
//! at [`ClientSession::poll_timeout`] (a little late, sometimes early).
//!
//! What becomes of a request or WebSocket: its response, `101` and frames arrive as
//! `HttpResponse`, `WsOpened` and `WsFrame`; a refused WebSocket, or one the server closes, is
//! `WsClosed`; a connection lost to a partition or killed by a fault is noticed by the host
//! (a reset, a timeout) a while later: `HttpFailed` or `WsClosed`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Frame, Transport};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, Uri};

use super::client::{ClientClose, Show, ShowFrame};
use super::faults::KillPhase;
use super::net::{ClientAction, Ev, LinkId, LinkKind, NORMAL};
use super::reconnect::Refused;
use super::trace::Esc;
use super::wire::{self, Alphabet, ClientFormat};
use super::{Invariant, Sim};
use crate::{
    ClientConfig, ClientInput, ClientSession, CloseReason, Instant, ReqId, SendError, SendId,
};

/// What a connection the machine asked for is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnKind {
    Get,
    Post,
    /// A WebSocket: `probe` when it is an upgrade's; `open` once its `101` came; `sent5` once
    /// the machine sent `5` on it; `dead` once a fault killed it (the host has not told the
    /// machine yet).
    Ws {
        probe: bool,
        open: bool,
        sent5: bool,
        dead: bool,
    },
}

/// A request or WebSocket whose outcome the host still owes the machine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conn {
    pub(crate) id: ReqId,
    pub(crate) kind: ConnKind,
}

/// Our client machine and what its host keeps.
pub(crate) struct Ours {
    pub(crate) machine: ClientSession,
    /// Connections the machine still waits to hear about, by link.
    pub(crate) conns: BTreeMap<LinkId, Conn>,
    /// The machine's deadline the host's timer is armed for, and the timer's generation.
    pub(crate) armed: Option<Instant>,
    pub(crate) timer_gen: u64,
    pub(crate) next_send: u64,
    pub(crate) last_flushed: Option<SendId>,
    pub(crate) closed: Option<CloseReason>,
    /// The application called `close`.
    pub(crate) app_closed: bool,
    /// The application called `close` once the connection was open, and no fault cut the
    /// connection since: everything it sent before goes first.
    pub(crate) graceful: bool,
    /// The input being handled came from the server (a response, a frame, a close), not from
    /// a fault or the host.
    pub(crate) from_server: bool,
    /// Its handshake was refused: how it must close.
    pub(crate) refused: Option<Refused>,
}

impl Ours {
    /// Whether the machine closed because its application closed it.
    pub(crate) fn closed_by_app(&self) -> bool {
        self.closed == Some(CloseReason::ForcedClose) && self.app_closed
    }
}

impl Sim {
    // ---- the application ----------------------------------------------------------------------

    /// Creates the machine: its first transmit is the handshake. `retry`: a new machine for a
    /// client whose handshake was refused (its application goes on as it was).
    pub(super) fn machine_start(&mut self, c: usize, retry: bool) {
        let plan = &self.clients[c].plan;
        let s = &self.config.server;
        let mut cfg = ClientConfig::new(Uri::from_static("http://sim.test"));
        cfg.path.clone_from(&s.path);
        cfg.version = plan.format.version();
        cfg.force_base64 = plan.format == ClientFormat::V3Base64;
        cfg.transports = match plan.open_on {
            Transport::Websocket => vec![Transport::Websocket],
            Transport::Polling => vec![Transport::Polling, Transport::Websocket],
        };
        cfg.upgrade = plan.upgrade_after.is_some();
        cfg.connect_timeout = s.ping_interval + s.ping_timeout;
        cfg.seed = self.rng.u64();
        if let Some(origin) = plan.origin {
            cfg.extra_headers
                .insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        let mode = mode_name(cfg.version, plan.open_on, cfg.upgrade, cfg.force_base64);
        trace!(self, "c{c} our client, {mode}");
        let first_start = !retry && self.clients[c].old_sid.is_none();
        let cl = &mut self.clients[c];
        cl.started = Some(self.now);
        cl.ours = Some(Box::new(Ours {
            machine: ClientSession::new(self.now, cfg),
            conns: BTreeMap::new(),
            armed: None,
            timer_gen: 0,
            next_send: 0,
            last_flushed: None,
            closed: None,
            app_closed: false,
            graceful: false,
            from_server: false,
            refused: None,
        }));
        if first_start {
            // (A reconnect is counted in `inputs`.)
            *self.stats.our_clients.entry(mode).or_default() += 1;
        }
        if !retry {
            let first = self
                .rng
                .duration(Duration::ZERO, self.clients[c].plan.send_mean * 2);
            self.at(c, first, ClientAction::Send);
        }
        self.machine_drain(c);
    }

    pub(super) fn machine_action(&mut self, c: usize, action: ClientAction) {
        match action {
            ClientAction::Start => self.machine_start(c, false),
            ClientAction::Retry => {
                let cl = &mut self.clients[c];
                if cl.retrying && cl.close.is_none() {
                    cl.retrying = false;
                    self.machine_start(c, true);
                }
            }
            ClientAction::Send => self.machine_app_send(c),
            ClientAction::Close => {
                let cl = &mut self.clients[c];
                if cl.retrying && cl.close.is_none() {
                    // Refused, not tried again yet: the application gives up.
                    trace!(self, "c{c} app close while refused");
                    cl.retrying = false;
                    cl.close = Some((ClientClose::ForcedClose, self.now));
                    *self.stats.client_closes.entry("forced close").or_default() += 1;
                    return;
                }
                let Some(o) = self.clients[c].ours.as_mut() else {
                    return;
                };
                if o.closed.is_some() {
                    return;
                }
                o.app_closed = true;
                o.graceful = o.machine.is_open();
                trace!(self, "c{c} app close");
                o.machine.close(self.now);
                o.from_server = false;
                self.machine_drain(c);
            }
            ClientAction::MachineTimer(gen) => {
                let Some(o) = self.clients[c].ours.as_mut() else {
                    return;
                };
                if gen != o.timer_gen || o.closed.is_some() {
                    return;
                }
                o.armed = None;
                o.from_server = false;
                o.machine.handle_timeout(self.now);
                let after = o.machine.poll_timeout();
                trace!(self, "c{c} timeout");
                if let Some(d) = after.filter(|&d| d <= self.now) {
                    let detail = format!(
                        "c{c}: after the client's handle_timeout({}ms) its deadline is {}ms",
                        self.now.as_millis(),
                        d.as_millis()
                    );
                    self.fail(Invariant::Timer, detail);
                }
                self.machine_drain(c);
            }
            ClientAction::MachineWakeup => {
                let Some(o) = self.clients[c].ours.as_mut() else {
                    return;
                };
                let before = o.machine.poll_timeout();
                if o.closed.is_some() || before.is_none_or(|d| d <= self.now) {
                    return;
                }
                o.machine.handle_timeout(self.now);
                let t = o.machine.poll_transmit();
                let e = o.machine.poll_event();
                let after = o.machine.poll_timeout();
                trace!(self, "c{c} early wakeup");
                if t.is_some() || e.is_some() || after != before {
                    let detail = format!(
                        "c{c}: the client's handle_timeout({}ms) before its deadline {:?} did \
                         something: {t:?} {e:?}",
                        self.now.as_millis(),
                        before.map(Instant::as_millis)
                    );
                    self.fail(Invariant::Timer, detail);
                }
            }
            ClientAction::Fault(i) => self.machine_fault(c, i),
            _ => {}
        }
    }

    pub(super) fn machine_app_send(&mut self, c: usize) {
        let Some(o) = self.clients[c].ours.as_ref() else {
            return;
        };
        if self.now >= self.send_until || o.app_closed {
            return;
        }
        if o.closed.is_some() {
            if self.clients[c].retrying {
                // Refused, trying again soon: the application keeps its pace.
                let mean = self.clients[c].plan.send_mean;
                let next = self.rng.duration(Duration::ZERO, mean * 2);
                self.at(c, next, ClientAction::Send);
            }
            return;
        }
        let burst = if self.rng.chance(0.2) {
            self.rng.range(2, 5)
        } else {
            1
        };
        let a = Alphabet {
            record_separator: true,
            backslash: true,
        };
        for _ in 0..burst {
            let n = self.clients[c].next_tag;
            self.clients[c].next_tag += 1;
            let m = wire::message(&mut self.rng, n, a);
            // The application keeps to the server's limit (v3 clients are not told it).
            if m.len() * 2 + 16 > self.config.server.max_payload {
                continue;
            }
            self.machine_send(c, m);
        }
        if let Some(o) = self.clients[c].ours.as_mut() {
            o.from_server = false;
        }
        self.machine_drain(c);
        let mean = self.clients[c].plan.send_mean;
        let next = self.rng.duration(Duration::ZERO, mean * 2);
        self.at(c, next, ClientAction::Send);
    }

    /// The application sends `m` (not drained yet): the id and the outcome are checked.
    pub(super) fn machine_send(&mut self, c: usize, m: crate::proto::Message) {
        let Some(o) = self.clients[c].ours.as_mut() else {
            return;
        };
        let r = o.machine.send(m.clone());
        let polling_v4 = o.machine.transport() == Transport::Polling
            && o.machine.config().version == engineio_proto::ProtocolVersion::V4;
        let expected = o.next_send;
        trace!(self, "c{c} app send {} -> {r:?}", Show(Some(&m)));
        match r {
            Ok(id) => {
                if id.0 != expected {
                    let detail = format!("c{c}: send id {}, expected {expected}", id.0);
                    self.fail(Invariant::Protocol, detail);
                }
                if let Some(o) = self.clients[c].ours.as_mut() {
                    o.next_send += 1;
                }
                self.clients[c].sent.push(m);
            }
            Err(SendError::Full | SendError::Closed) => {}
            Err(SendError::Unencodable) => {
                let ok = matches!(&m, crate::proto::Message::Text(s) if s.contains('\u{1e}'))
                    && polling_v4;
                if !ok {
                    let detail = format!("c{c}: Unencodable for {}", Show(Some(&m)));
                    self.fail(Invariant::Protocol, detail);
                }
            }
        }
    }

    /// Our machine's state for the inputs: open, on WebSocket, protocol v4.
    pub(super) fn machine_state(&self, c: usize) -> Option<(bool, bool, bool)> {
        let o = self.clients[c].ours.as_ref()?;
        let m = &o.machine;
        Some((
            m.is_open() && o.closed.is_none() && !o.app_closed,
            m.transport() == Transport::Websocket,
            m.config().version == engineio_proto::ProtocolVersion::V4,
        ))
    }

    /// Drains our machine after the application acted on it.
    pub(super) fn machine_after_app(&mut self, c: usize) {
        if let Some(o) = self.clients[c].ours.as_mut() {
            o.from_server = false;
        }
        self.machine_drain(c);
    }

    // ---- inputs from the network --------------------------------------------------------------

    /// Feeds `input` and drains.
    pub(super) fn machine_input(&mut self, c: usize, input: ClientInput, from_server: bool) {
        let Some(o) = self.clients[c].ours.as_mut() else {
            return;
        };
        o.from_server = from_server;
        o.machine.handle_input(self.now, input);
        self.machine_drain(c);
    }

    pub(super) fn conn(&mut self, link: LinkId) -> Option<(usize, &mut Conn)> {
        let c = self.links[link].client;
        let o = self.clients[c].ours.as_mut()?;
        o.conns.get_mut(&link).map(|conn| (c, conn))
    }

    fn take_conn(&mut self, link: LinkId) -> Option<(usize, Conn)> {
        let c = self.links[link].client;
        let o = self.clients[c].ours.as_mut()?;
        o.conns.remove(&link).map(|conn| (c, conn))
    }

    pub(super) fn machine_on_response(&mut self, link: LinkId, resp: Response<Bytes>) {
        let (c, kind) = (self.links[link].client, self.links[link].kind);
        let status = resp.status().as_u16();
        trace!(
            self,
            "c{c} <- L{link} {} {status} {}",
            kind.name(),
            Esc(resp.body())
        );
        let Some((c, conn)) = self.take_conn(link) else {
            return;
        };
        let handshake = matches!(kind, LinkKind::Handshake | LinkKind::WsHandshake);
        if handshake && (status == 403 || status == 503) {
            // Refused (the host checked the answer): the machine must close, then it tries
            // again or gives up.
            let reason = if kind == LinkKind::Handshake {
                CloseReason::TransportError
            } else {
                CloseReason::TransportClose
            };
            let cl = &mut self.clients[c];
            // What its application sent meanwhile went nowhere: the next session starts afresh.
            cl.sent.clear();
            if let Some(o) = cl.ours.as_mut() {
                o.refused = Some(Refused {
                    reason,
                    unavailable: status == 503,
                });
            }
        } else if handshake && status != 200 {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: handshake refused with {status}"),
            );
        }
        if status == 413
            && self.clients[c].plan.format.version() == engineio_proto::ProtocolVersion::V4
        {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: a POST over the maxPayload the server announced"),
            );
        }
        // (Otherwise 413 is a v3 client's batch over maxPayload, which it is not told: the
        // host's model expected it, and the session's close.)
        let input = match conn.kind {
            // A WebSocket refused.
            ConnKind::Ws { .. } => ClientInput::WsClosed { ws: conn.id },
            ConnKind::Get | ConnKind::Post => {
                let (parts, body) = resp.into_parts();
                ClientInput::HttpResponse {
                    req: conn.id,
                    status,
                    headers: parts.headers,
                    body,
                }
            }
        };
        self.machine_input(c, input, true);
    }

    pub(super) fn machine_on_ws_open(&mut self, link: LinkId, headers: HeaderMap) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} 101");
        let Some((c, conn)) = self.conn(link) else {
            return;
        };
        let ConnKind::Ws {
            probe,
            ref mut open,
            dead: false,
            ..
        } = conn.kind
        else {
            return;
        };
        *open = true;
        let ws = conn.id;
        self.machine_input(c, ClientInput::WsOpened { ws, headers }, true);
        if probe
            && self.clients[c].plan.kill_ws == Some(KillPhase::AfterOpen)
            && self.machine_mark_dead(link)
        {
            self.machine_kill_ws(c, link, false);
        }
    }

    pub(super) fn machine_on_frame(&mut self, link: LinkId, frame: Frame) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} frame {}", ShowFrame(&frame));
        let Some((c, conn)) = self.conn(link) else {
            return;
        };
        let ConnKind::Ws {
            probe,
            open: true,
            sent5,
            dead: false,
        } = conn.kind
        else {
            return;
        };
        let ws = conn.id;
        let probe_answer = matches!(&frame, Frame::Text(s) if s.as_str() == "3probe");
        if probe
            && !sent5
            && probe_answer
            && self.clients[c].plan.kill_ws == Some(KillPhase::AfterProbe)
            && self.machine_mark_dead(link)
        {
            return self.machine_kill_ws(c, link, false);
        }
        self.machine_input(c, ClientInput::WsFrame { ws, frame }, true);
    }

    pub(super) fn machine_on_ws_closed(&mut self, link: LinkId) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} ws closed");
        let Some((c, conn)) = self.take_conn(link) else {
            return;
        };
        self.machine_input(c, ClientInput::WsClosed { ws: conn.id }, true);
    }

    /// The host notices that a connection is gone.
    pub(super) fn machine_on_lost(&mut self, link: LinkId) {
        let Some((c, conn)) = self.take_conn(link) else {
            return;
        };
        trace!(self, "c{c} L{link} lost");
        let input = match conn.kind {
            ConnKind::Ws { .. } => ClientInput::WsClosed { ws: conn.id },
            ConnKind::Get | ConnKind::Post => ClientInput::HttpFailed { req: conn.id },
        };
        self.machine_input(c, input, false);
    }

    /// `link` died under a partition: if our machine waits on it, its host notices within the
    /// heartbeat bound (a reset comes at once, a timeout later).
    pub(super) fn link_died(&mut self, link: LinkId) {
        let c = self.links[link].client;
        if !self.clients[c].plan.ours {
            return;
        }
        let s = &self.config.server;
        let after = self
            .rng
            .duration(Duration::ZERO, s.ping_interval + s.ping_timeout);
        self.queue.push(self.now + after, NORMAL, Ev::Lost { link });
    }
}

/// Our client's kind, for reports.
fn mode_name(
    version: engineio_proto::ProtocolVersion,
    open_on: Transport,
    upgrade: bool,
    base64: bool,
) -> &'static str {
    use engineio_proto::ProtocolVersion::{V3, V4};
    match (version, base64, open_on, upgrade) {
        (V4, _, Transport::Websocket, _) => "v4 websocket",
        (V4, _, Transport::Polling, true) => "v4 polling+upgrade",
        (V4, _, Transport::Polling, false) => "v4 polling",
        (V3, false, Transport::Websocket, _) => "v3 websocket",
        (V3, false, Transport::Polling, true) => "v3 polling+upgrade",
        (V3, false, Transport::Polling, false) => "v3 polling",
        (V3, true, Transport::Websocket, _) => "v3-b64 websocket",
        (V3, true, Transport::Polling, true) => "v3-b64 polling+upgrade",
        (V3, true, Transport::Polling, false) => "v3-b64 polling",
    }
}
