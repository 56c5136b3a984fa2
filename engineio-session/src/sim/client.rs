//! Simulated clients, written against the wire format: they build HTTP requests and WebSocket
//! frames, and read responses and frames with engineio-proto's decoders, the way
//! `engine.io-client` (v4 and v3) does, with faults they can inject on purpose.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_proto::{Frame, Handshake, Message, Packet, ProtocolVersion, Transport};
use http::{Method, Response};

use super::faults::{self, FaultKind, KillPhase, Planned, Reasons};
use super::net::{ClientAction, Ev, LinkId, LinkKind};
use super::ours::Ours;
use super::trace::Esc;
use super::wire::{self, Alphabet, ClientFormat};
use super::{Invariant, Sim};
use crate::{CloseReason, Instant, Sid};

/// Why a simulated client closed, as `engine.io-client` would say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientClose {
    /// The server closed (a `1` packet, or its WebSocket closed).
    TransportClose,
    /// A request failed (an error status, a dropped request).
    TransportError,
    /// The heartbeat went silent.
    PingTimeout,
    /// The client's application closed it.
    ForcedClose,
    /// The handshake never completed.
    ConnectFailed,
    /// Our client machine closed (`ClientEvent::Closed`) for this reason.
    Machine(CloseReason),
}

impl ClientClose {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientClose::TransportClose => "transport close",
            ClientClose::TransportError => "transport error",
            ClientClose::PingTimeout => "ping timeout",
            ClientClose::ForcedClose => "forced close",
            ClientClose::ConnectFailed => "connect failed",
            ClientClose::Machine(r) => r.as_str(),
        }
    }

    /// Whether the client decided it (and so tells the server, if it can).
    fn is_local(self) -> bool {
        matches!(self, ClientClose::ForcedClose | ClientClose::PingTimeout)
    }
}

/// What a client will do, drawn when the run starts.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Our client machine ([`ClientSession`](crate::ClientSession)) rather than a wire client.
    pub(crate) ours: bool,
    pub(crate) format: ClientFormat,
    pub(crate) open_on: Transport,
    pub(crate) start: Instant,
    pub(crate) latency: Duration,
    pub(crate) upgrade_after: Option<Duration>,
    pub(crate) accept_encoding: Option<&'static str>,
    pub(crate) send_mean: Duration,
    pub(crate) app_send_mean: Duration,
    pub(crate) close_at: Option<Instant>,
    pub(crate) app_close_at: Option<Instant>,
    pub(crate) faults: Vec<(Instant, Planned)>,
    pub(crate) kill_ws: Option<KillPhase>,
    pub(crate) delay5: Option<(Duration, bool)>,
    pub(crate) close_frame: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Connecting(LinkId),
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsStage {
    /// The upgrade request is on its way.
    Connecting,
    /// A direct WebSocket session, waiting for its open packet.
    Opening,
    /// `2probe` sent.
    Probing,
    /// `3probe` received; `5` not sent yet.
    Probed,
    /// `5` sent: this is the transport now.
    Upgraded,
    /// A session opened on WebSocket.
    Direct,
}

/// What the server's side of a client's session did (kept by the host, read by checks).
#[derive(Debug)]
pub(crate) struct SrvSide {
    pub(crate) sid: Sid,
    /// Messages the server's application sent (accepted by `Session::send`).
    pub(crate) sent: Vec<Message>,
    /// Messages the session delivered to the application.
    pub(crate) received: Vec<Message>,
    pub(crate) closed: Option<(CloseReason, Instant)>,
    pub(crate) app_closing: Option<Instant>,
    pub(crate) next_tag: u64,
}

pub(crate) struct Client {
    pub(crate) plan: Plan,
    pub(crate) phase: Phase,
    pub(crate) started: Option<Instant>,
    pub(crate) sid: Option<String>,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_payload: Option<usize>,
    pub(crate) upgrades_offered: bool,
    pub(crate) transport: Transport,
    /// In-flight GETs, with their response once it came (processed in the order sent).
    pub(crate) gets: BTreeMap<LinkId, Option<Response<Bytes>>>,
    pub(crate) post: Option<LinkId>,
    pub(crate) outbox: VecDeque<Packet>,
    pub(crate) stall_until: Instant,
    pub(crate) ws: Option<(LinkId, WsStage)>,
    pub(crate) pausing: bool,
    pub(crate) delay5_until: Option<Instant>,
    pub(crate) close_after_post: bool,
    pub(crate) sent: Vec<Message>,
    pub(crate) received: Vec<Message>,
    pub(crate) next_tag: u64,
    pub(crate) close: Option<(ClientClose, Instant)>,
    pub(crate) hb_gen: u64,
    /// Close reasons the server may legitimately give this client's session.
    pub(crate) allowed: Reasons,
    pub(crate) partitions: Vec<(Instant, Instant)>,
    pub(crate) srv: Option<SrvSide>,
    /// Our client machine and its host, for a client of that kind (taken out while it drains).
    pub(crate) ours: Option<Box<Ours>>,
    /// Close reasons our client machine may legitimately give (besides those its session's
    /// close explains).
    pub(crate) machine_allowed: Reasons,
}

impl Client {
    pub(crate) fn new(plan: Plan) -> Client {
        let mut allowed = Reasons::default();
        if plan.close_at.is_some() {
            allowed.add(faults::CLIENT_CLOSE);
        }
        if plan.app_close_at.is_some() {
            allowed.add(faults::APP_CLOSE);
        }
        let mut machine_allowed = Reasons::default();
        if plan.close_at.is_some() {
            machine_allowed.add(faults::MACHINE_APP_CLOSE);
        }
        Client {
            transport: plan.open_on,
            plan,
            phase: Phase::Idle,
            started: None,
            sid: None,
            ping_interval: Duration::ZERO,
            ping_timeout: Duration::ZERO,
            max_payload: None,
            upgrades_offered: false,
            gets: BTreeMap::new(),
            post: None,
            outbox: VecDeque::new(),
            stall_until: Instant::ZERO,
            ws: None,
            pausing: false,
            delay5_until: None,
            close_after_post: false,
            sent: Vec::new(),
            received: Vec::new(),
            next_tag: 0,
            close: None,
            hb_gen: 0,
            allowed,
            partitions: Vec::new(),
            srv: None,
            ours: None,
            machine_allowed,
        }
    }

    fn version(&self) -> ProtocolVersion {
        self.plan.format.version()
    }

    fn is_open(&self) -> bool {
        self.phase == Phase::Open && self.close.is_none()
    }

    fn on_ws(&self) -> Option<LinkId> {
        match self.ws {
            Some((l, WsStage::Upgraded | WsStage::Direct)) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn partitioned(&self, at: Instant) -> bool {
        self.partitions.iter().any(|&(a, b)| a <= at && at < b)
    }
}

impl Sim {
    pub(super) fn at(&mut self, c: usize, after: Duration, action: ClientAction) {
        let at = self.now + after;
        self.queue
            .push(at, super::net::NORMAL, Ev::Client { client: c, action });
    }

    fn cache_buster(&mut self) -> u64 {
        self.rng.u64() >> 24
    }

    fn target(&mut self, c: usize, transport: Transport) -> String {
        let t = self.cache_buster();
        let cl = &self.clients[c];
        cl.plan
            .format
            .target(&self.config.server.path, transport, cl.sid.as_deref(), t)
    }

    pub(super) fn client_action(&mut self, c: usize, action: ClientAction) {
        match action {
            ClientAction::Start => self.client_start(c),
            ClientAction::ConnectTimeout => {
                if matches!(self.clients[c].phase, Phase::Connecting(_)) {
                    self.client_close(c, ClientClose::ConnectFailed);
                }
            }
            ClientAction::Send => self.client_app_send(c),
            ClientAction::Upgrade => self.client_start_upgrade(c),
            ClientAction::Close => {
                if self.clients[c].close.is_none() {
                    trace!(self, "c{c} app close");
                    self.client_close(c, ClientClose::ForcedClose);
                }
            }
            ClientAction::Heartbeat(gen) => {
                let cl = &self.clients[c];
                if gen != cl.hb_gen || !cl.is_open() {
                    return;
                }
                match cl.version() {
                    ProtocolVersion::V4 => {
                        trace!(self, "c{c} no ping from the server: ping timeout");
                        self.client_close(c, ClientClose::PingTimeout);
                    }
                    ProtocolVersion::V3 => {
                        trace!(self, "c{c} ping");
                        let timeout = cl.ping_timeout;
                        self.client_send(c, Packet::ping());
                        self.at(c, timeout, ClientAction::PongTimeout(gen));
                    }
                }
            }
            ClientAction::PongTimeout(gen) => {
                let cl = &self.clients[c];
                if gen == cl.hb_gen && cl.is_open() {
                    trace!(self, "c{c} no pong: ping timeout");
                    self.client_close(c, ClientClose::PingTimeout);
                }
            }
            ClientAction::Fault(i) => self.client_fault(c, i),
            ClientAction::StallEnd => {
                trace!(self, "c{c} polls again");
                self.client_maybe_poll(c);
            }
            ClientAction::Send5 => {
                self.clients[c].delay5_until = None;
                self.client_try_finish_upgrade(c);
            }
            ClientAction::MachineTimer(_) | ClientAction::MachineWakeup => {}
        }
    }

    // ---- opening ------------------------------------------------------------------------------

    fn client_start(&mut self, c: usize) {
        let transport = self.clients[c].plan.open_on;
        let target = self.target(c, transport);
        let (kind, req) = match transport {
            Transport::Polling => {
                let ae = self.clients[c].plan.accept_encoding;
                let req = wire::http_request(Method::GET, &target, ae, Bytes::new(), None);
                (LinkKind::Handshake, req)
            }
            Transport::Websocket => (
                LinkKind::WsHandshake,
                wire::ws_request(&target, &mut self.rng),
            ),
        };
        let link = self.new_link(c, kind);
        trace!(
            self,
            "c{c} {} handshake L{link} {target}",
            self.clients[c].plan.format.name()
        );
        self.clients[c].phase = Phase::Connecting(link);
        self.clients[c].started = Some(self.now);
        if transport == Transport::Websocket {
            self.clients[c].ws = Some((link, WsStage::Connecting));
        }
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
        let timeout = self.config.server.ping_interval + self.config.server.ping_timeout;
        self.at(c, timeout, ClientAction::ConnectTimeout);
    }

    fn client_on_open(&mut self, c: usize, packet: Packet, via: Transport) {
        let Packet::Open(json) = packet else {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: the first packet of the session is not an open packet"),
            );
        };
        let hs = match Handshake::from_json(&json) {
            Ok(hs) => hs,
            Err(e) => {
                return self.fail(Invariant::Protocol, format!("c{c}: bad handshake: {e}"));
            }
        };
        let cfg = &self.config.server;
        let cl = &self.clients[c];
        let expect_upgrades =
            via == Transport::Polling && cfg.allow_upgrades && cfg.transports.websocket;
        let problem = if Some(hs.sid.as_str()) != cl.srv.as_ref().map(|s| s.sid.as_str()) {
            Some("the sid is not the one the server made")
        } else if hs.ping_interval != cfg.ping_interval.as_millis() as u64
            || hs.ping_timeout != cfg.ping_timeout.as_millis() as u64
        {
            Some("the heartbeat times are not the configured ones")
        } else if hs.max_payload.is_some() != (cl.version() == ProtocolVersion::V4) {
            Some("maxPayload is sent to v4 clients only")
        } else if hs.upgrades.contains(&Transport::Websocket) != expect_upgrades {
            Some("the upgrades offered are wrong")
        } else {
            None
        };
        if let Some(p) = problem {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: handshake {}: {p}", json.as_str()),
            );
        }
        trace!(self, "c{c} open {} via {via}", hs.sid);
        let cl = &mut self.clients[c];
        cl.sid = Some(hs.sid);
        cl.ping_interval = Duration::from_millis(hs.ping_interval);
        cl.ping_timeout = Duration::from_millis(hs.ping_timeout);
        cl.max_payload = hs.max_payload.map(|m| m as usize);
        cl.upgrades_offered = hs.upgrades.contains(&Transport::Websocket);
        cl.phase = Phase::Open;
        cl.transport = via;
        cl.hb_gen += 1;
        let gen = cl.hb_gen;
        let first_beat = match cl.version() {
            ProtocolVersion::V4 => cl.ping_interval + cl.ping_timeout,
            ProtocolVersion::V3 => cl.ping_interval,
        };
        let upgrade = cl.plan.upgrade_after.filter(|_| cl.upgrades_offered);
        let send_mean = cl.plan.send_mean;
        let app_send_mean = cl.plan.app_send_mean;
        self.at(c, first_beat, ClientAction::Heartbeat(gen));
        if let Some(after) = upgrade {
            self.at(c, after, ClientAction::Upgrade);
        }
        let first = self.rng.duration(Duration::ZERO, send_mean * 2);
        self.at(c, first, ClientAction::Send);
        let first = self.rng.duration(Duration::ZERO, app_send_mean * 2);
        let at = self.now + first;
        self.queue.push(
            at,
            super::net::NORMAL,
            Ev::App {
                client: c,
                action: super::net::AppAction::Send,
            },
        );
    }

    // ---- responses ----------------------------------------------------------------------------

    pub(super) fn client_on_response(&mut self, link: LinkId, resp: Response<Bytes>) {
        let (c, kind) = (self.links[link].client, self.links[link].kind);
        let status = resp.status().as_u16();
        trace!(
            self,
            "c{c} <- L{link} {} {status} {}",
            kind.name(),
            Esc(resp.body())
        );
        match kind {
            LinkKind::Handshake => {
                if self.clients[c].phase != Phase::Connecting(link) {
                    return;
                }
                if status != 200 {
                    return self.fail(
                        Invariant::Protocol,
                        format!("c{c}: handshake refused with {status}"),
                    );
                }
                let format = self.clients[c].plan.format;
                match format.decode_response(&resp) {
                    Ok(packets) => {
                        let mut packets = packets.into_iter();
                        let Some(open) = packets.next() else {
                            return self
                                .fail(Invariant::Protocol, format!("c{c}: empty handshake"));
                        };
                        self.client_on_open(c, open, Transport::Polling);
                        for p in packets {
                            if !self.clients[c].is_open() {
                                break;
                            }
                            self.client_on_packet(c, p, false);
                        }
                        self.client_maybe_poll(c);
                        self.client_flush(c);
                    }
                    Err(e) => self.fail(Invariant::Protocol, format!("c{c}: handshake: {e}")),
                }
            }
            LinkKind::WsHandshake => {
                if self.clients[c].phase == Phase::Connecting(link) {
                    self.fail(
                        Invariant::Protocol,
                        format!("c{c}: WebSocket handshake refused with {status}"),
                    );
                }
            }
            LinkKind::Get => {
                let cl = &mut self.clients[c];
                if let Some(slot) = cl.gets.get_mut(&link) {
                    *slot = Some(resp);
                }
                // Responses are read in the order the GETs went out (as over one connection).
                loop {
                    let cl = &mut self.clients[c];
                    let Some(mut first) = cl.gets.first_entry() else {
                        break;
                    };
                    let Some(resp) = first.get_mut().take() else {
                        break;
                    };
                    let l = *first.key();
                    first.remove();
                    self.client_on_poll(c, l, resp);
                }
                self.client_maybe_poll(c);
                self.client_try_finish_upgrade(c);
            }
            LinkKind::Post => {
                let cl = &mut self.clients[c];
                if cl.post != Some(link) {
                    return;
                }
                cl.post = None;
                if cl.close.is_some() {
                    if std::mem::take(&mut cl.close_after_post) {
                        self.client_post(c, vec![Packet::Close]);
                    }
                    return;
                }
                if status == 413 {
                    // A v3 client does not know maxPayload: its batch can be too large. It
                    // gives up; the session closes with `transport error` (as the reference).
                    trace!(self, "c{c} POST too large");
                    self.clients[c]
                        .allowed
                        .add(faults::Reasons::of(&[CloseReason::TransportError]));
                    *self.stats.faults.entry("post_too_large").or_default() += 1;
                }
                if status != 200 || resp.body() != "ok" {
                    trace!(self, "c{c} POST failed");
                    return self.client_close(c, ClientClose::TransportError);
                }
                self.client_flush(c);
                self.client_try_finish_upgrade(c);
            }
            LinkKind::WsUpgrade => {
                if self.clients[c].ws.is_some_and(|(l, _)| l == link) {
                    trace!(self, "c{c} upgrade refused");
                    self.client_abandon_upgrade(c);
                }
            }
        }
    }

    fn client_on_poll(&mut self, c: usize, link: LinkId, resp: Response<Bytes>) {
        if !self.clients[c].is_open() {
            return;
        }
        if resp.status() != http::StatusCode::OK {
            trace!(self, "c{c} GET L{link} failed");
            return self.client_close(c, ClientClose::TransportError);
        }
        let format = self.clients[c].plan.format;
        let packets = match format.decode_response(&resp) {
            Ok(p) => p,
            Err(e) => return self.fail(Invariant::Protocol, format!("c{c}: GET L{link}: {e}")),
        };
        if packets.is_empty() {
            return self.fail(Invariant::Protocol, format!("c{c}: empty poll response"));
        }
        for p in packets {
            if !self.clients[c].is_open() || self.failure.is_some() {
                break;
            }
            self.client_on_packet(c, p, false);
        }
    }

    // ---- packets ------------------------------------------------------------------------------

    fn client_on_packet(&mut self, c: usize, p: Packet, on_ws: bool) {
        let v4 = self.clients[c].version() == ProtocolVersion::V4;
        match p {
            Packet::Message(m) => self.client_got_message(c, m),
            Packet::Ping(data) if v4 && data.is_empty() => {
                let cl = &mut self.clients[c];
                cl.hb_gen += 1;
                let (gen, after) = (cl.hb_gen, cl.ping_interval + cl.ping_timeout);
                self.at(c, after, ClientAction::Heartbeat(gen));
                self.client_send(c, Packet::pong());
            }
            Packet::Pong(data) if !v4 && data.is_empty() => {
                let cl = &mut self.clients[c];
                cl.hb_gen += 1;
                let (gen, after) = (cl.hb_gen, cl.ping_interval);
                self.at(c, after, ClientAction::Heartbeat(gen));
            }
            Packet::Close => {
                trace!(self, "c{c} got close packet");
                self.check_graceful_close(c);
                self.client_close(c, ClientClose::TransportClose);
            }
            Packet::Noop if !on_ws => {}
            other => self.fail(
                Invariant::Protocol,
                format!(
                    "c{c} ({}) got an unexpected packet {other:?} over {}",
                    self.clients[c].plan.format.name(),
                    if on_ws { "WebSocket" } else { "polling" }
                ),
            ),
        }
    }

    pub(super) fn client_got_message(&mut self, c: usize, m: Message) {
        let cl = &mut self.clients[c];
        let i = cl.received.len();
        let expected = cl.srv.as_ref().and_then(|s| s.sent.get(i));
        if expected != Some(&m) {
            let detail = format!(
                "c{c} received message #{i} {} but the server sent {}",
                Show(Some(&m)),
                Show(expected)
            );
            return self.fail(Invariant::MessageOrder, detail);
        }
        cl.received.push(m);
        self.stats.messages_to_client += 1;
    }

    /// A server that closes on purpose sends everything it accepted first.
    pub(super) fn check_graceful_close(&mut self, c: usize) {
        let cl = &self.clients[c];
        let Some(srv) = &cl.srv else { return };
        if let Some((CloseReason::ForcedClose | CloseReason::ServerShuttingDown, _)) = srv.closed {
            if cl.received.len() != srv.sent.len() {
                let detail = format!(
                    "c{c}: the server closed gracefully after sending {} messages, {} arrived",
                    srv.sent.len(),
                    cl.received.len()
                );
                self.fail(Invariant::Delivery, detail);
            }
        }
    }

    // ---- sending ------------------------------------------------------------------------------

    fn client_app_send(&mut self, c: usize) {
        if self.now >= self.send_until || self.clients[c].close.is_some() {
            return;
        }
        if self.clients[c].is_open() {
            let burst = if self.rng.chance(0.2) {
                self.rng.range(2, 5)
            } else {
                1
            };
            let cl = &self.clients[c];
            let a = Alphabet {
                record_separator: cl.version() == ProtocolVersion::V3,
                backslash: !matches!(cl.plan.format, ClientFormat::V3Jsonp(_)),
            };
            for _ in 0..burst {
                let n = self.clients[c].next_tag;
                self.clients[c].next_tag += 1;
                let m = wire::message(&mut self.rng, n, a);
                // The application keeps to the server's limit (v3 clients are not told it).
                if m.len() * 2 + 16 > self.config.server.max_payload {
                    continue;
                }
                trace!(self, "c{c} send {}", Show(Some(&m)));
                self.clients[c].sent.push(m.clone());
                self.client_send(c, Packet::Message(m));
            }
        }
        let mean = self.clients[c].plan.send_mean;
        let next = self.rng.duration(Duration::ZERO, mean * 2);
        self.at(c, next, ClientAction::Send);
    }

    fn client_send(&mut self, c: usize, p: Packet) {
        self.clients[c].outbox.push_back(p);
        self.client_flush(c);
    }

    fn client_flush(&mut self, c: usize) {
        let cl = &self.clients[c];
        if !cl.is_open() || cl.outbox.is_empty() {
            return;
        }
        if let Some(link) = cl.on_ws() {
            let packets: Vec<Packet> = self.clients[c].outbox.drain(..).collect();
            for p in packets {
                self.client_frame(c, link, &p);
            }
            return;
        }
        if cl.transport != Transport::Polling || cl.pausing || cl.post.is_some() {
            return;
        }
        // As engine.io-client does: a batch that fits the server's maxPayload.
        let max = cl.max_payload.unwrap_or(usize::MAX);
        let version = cl.version();
        let mut size = 0;
        let mut n = 0;
        for p in &cl.outbox {
            size += p.encoded_text_len(version) + 1;
            if n > 0 && size > max {
                break;
            }
            n += 1;
        }
        let batch: Vec<Packet> = self.clients[c].outbox.drain(..n).collect();
        self.client_post(c, batch);
    }

    fn client_post(&mut self, c: usize, packets: Vec<Packet>) {
        let cl = &self.clients[c];
        let (body, ct) = cl.plan.format.encode_post(&packets);
        self.client_post_body(c, body, ct);
    }

    fn client_post_body(&mut self, c: usize, body: Bytes, ct: &'static str) {
        let target = self.target(c, Transport::Polling);
        let req = wire::http_request(Method::POST, &target, None, body, Some(ct));
        let link = self.new_link(c, LinkKind::Post);
        trace!(self, "c{c} POST L{link} {}", Esc(req.body()));
        self.clients[c].post = Some(link);
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    fn client_frame(&mut self, c: usize, link: LinkId, p: &Packet) {
        let version = self.clients[c].version();
        let frame = Frame::encode(p, version, &mut BytesMut::new());
        self.client_raw_frame(c, link, frame);
    }

    fn client_raw_frame(&mut self, c: usize, link: LinkId, frame: Frame) {
        trace!(self, "c{c} frame L{link} {}", ShowFrame(&frame));
        self.send_up(link, Ev::FrameUp { link, frame });
    }

    fn client_get(&mut self, c: usize) {
        let target = self.target(c, Transport::Polling);
        let ae = self.clients[c].plan.accept_encoding;
        let req = wire::http_request(Method::GET, &target, ae, Bytes::new(), None);
        let link = self.new_link(c, LinkKind::Get);
        trace!(self, "c{c} GET L{link}");
        // A second GET (the duplicate fault) reaches the server after the first: the client
        // reads responses in the order it sent the GETs, which must be the server's order.
        let cl = &self.clients[c];
        let after = cl.gets.keys().map(|&l| self.links[l].last_up).max();
        if let Some(after) = after {
            self.links[link].last_up = after;
        }
        self.clients[c].gets.insert(link, None);
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    fn client_maybe_poll(&mut self, c: usize) {
        let cl = &self.clients[c];
        if cl.is_open()
            && cl.transport == Transport::Polling
            && !cl.pausing
            && cl.gets.is_empty()
            && cl.stall_until <= self.now
        {
            self.client_get(c);
        }
    }

    // ---- WebSocket ----------------------------------------------------------------------------

    fn client_start_upgrade(&mut self, c: usize) {
        let cl = &self.clients[c];
        if !cl.is_open()
            || cl.transport != Transport::Polling
            || cl.ws.is_some()
            || self.now >= self.send_until
        {
            return;
        }
        let target = self.target(c, Transport::Websocket);
        let req = wire::ws_request(&target, &mut self.rng);
        let link = self.new_link(c, LinkKind::WsUpgrade);
        trace!(self, "c{c} upgrade L{link} {target}");
        self.clients[c].ws = Some((link, WsStage::Connecting));
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    pub(super) fn client_on_ws_open(&mut self, link: LinkId) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} 101");
        let cl = &mut self.clients[c];
        if cl.close.is_some() || cl.ws != Some((link, WsStage::Connecting)) {
            return;
        }
        if self.links[link].kind == LinkKind::WsHandshake {
            cl.ws = Some((link, WsStage::Opening));
            return;
        }
        cl.ws = Some((link, WsStage::Probing));
        self.client_frame(c, link, &Packet::ping_probe());
        if self.clients[c].plan.kill_ws == Some(KillPhase::AfterOpen) {
            self.client_kill_ws(c, false);
        }
    }

    pub(super) fn client_on_frame(&mut self, link: LinkId, frame: Frame) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} frame {}", ShowFrame(&frame));
        let cl = &self.clients[c];
        let Some((ws, stage)) = cl.ws else { return };
        if ws != link || cl.close.is_some() {
            return;
        }
        let packet = match frame.decode(cl.version(), usize::MAX) {
            Ok(p) => p,
            Err(e) => {
                return self.fail(Invariant::Protocol, format!("c{c}: undecodable frame: {e}"));
            }
        };
        match stage {
            WsStage::Opening => {
                self.clients[c].ws = Some((link, WsStage::Direct));
                self.client_on_open(c, packet, Transport::Websocket);
                self.client_flush(c);
            }
            WsStage::Probing if packet == Packet::pong_probe() => {
                self.clients[c].ws = Some((link, WsStage::Probed));
                self.client_on_probed(c);
            }
            WsStage::Connecting | WsStage::Probing | WsStage::Probed => self.fail(
                Invariant::WsDataBefore5,
                format!("c{c}: {packet:?} on the probe WebSocket L{link} before the client sent 5"),
            ),
            WsStage::Upgraded | WsStage::Direct => self.client_on_packet(c, packet, true),
        }
    }

    pub(super) fn client_on_ws_closed(&mut self, link: LinkId) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} ws closed");
        let cl = &mut self.clients[c];
        let Some((ws, stage)) = cl.ws else { return };
        if ws != link || cl.close.is_some() {
            return;
        }
        match stage {
            WsStage::Upgraded | WsStage::Direct => {
                cl.ws = None;
                self.check_graceful_close(c);
                self.client_close(c, ClientClose::TransportClose);
            }
            WsStage::Opening | WsStage::Connecting
                if self.links[link].kind == LinkKind::WsHandshake =>
            {
                cl.ws = None;
                self.client_close(c, ClientClose::ConnectFailed);
            }
            _ => self.client_abandon_upgrade(c),
        }
    }

    fn client_on_probed(&mut self, c: usize) {
        let plan = &self.clients[c].plan;
        if plan.kill_ws == Some(KillPhase::AfterProbe) {
            return self.client_kill_ws(c, false);
        }
        if let Some((delay, keep_polling)) = plan.delay5 {
            self.injected(c, FaultKind::DelayUpgrade, faults::SILENCE);
            trace!(
                self,
                "c{c} delays 5 by {delay:?} (polling meanwhile: {keep_polling})"
            );
            let cl = &mut self.clients[c];
            cl.delay5_until = Some(self.now + delay);
            cl.pausing = !keep_polling;
            self.at(c, delay, ClientAction::Send5);
            return;
        }
        self.client_try_finish_upgrade(c);
    }

    /// Pauses polling (no new GET or POST), and once nothing is in flight, sends `5`.
    fn client_try_finish_upgrade(&mut self, c: usize) {
        let cl = &mut self.clients[c];
        let Some((link, WsStage::Probed)) = cl.ws else {
            return;
        };
        if cl.close.is_some() || cl.delay5_until.is_some() {
            return;
        }
        cl.pausing = true;
        if !cl.gets.is_empty() || cl.post.is_some() {
            return;
        }
        let kill = cl.plan.kill_ws;
        if kill == Some(KillPhase::After5 { lose_5: true }) {
            // The connection dies with the 5 in it.
            trace!(self, "c{c} sends 5 into a dying WebSocket");
            self.clients[c].ws = Some((link, WsStage::Upgraded));
            return self.client_kill_ws(c, true);
        }
        self.client_frame(c, link, &Packet::Upgrade);
        let cl = &mut self.clients[c];
        cl.ws = Some((link, WsStage::Upgraded));
        cl.transport = Transport::Websocket;
        cl.pausing = false;
        trace!(self, "c{c} upgraded");
        if kill == Some(KillPhase::After5 { lose_5: false }) {
            return self.client_kill_ws(c, true);
        }
        self.client_flush(c);
    }

    fn client_abandon_upgrade(&mut self, c: usize) {
        trace!(self, "c{c} abandons the upgrade");
        let cl = &mut self.clients[c];
        cl.ws = None;
        cl.pausing = false;
        cl.delay5_until = None;
        self.client_maybe_poll(c);
        self.client_flush(c);
        // Sometimes the client tries again: the session must be upgradable after a failure.
        if self.rng.chance(0.5) {
            let after = self
                .rng
                .duration(Duration::ZERO, self.config.server.upgrade_timeout);
            self.at(c, after, ClientAction::Upgrade);
        }
    }

    /// The probed WebSocket dies under the client: it knows at once, the server when the close
    /// reaches it.
    fn client_kill_ws(&mut self, c: usize, after_5: bool) {
        let Some((link, _)) = self.clients[c].ws.take() else {
            return;
        };
        let reasons = if after_5 {
            faults::KILL_WS_AFTER_5
        } else {
            Reasons::default()
        };
        self.injected(c, FaultKind::KillWs, reasons);
        trace!(self, "c{c} fault: WebSocket L{link} killed");
        self.links[link].dead_down = true;
        self.send_up(link, Ev::CloseUp { link });
        if after_5 {
            self.client_close(c, ClientClose::TransportClose);
        } else {
            self.client_abandon_upgrade(c);
        }
    }

    // ---- closing ------------------------------------------------------------------------------

    pub(super) fn client_close(&mut self, c: usize, reason: ClientClose) {
        if self.clients[c].close.is_some() {
            return;
        }
        trace!(self, "c{c} closed: {}", reason.name());
        *self.stats.client_closes.entry(reason.name()).or_default() += 1;
        let cl = &mut self.clients[c];
        cl.close = Some((reason, self.now));
        cl.hb_gen += 1;
        cl.outbox.clear();
        let local = reason.is_local();
        if let Some((link, stage)) = cl.ws.take() {
            let send_close = local
                && cl.plan.close_frame
                && matches!(stage, WsStage::Upgraded | WsStage::Direct);
            if send_close {
                self.client_frame(c, link, &Packet::Close);
            }
            trace!(self, "c{c} closes WebSocket L{link}");
            self.links[link].dead_down = true;
            self.send_up(link, Ev::CloseUp { link });
        }
        let cl = &mut self.clients[c];
        if local && cl.transport == Transport::Polling && cl.sid.is_some() {
            if cl.post.is_none() {
                self.client_post(c, vec![Packet::Close]);
            } else {
                cl.close_after_post = true;
            }
        }
    }

    // ---- faults -------------------------------------------------------------------------------

    /// All of `c`'s traffic is lost for `len`; a partition longer than the heartbeat bound is
    /// checked once it has lasted the bound.
    pub(super) fn partition(&mut self, c: usize, len: Duration) {
        let until = self.now + len;
        trace!(self, "c{c} fault: partition for {len:?}");
        self.injected(c, FaultKind::Partition, faults::SILENCE);
        self.clients[c].machine_allowed.add(faults::MACHINE_SILENCE);
        self.clients[c].partitions.push((self.now, until));
        let bound = self.partition_bound();
        if len > bound {
            let at = self.now + bound;
            let ev = Ev::PartitionCheck {
                client: c,
                since: self.now,
            };
            self.queue.push(at, super::net::NORMAL, ev);
        }
    }

    pub(super) fn injected(&mut self, c: usize, kind: FaultKind, reasons: Reasons) {
        self.clients[c].allowed.add(reasons);
        *self.stats.faults.entry(kind.name()).or_default() += 1;
    }

    fn client_fault(&mut self, c: usize, i: usize) {
        let fault = self.clients[c].plan.faults[i].1;
        let cl = &self.clients[c];
        if cl.close.is_some() {
            return;
        }
        let polling = cl.is_open() && cl.transport == Transport::Polling;
        let ready = match fault {
            Planned::Partition { .. } => cl.started.is_some(),
            Planned::AbortGet => polling && cl.gets.values().any(Option::is_none),
            Planned::DuplicateGet => polling && !cl.pausing && !cl.gets.is_empty(),
            Planned::StallPolling { .. } => polling,
            Planned::Garbage => {
                cl.ws
                    .is_some_and(|(_, s)| s != WsStage::Connecting && s != WsStage::Opening)
                    || (polling && cl.post.is_none() && !cl.pausing)
            }
        };
        if !ready {
            // Not possible now (no GET in flight, not polling, ...): try again a bit later.
            if self.now < self.send_until {
                self.at(c, Duration::from_millis(15), ClientAction::Fault(i));
            }
            return;
        }
        match fault {
            Planned::Partition { len } => self.partition(c, len),
            Planned::AbortGet => {
                let cl = &mut self.clients[c];
                let Some(link) = cl.gets.iter().find(|(_, r)| r.is_none()).map(|(l, _)| *l) else {
                    return;
                };
                cl.gets.remove(&link);
                trace!(self, "c{c} fault: GET L{link} aborted");
                self.injected(c, FaultKind::AbortGet, faults::ABORT_GET);
                self.links[link].dead_down = true;
                self.send_up(link, Ev::Abort { link });
                self.client_close(c, ClientClose::TransportError);
            }
            Planned::DuplicateGet => {
                trace!(self, "c{c} fault: duplicate GET");
                self.injected(c, FaultKind::DuplicateGet, faults::TRANSPORT_ERROR);
                self.client_get(c);
            }
            Planned::StallPolling { len } => {
                trace!(self, "c{c} fault: polling stalls for {len:?}");
                self.injected(c, FaultKind::StallPolling, faults::SILENCE);
                self.clients[c].stall_until = self.now + len;
                self.at(c, len, ClientAction::StallEnd);
            }
            Planned::Garbage => {
                let cl = &self.clients[c];
                if let Some((link, WsStage::Probing | WsStage::Probed)) = cl.ws {
                    // On the probe: only the upgrade fails (unless a `5` follows into the
                    // closed WebSocket and the client, upgraded for nothing, goes silent).
                    let frame = wire::garbage_frame(cl.version(), &mut self.rng);
                    self.injected(c, FaultKind::Garbage, faults::KILL_WS_AFTER_5);
                    trace!(self, "c{c} fault: garbage frame on the probe");
                    return self.client_raw_frame(c, link, frame);
                }
                let cl = &self.clients[c];
                if let Some(link) = cl.on_ws() {
                    let frame = wire::garbage_frame(cl.version(), &mut self.rng);
                    self.injected(c, FaultKind::Garbage, faults::GARBAGE);
                    trace!(self, "c{c} fault: garbage frame");
                    self.client_raw_frame(c, link, frame);
                } else if cl.version() == ProtocolVersion::V4 && self.rng.chance(0.2) {
                    // A binary body where v4 has none: refused with 400, a transport error.
                    self.injected(c, FaultKind::Garbage, faults::TRANSPORT_ERROR);
                    trace!(self, "c{c} fault: v4 binary body");
                    let body = Bytes::from_static(b"4hello");
                    self.client_post_body(c, body, "application/octet-stream");
                } else {
                    let (body, ct) = wire::garbage_body(cl.plan.format, &mut self.rng);
                    self.injected(c, FaultKind::Garbage, faults::GARBAGE);
                    trace!(self, "c{c} fault: garbage body");
                    self.client_post_body(c, body, ct);
                }
            }
        }
    }
}

/// A message in a trace line.
pub(crate) struct Show<'a>(pub(crate) Option<&'a Message>);

impl std::fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("nothing"),
            Some(Message::Text(s)) => write!(f, "text {}", Esc(s.as_bytes())),
            Some(Message::Binary(b)) => write!(f, "binary {}", Esc(b)),
        }
    }
}

/// A frame in a trace line.
pub(crate) struct ShowFrame<'a>(pub(crate) &'a Frame);

impl std::fmt::Display for ShowFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Frame::Text(s) => write!(f, "text {}", Esc(s.as_bytes())),
            Frame::Binary(b) => write!(f, "binary {}", Esc(b)),
        }
    }
}
