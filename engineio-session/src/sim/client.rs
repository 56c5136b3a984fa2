//! Simulated clients, written against the wire format: they build HTTP requests and WebSocket
//! frames, and read responses and frames with engineio-proto's decoders, the way
//! `engine.io-client` (v4 and v3) does, with faults they can inject on purpose.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_proto::{Frame, Message, Packet, ProtocolVersion, Transport};
use http::{Method, Response};

use super::faults::{self, KillPhase, Planned, Reasons};
use super::net::{ClientAction, Ev, LinkId, LinkKind};
use super::ours::Ours;
use super::trace::Esc;
use super::wire::{self, Alphabet, ClientFormat};
use super::Sim;
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
    /// The `Origin` header the client sends, if any.
    pub(crate) origin: Option<&'static str>,
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
    /// When its (latest) handshake attempt started.
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
    /// Handshakes of this client the application refused in a row.
    pub(crate) refused_in_row: u8,
    /// Refused, waiting to try the handshake again.
    pub(crate) retrying: bool,
    /// The sid of the session this client had before it reconnected.
    pub(crate) old_sid: Option<String>,
    /// It reconnected (as another client).
    pub(crate) reconnected: bool,
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
            refused_in_row: 0,
            retrying: false,
            old_sid: None,
            reconnected: false,
        }
    }

    pub(super) fn version(&self) -> ProtocolVersion {
        self.plan.format.version()
    }

    pub(super) fn is_open(&self) -> bool {
        self.phase == Phase::Open && self.close.is_none()
    }

    pub(super) fn on_ws(&self) -> Option<LinkId> {
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

    pub(super) fn cache_buster(&mut self) -> u64 {
        self.rng.u64() >> 24
    }

    pub(super) fn target(&mut self, c: usize, transport: Transport) -> String {
        let t = self.cache_buster();
        let cl = &self.clients[c];
        cl.plan
            .format
            .target(&self.config.server.path, transport, cl.sid.as_deref(), t)
    }

    pub(super) fn client_action(&mut self, c: usize, action: ClientAction) {
        match action {
            ClientAction::Start => self.client_start(c),
            ClientAction::ConnectTimeout(link) => {
                if self.clients[c].phase == Phase::Connecting(link) {
                    self.client_close(c, ClientClose::ConnectFailed);
                }
            }
            ClientAction::Retry => {
                let cl = &mut self.clients[c];
                if cl.retrying && cl.close.is_none() {
                    cl.retrying = false;
                    self.client_start(c);
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

    pub(super) fn client_start(&mut self, c: usize) {
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
        let req = self.with_origin(c, req);
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
        self.at(c, timeout, ClientAction::ConnectTimeout(link));
    }

    pub(super) fn client_app_send(&mut self, c: usize) {
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

    pub(super) fn client_send(&mut self, c: usize, p: Packet) {
        self.clients[c].outbox.push_back(p);
        self.client_flush(c);
    }

    pub(super) fn client_flush(&mut self, c: usize) {
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

    pub(super) fn client_post(&mut self, c: usize, packets: Vec<Packet>) {
        let cl = &self.clients[c];
        let (body, ct) = cl.plan.format.encode_post(&packets);
        self.client_post_body(c, body, ct);
    }

    pub(super) fn client_post_body(&mut self, c: usize, body: Bytes, ct: &'static str) {
        let target = self.target(c, Transport::Polling);
        let req = wire::http_request(Method::POST, &target, None, body, Some(ct));
        let req = self.with_origin(c, req);
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

    pub(super) fn client_frame(&mut self, c: usize, link: LinkId, p: &Packet) {
        let version = self.clients[c].version();
        let frame = Frame::encode(p, version, &mut BytesMut::new());
        self.client_raw_frame(c, link, frame);
    }

    pub(super) fn client_raw_frame(&mut self, c: usize, link: LinkId, frame: Frame) {
        trace!(self, "c{c} frame L{link} {}", ShowFrame(&frame));
        self.send_up(link, Ev::FrameUp { link, frame });
    }

    pub(super) fn client_get(&mut self, c: usize) {
        let target = self.target(c, Transport::Polling);
        let ae = self.clients[c].plan.accept_encoding;
        let req = wire::http_request(Method::GET, &target, ae, Bytes::new(), None);
        let req = self.with_origin(c, req);
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

    pub(super) fn client_maybe_poll(&mut self, c: usize) {
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
        self.maybe_reconnect(c);
    }

    /// Adds the client's `Origin` header, if it sends one.
    pub(crate) fn with_origin<B>(&self, c: usize, mut req: http::Request<B>) -> http::Request<B> {
        if let Some(o) = self.clients[c].plan.origin {
            req.headers_mut()
                .insert(http::header::ORIGIN, http::HeaderValue::from_static(o));
        }
        req
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
