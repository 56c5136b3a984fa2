//! The client side: [`ClientSession`], the sans-IO counterpart of `engine.io-client` 6.x (and
//! 3.x for protocol v3).

mod config;
mod cookies;

pub use config::ClientConfig;
pub use cookies::CookieJar;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_proto::{
    ContentType, DecodeLimits, Frame, Handshake, Message, Packet, PayloadFormat, ProtocolVersion,
    Transport,
};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Uri};

use crate::send::{
    check_encodable, first_message_id, take_compress_flag, take_last_flushed, take_run, Carried,
    SendOptions,
};
use crate::timers::Timers;
use crate::{CloseReason, Instant, ReadyState, ReqId, SendError, SendId};

/// Everything that happens to a client from the outside, but the clock and the application's
/// own calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientInput {
    /// The response to request `req`.
    HttpResponse {
        /// The request.
        req: ReqId,
        /// Its status code.
        status: u16,
        /// Its headers.
        headers: HeaderMap,
        /// Its whole body (at most [`ClientConfig::max_response_bytes`]).
        body: Bytes,
    },
    /// Request `req` failed: connection refused or reset, timeout, body too large.
    HttpFailed {
        /// The request.
        req: ReqId,
    },
    /// The WebSocket `ws` asked for by [`ClientTransmit::WsConnect`] is open.
    WsOpened {
        /// The WebSocket.
        ws: ReqId,
        /// The headers of the `101` response (it may set cookies).
        headers: HeaderMap,
    },
    /// A data frame arrived on WebSocket `ws`.
    WsFrame {
        /// The WebSocket.
        ws: ReqId,
        /// The frame.
        frame: Frame,
    },
    /// WebSocket `ws` closed or could not be opened.
    WsClosed {
        /// The WebSocket.
        ws: ReqId,
    },
}

/// What the host must do for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientTransmit {
    /// Send an HTTP request and report its response as [`ClientInput::HttpResponse`] (or
    /// [`ClientInput::HttpFailed`]).
    HttpRequest {
        /// Names the request.
        req: ReqId,
        /// GET (poll, handshake) or POST (send).
        method: Method,
        /// Absolute URL.
        uri: Uri,
        /// Headers (extra headers, cookies, content type).
        headers: HeaderMap,
        /// Body (empty for GET).
        body: Bytes,
    },
    /// Open a WebSocket to `uri`; report [`ClientInput::WsOpened`] or [`ClientInput::WsClosed`].
    WsConnect {
        /// Names the WebSocket from now on.
        ws: ReqId,
        /// Absolute `ws:` or `wss:` URL.
        uri: Uri,
        /// Headers for the handshake request.
        headers: HeaderMap,
    },
    /// Send a frame on WebSocket `ws`.
    WsFrame {
        /// The WebSocket.
        ws: ReqId,
        /// The frame.
        frame: Frame,
        /// Whether permessage-deflate may compress it (false for a message sent with
        /// `compress: false`).
        compress: bool,
    },
    /// Close WebSocket `ws`.
    WsClose {
        /// The WebSocket.
        ws: ReqId,
    },
}

/// What the client tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The handshake completed.
    Open(Handshake),
    /// A message from the server.
    Message(Message),
    /// The WebSocket probe was answered; polling is being paused.
    Upgrading,
    /// The connection now runs over WebSocket.
    Upgraded,
    /// The upgrade failed; polling goes on (the reference's `upgradeError`). The description
    /// says why.
    UpgradeFailed(&'static str),
    /// Every message sent up to and including `last` was handed to the host to write.
    Flushed {
        /// The last message flushed.
        last: SendId,
    },
    /// A heartbeat went through.
    Heartbeat,
    /// A packet arrived (`packet`; only with [`ClientConfig::packet_events`]).
    PacketIn(Packet),
    /// A packet is being sent (`packetCreate`; only with [`ClientConfig::packet_events`]).
    PacketOut(Packet),
    /// The connection is closed: the last event, exactly once.
    Closed {
        /// Why.
        reason: CloseReason,
        /// True when this side's application closed it; false when the server or the network
        /// ended it (a reconnecting layer reconnects then, unless the server sent a close).
        local: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Opening,
    Open,
    /// The application closed: waiting for queued data and any upgrade to settle.
    Closing,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeState {
    /// Waiting for the WebSocket to open.
    Connecting,
    /// `2probe` sent.
    Probing,
    /// `3probe` received: waiting for the in-flight GET and POST before sending `5`.
    Pausing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    ws: ReqId,
    state: ProbeState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The handshake must complete by then.
    Connect,
    /// v4: a ping must arrive by then; v3: the pong (or any packet) must.
    Heartbeat,
    /// v3: send a ping.
    Ping,
}

const PROBE_UNANSWERED: &str = "the probe was not answered with 3probe";
const PROBE_CLOSED: &str = "the probe's WebSocket closed";

const TIMERS: [Timer; 3] = [Timer::Connect, Timer::Heartbeat, Timer::Ping];

/// One Engine.IO connection, client side: a sans-IO machine.
///
/// It emits requests and WebSocket actions ([`ClientTransmit`]) and takes their outcomes
/// ([`ClientInput`]); at most one GET and one POST are in flight; messages queued while a POST
/// is in flight coalesce into the next, split so no body exceeds the server's `maxPayload`.
/// The drain rule is the server's: after every call, drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event), then arm one
/// timer at [`poll_timeout`](Self::poll_timeout).
///
/// ```
/// use engineio_session::{ClientConfig, ClientSession, ClientTransmit, Instant};
/// let mut client = ClientSession::new(Instant::ZERO, ClientConfig::new("http://localhost:3000".parse().unwrap()));
/// let Some(ClientTransmit::HttpRequest { method, uri, .. }) = client.poll_transmit() else { panic!() };
/// assert_eq!(method, http::Method::GET);
/// assert!(uri.to_string().starts_with("http://localhost:3000/engine.io/?EIO=4&transport=polling&t="));
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    sid: Option<String>,
    ping_interval: Duration,
    ping_timeout: Duration,
    max_payload: Option<usize>,
    upgrades: Vec<Transport>,
    transport: Transport,
    get: Option<ReqId>,
    post: Option<(ReqId, Carried)>,
    ws: Option<ReqId>,
    ws_open: bool,
    probe: Option<Probe>,
    queue: VecDeque<Packet>,
    queued: Carried,
    /// Ids of queued messages sent with `compress: false`, ascending.
    uncompressed: VecDeque<SendId>,
    /// What the transmits not taken by the host yet carry (counted against the send bound).
    transmitting: Carried,
    next_id: u64,
    next_send_id: u64,
    timers: Timers<3>,
    transmits: VecDeque<(ClientTransmit, Carried)>,
    events: VecDeque<ClientEvent>,
    cookies: CookieJar,
    stamps: u64,
    websocket_succeeded: bool,
    scratch: BytesMut,
}

impl ClientSession {
    /// Starts connecting at `now`: the first transmit is the handshake.
    pub fn new(now: Instant, config: ClientConfig) -> ClientSession {
        let first = if config.remember_upgrade
            && config.prior_websocket_success
            && config.transports.contains(&Transport::Websocket)
        {
            Transport::Websocket
        } else {
            config
                .transports
                .first()
                .copied()
                .unwrap_or(Transport::Polling)
        };
        let mut c = ClientSession {
            phase: Phase::Opening,
            sid: None,
            ping_interval: Duration::ZERO,
            ping_timeout: Duration::ZERO,
            max_payload: None,
            upgrades: Vec::new(),
            transport: first,
            get: None,
            post: None,
            ws: None,
            ws_open: false,
            probe: None,
            queue: VecDeque::new(),
            queued: Carried::default(),
            uncompressed: VecDeque::new(),
            transmitting: Carried::default(),
            next_id: 0,
            next_send_id: 0,
            timers: Timers::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            cookies: CookieJar::default(),
            stamps: config.seed,
            websocket_succeeded: false,
            scratch: BytesMut::new(),
            config,
        };
        c.set(Timer::Connect, now, c.config.connect_timeout);
        match first {
            Transport::Polling => c.poll(),
            Transport::Websocket => {
                let ws = c.connect_ws();
                c.ws = Some(ws);
            }
        }
        c
    }

    // ---- getters ------------------------------------------------------------------------------

    /// The session id, once the handshake is done; it stays readable after the close (the
    /// last known sid, for a reconnecting layer).
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Where the connection is in its life (the reference client's `readyState`).
    pub fn ready_state(&self) -> ReadyState {
        match self.phase {
            Phase::Opening => ReadyState::Opening,
            Phase::Open => ReadyState::Open,
            Phase::Closing => ReadyState::Closing,
            Phase::Closed => ReadyState::Closed,
        }
    }

    /// Whether the handshake completed and the connection is not closed.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing)
    }

    /// Whether the connection is closed (its [`ClientEvent::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether this connection upgraded to (or opened on) WebSocket: feed it to the next
    /// connection's [`ClientConfig::prior_websocket_success`] for `rememberUpgrade`.
    pub fn websocket_succeeded(&self) -> bool {
        self.websocket_succeeded
    }

    /// The cookies kept from the server's responses.
    pub fn cookies(&self) -> &CookieJar {
        &self.cookies
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ---- input --------------------------------------------------------------------------------

    /// Feeds one input at `now`.
    pub fn handle_input(&mut self, now: Instant, input: ClientInput) {
        match input {
            ClientInput::HttpResponse {
                req,
                status,
                headers,
                body,
            } => self.on_response(now, req, status, &headers, body),
            ClientInput::HttpFailed { req } => self.on_failed(req),
            ClientInput::WsOpened { ws, headers } => self.on_ws_opened(ws, &headers),
            ClientInput::WsFrame { ws, frame } => self.on_frame(now, ws, frame),
            ClientInput::WsClosed { ws } => self.on_ws_closed(ws),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in TIMERS {
            if self.is_closed() {
                return;
            }
            if !self.timers.take_due(timer as usize, now) {
                continue;
            }
            match timer {
                Timer::Connect | Timer::Heartbeat => {
                    self.close_now(CloseReason::PingTimeout, false)
                }
                Timer::Ping => {
                    // v3: the client pings; the pong must come within pingTimeout.
                    self.set(Timer::Heartbeat, now, self.ping_timeout);
                    self.enqueue(Packet::ping());
                    self.flush();
                }
            }
        }
    }

    // ---- application --------------------------------------------------------------------------

    /// Queues a message (also before the handshake completes). Bounded.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.send_with(message, SendOptions::default())
    }

    /// [`send`](Self::send) with options: `compress: false` sends the message outside
    /// permessage-deflate ([`ClientTransmit::WsFrame`]'s `compress`), as the reference
    /// client's `send(data, { compress: false })`.
    pub fn send_with(
        &mut self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        let message = message.into();
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return Err(SendError::Closed);
        }
        check_encodable(&message, self.config.version, self.transport)?;
        let len = message.len();
        let pending = self.pending();
        if pending.messages >= self.config.max_queued_packets
            || pending.bytes.saturating_add(len) > self.config.max_queued_bytes
        {
            return Err(SendError::Full);
        }
        let id = SendId(self.next_send_id);
        self.next_send_id += 1;
        self.queued.messages += 1;
        self.queued.bytes += len;
        self.queued.last = Some(id);
        if !options.compress {
            self.uncompressed.push_back(id);
        }
        self.enqueue(Packet::Message(message));
        self.flush();
        Ok(id)
    }

    /// Closes the connection (`forced close`): queued messages go first, and a running upgrade
    /// settles, as `engine.io-client` does.
    pub fn close(&mut self, _now: Instant) {
        match self.phase {
            Phase::Opening => self.close_now(CloseReason::ForcedClose, true),
            Phase::Open => {
                self.phase = Phase::Closing;
                self.maybe_finish_close();
            }
            Phase::Closing | Phase::Closed => {}
        }
    }

    // ---- output -------------------------------------------------------------------------------

    /// The next thing to do.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<ClientTransmit> {
        let (t, carried) = self.transmits.pop_front()?;
        self.transmitting.messages -= carried.messages;
        self.transmitting.bytes -= carried.bytes;
        if let Some(last) = carried.last {
            self.events.push_back(ClientEvent::Flushed { last });
        }
        Some(t)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` once closed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- HTTP ---------------------------------------------------------------------------------

    fn on_response(
        &mut self,
        now: Instant,
        req: ReqId,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) {
        self.cookies.store(headers);
        if self.is_closed() {
            return;
        }
        if self.get == Some(req) {
            self.get = None;
            if status != 200 {
                return self.close_now(CloseReason::TransportError, false);
            }
            let binary = headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
            let mut packets = Vec::new();
            let limits = DecodeLimits {
                max_bytes: usize::MAX,
                max_packets: self.config.max_packets_per_payload,
            };
            if self
                .format()
                .decode(binary, body, &limits, &mut packets)
                .is_err()
            {
                return self.close_now(CloseReason::ParseError, false);
            }
            if self.phase == Phase::Opening {
                let Some(Packet::Open(json)) = packets.first() else {
                    return self.close_now(CloseReason::ParseError, false);
                };
                let Ok(hs) = Handshake::from_json(json) else {
                    return self.close_now(CloseReason::ParseError, false);
                };
                let open = packets.remove(0);
                self.packet_in(open);
                self.on_open(now, hs);
            }
            for p in packets {
                if self.is_closed() {
                    return;
                }
                self.on_packet(now, p);
            }
            if self.is_closed() {
                return;
            }
            if self.probe.is_some_and(|p| p.state == ProbeState::Pausing) {
                self.maybe_finish_pause();
            } else if self.transport == Transport::Polling && self.phase != Phase::Closed {
                self.poll();
            }
        } else if self.post.is_some_and(|(id, _)| id == req) {
            let carried = self.post.take().map(|(_, c)| c).unwrap_or_default();
            if status != 200 {
                return self.close_now(CloseReason::TransportError, false);
            }
            if let Some(last) = carried.last {
                self.events.push_back(ClientEvent::Flushed { last });
            }
            self.flush();
            self.maybe_finish_pause();
            self.maybe_finish_close();
        }
    }

    fn on_failed(&mut self, req: ReqId) {
        if self.is_closed() {
            return;
        }
        if self.get == Some(req) || self.post.is_some_and(|(id, _)| id == req) {
            self.close_now(CloseReason::TransportError, false);
        }
    }

    fn format(&self) -> PayloadFormat {
        match self.config.version {
            ProtocolVersion::V4 => PayloadFormat::V4,
            ProtocolVersion::V3 => PayloadFormat::V3 {
                binary: !self.config.force_base64,
            },
        }
    }

    /// Issues the next GET (the handshake, or a poll) unless one is in flight.
    fn poll(&mut self) {
        if self.get.is_some() {
            return;
        }
        let id = self.id();
        let uri = self.uri(Transport::Polling);
        let headers = self.headers();
        self.get = Some(id);
        self.push(ClientTransmit::HttpRequest {
            req: id,
            method: Method::GET,
            uri,
            headers,
            body: Bytes::new(),
        });
    }

    // ---- WebSocket ----------------------------------------------------------------------------

    fn connect_ws(&mut self) -> ReqId {
        let id = self.id();
        let uri = self.uri(Transport::Websocket);
        let headers = self.headers();
        self.push(ClientTransmit::WsConnect {
            ws: id,
            uri,
            headers,
        });
        id
    }

    fn on_ws_opened(&mut self, ws: ReqId, headers: &HeaderMap) {
        self.cookies.store(headers);
        if self.is_closed() {
            return;
        }
        if let Some(p) = self
            .probe
            .filter(|p| p.ws == ws && p.state == ProbeState::Connecting)
        {
            self.probe = Some(Probe {
                state: ProbeState::Probing,
                ..p
            });
            self.send_frame(ws, &Packet::ping_probe());
        } else if self.ws == Some(ws) {
            self.ws_open = true;
            self.flush();
        }
    }

    fn on_frame(&mut self, now: Instant, ws: ReqId, frame: Frame) {
        if self.is_closed() {
            return;
        }
        let decoded = frame.decode(self.config.version, self.config.max_response_bytes);
        if let Some(p) = self.probe.filter(|p| p.ws == ws) {
            match decoded {
                Ok(packet) if packet == Packet::pong_probe() && p.state == ProbeState::Probing => {
                    self.probe = Some(Probe {
                        state: ProbeState::Pausing,
                        ..p
                    });
                    self.events.push_back(ClientEvent::Upgrading);
                    self.maybe_finish_pause();
                }
                _ => self.fail_probe(true, PROBE_UNANSWERED),
            }
            return;
        }
        if self.ws != Some(ws) {
            return;
        }
        let Ok(packet) = decoded else {
            return self.close_now(CloseReason::ParseError, false);
        };
        if self.phase == Phase::Opening {
            let Packet::Open(json) = &packet else {
                return self.close_now(CloseReason::ParseError, false);
            };
            let Ok(hs) = Handshake::from_json(json) else {
                return self.close_now(CloseReason::ParseError, false);
            };
            self.websocket_succeeded = true;
            self.packet_in(packet);
            return self.on_open(now, hs);
        }
        self.on_packet(now, packet);
    }

    fn on_ws_closed(&mut self, ws: ReqId) {
        if self.is_closed() {
            return;
        }
        if self.probe.is_some_and(|p| p.ws == ws) {
            self.fail_probe(false, PROBE_CLOSED);
        } else if self.ws == Some(ws) {
            // Gone: nothing to close any more.
            self.ws = None;
            self.ws_open = false;
            self.close_now(CloseReason::TransportClose, false);
        }
    }

    fn fail_probe(&mut self, close_ws: bool, why: &'static str) {
        let Some(p) = self.probe.take() else { return };
        if close_ws {
            self.push(ClientTransmit::WsClose { ws: p.ws });
        }
        self.events.push_back(ClientEvent::UpgradeFailed(why));
        // Polling resumes if it was paused.
        if self.transport == Transport::Polling && self.phase != Phase::Closed {
            self.poll();
            self.flush();
            self.maybe_finish_close();
        }
    }

    /// Sends `5` and switches once nothing is in flight on polling.
    fn maybe_finish_pause(&mut self) {
        let Some(p) = self.probe.filter(|p| p.state == ProbeState::Pausing) else {
            return;
        };
        if self.get.is_some() || self.post.is_some() {
            return;
        }
        self.probe = None;
        self.send_frame(p.ws, &Packet::Upgrade);
        self.transport = Transport::Websocket;
        self.ws = Some(p.ws);
        self.ws_open = true;
        self.websocket_succeeded = true;
        self.events.push_back(ClientEvent::Upgraded);
        self.flush();
        self.maybe_finish_close();
    }

    // ---- packets ------------------------------------------------------------------------------

    fn on_open(&mut self, now: Instant, hs: Handshake) {
        self.timers.clear(Timer::Connect as usize);
        self.sid = Some(hs.sid.clone());
        self.ping_interval = Duration::from_millis(hs.ping_interval);
        self.ping_timeout = Duration::from_millis(hs.ping_timeout);
        self.max_payload = hs
            .max_payload
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        self.upgrades = hs
            .upgrades
            .iter()
            .copied()
            .filter(|t| self.config.transports.contains(t))
            .collect();
        self.phase = Phase::Open;
        self.events.push_back(ClientEvent::Open(hs));
        self.set(
            Timer::Heartbeat,
            now,
            self.ping_interval + self.ping_timeout,
        );
        if self.config.version == ProtocolVersion::V3 {
            self.set(Timer::Ping, now, self.ping_interval);
        }
        if self.transport == Transport::Websocket {
            self.ws_open = true;
        }
        self.flush();
        if self.transport == Transport::Polling
            && self.config.upgrade
            && self.upgrades.contains(&Transport::Websocket)
        {
            let ws = self.connect_ws();
            self.probe = Some(Probe {
                ws,
                state: ProbeState::Connecting,
            });
        }
    }

    fn on_packet(&mut self, now: Instant, p: Packet) {
        if self.config.packet_events {
            self.events.push_back(ClientEvent::PacketIn(p.clone()));
        }
        let v3 = self.config.version == ProtocolVersion::V3;
        if v3 {
            // v3 clients take any packet as a sign of life (engine.io-client 3.x).
            if self.timers.is_armed(Timer::Ping as usize) {
                self.set(
                    Timer::Heartbeat,
                    now,
                    self.ping_interval + self.ping_timeout,
                );
            }
        }
        match p {
            Packet::Ping(_) if !v3 => {
                self.set(
                    Timer::Heartbeat,
                    now,
                    self.ping_interval + self.ping_timeout,
                );
                self.events.push_back(ClientEvent::Heartbeat);
                self.enqueue(Packet::pong());
                self.flush();
            }
            Packet::Pong(_) if v3 => {
                self.set(Timer::Ping, now, self.ping_interval);
                self.set(
                    Timer::Heartbeat,
                    now,
                    self.ping_interval + self.ping_timeout,
                );
                self.events.push_back(ClientEvent::Heartbeat);
            }
            Packet::Message(m) => self.events.push_back(ClientEvent::Message(m)),
            Packet::Close => self.close_now(CloseReason::TransportClose, false),
            _ => {}
        }
    }

    fn packet_in(&mut self, p: Packet) {
        if self.config.packet_events {
            self.events.push_back(ClientEvent::PacketIn(p));
        }
    }

    // ---- sending ------------------------------------------------------------------------------

    /// Queues `p` for sending, telling the application with `packet_events`.
    fn enqueue(&mut self, p: Packet) {
        if self.config.packet_events {
            self.events.push_back(ClientEvent::PacketOut(p.clone()));
        }
        self.queue.push_back(p);
    }

    fn flush(&mut self) {
        if self.queue.is_empty()
            || !matches!(self.phase, Phase::Open | Phase::Closing)
            || self.probe.is_some_and(|p| p.state == ProbeState::Pausing)
        {
            return;
        }
        match self.transport {
            Transport::Websocket => {
                let Some(ws) = self.ws.filter(|_| self.ws_open) else {
                    return;
                };
                let carried = std::mem::take(&mut self.queued);
                self.transmitting.messages += carried.messages;
                self.transmitting.bytes += carried.bytes;
                let mut next_id = if self.uncompressed.is_empty() {
                    None
                } else {
                    first_message_id(self.queue.iter(), carried.last)
                };
                let n = self.queue.len();
                for i in 0..n {
                    let Some(p) = self.queue.pop_front() else {
                        break;
                    };
                    let mut compress = true;
                    if let (Some(id), Packet::Message(_)) = (next_id.as_mut(), &p) {
                        compress = take_compress_flag(&mut self.uncompressed, *id);
                        *id += 1;
                    }
                    let frame = Frame::encode(&p, self.config.version, &mut self.scratch);
                    let c = if i + 1 == n {
                        carried
                    } else {
                        Carried::default()
                    };
                    let t = ClientTransmit::WsFrame {
                        ws,
                        frame,
                        compress,
                    };
                    self.transmits.push_back((t, c));
                }
                if self.scratch.capacity() > 4096 {
                    self.scratch = BytesMut::new();
                }
            }
            Transport::Polling => {
                if self.post.is_some() {
                    return;
                }
                let (packets, carried) = self.take_writable();
                // POST bodies are not compressed: the flags of what they carry are done.
                if let Some(last) = carried.last {
                    while self.uncompressed.front().is_some_and(|u| *u <= last) {
                        self.uncompressed.pop_front();
                    }
                }
                let id = self.post(&packets);
                self.post = Some((id, carried));
            }
        }
    }

    /// Sends `packets` in a POST; returns its id.
    fn post(&mut self, packets: &[Packet]) -> ReqId {
        let mut body = BytesMut::new();
        let content_type = match self.format().encode(packets, &mut body) {
            ContentType::Binary => "application/octet-stream",
            _ => "text/plain;charset=UTF-8",
        };
        let id = self.id();
        let uri = self.uri(Transport::Polling);
        let mut headers = self.headers();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.push(ClientTransmit::HttpRequest {
            req: id,
            method: Method::POST,
            uri,
            headers,
            body: body.freeze(),
        });
        id
    }

    /// Takes from the queue as many packets as fit the server's `maxPayload` and
    /// `max_packets_per_post` (at least one), with what they carry of the application's messages.
    fn take_writable(&mut self) -> (Vec<Packet>, Carried) {
        let limit = self.max_payload.unwrap_or(usize::MAX);
        let version = self.config.version;
        let mut size = 0usize;
        let mut n = 0;
        for p in &self.queue {
            let len = p.encoded_text_len(version) + 1;
            if n > 0
                && (size.saturating_add(len) > limit.saturating_add(1)
                    || n >= self.config.max_packets_per_post)
            {
                break;
            }
            size += len;
            n += 1;
        }
        take_run(&mut self.queue, &mut self.queued, n)
    }

    /// Messages and bytes not yet delivered to the server's transport (the send bound).
    fn pending(&self) -> Carried {
        let mut c = self.queued;
        if let Some((_, p)) = self.post {
            c.messages += p.messages;
            c.bytes += p.bytes;
        }
        c.messages += self.transmitting.messages;
        c.bytes += self.transmitting.bytes;
        c
    }

    fn send_frame(&mut self, ws: ReqId, p: &Packet) {
        let frame = Frame::encode(p, self.config.version, &mut self.scratch);
        self.push(ClientTransmit::WsFrame {
            ws,
            frame,
            compress: true,
        });
    }

    fn push(&mut self, t: ClientTransmit) {
        self.transmits.push_back((t, Carried::default()));
    }

    fn id(&mut self) -> ReqId {
        self.next_id += 1;
        ReqId(self.next_id)
    }

    fn uri(&mut self, transport: Transport) -> Uri {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.config.query {
            q.append_pair(k, v);
        }
        q.append_pair("EIO", self.config.version.as_str());
        q.append_pair("transport", transport.as_str());
        if let Some(sid) = &self.sid {
            q.append_pair("sid", sid);
        }
        if transport == Transport::Polling {
            if self.config.timestamp_requests {
                self.stamps = self.stamps.wrapping_add(1);
                q.append_pair(&self.config.timestamp_param, &stamp(self.stamps));
            }
            if self.config.force_base64 && self.sid.is_none() {
                q.append_pair("b64", "1");
            }
        }
        let scheme = match (self.config.url.scheme_str(), transport) {
            (Some("https" | "wss"), Transport::Websocket) => "wss",
            (Some("https" | "wss"), Transport::Polling) => "https",
            (_, Transport::Websocket) => "ws",
            (_, Transport::Polling) => "http",
        };
        let authority = self
            .config
            .url
            .authority()
            .map(|a| a.as_str())
            .unwrap_or("localhost");
        let path = format!("{}/", self.config.path.trim_end_matches('/'));
        format!("{scheme}://{authority}{path}?{}", q.finish())
            .parse()
            .unwrap_or_default()
    }

    fn headers(&self) -> HeaderMap {
        let mut h = self.config.extra_headers.clone();
        if let Some(c) = self.cookies.header() {
            h.insert(header::COOKIE, c);
        }
        h
    }

    // ---- closing ------------------------------------------------------------------------------

    /// A close the application asked for completes once the queue is flushed and no upgrade
    /// is being decided.
    fn maybe_finish_close(&mut self) {
        if self.phase != Phase::Closing
            || !self.queue.is_empty()
            || self.post.is_some()
            || self.probe.is_some_and(|p| p.state == ProbeState::Pausing)
        {
            return;
        }
        if self.transport == Transport::Polling {
            // The close packet, best effort: the connection is closed whatever its fate.
            self.post(&[Packet::Close]);
        }
        self.close_now(CloseReason::ForcedClose, true);
    }

    fn close_now(&mut self, reason: CloseReason, local: bool) {
        if self.is_closed() {
            return;
        }
        if let Some(p) = self.probe.take() {
            self.push(ClientTransmit::WsClose { ws: p.ws });
        }
        // The WebSocket in use, or still connecting (a first WebSocket whose handshake timed
        // out): every WebSocket asked for is closed, unless the host said it is.
        if let Some(ws) = self.ws.take() {
            self.push(ClientTransmit::WsClose { ws });
        }
        self.ws_open = false;
        self.get = None;
        self.post = None;
        self.queue.clear();
        self.queued = Carried::default();
        self.uncompressed.clear();
        self.timers.clear_all();
        self.phase = Phase::Closed;
        // Messages on their way out (the last frames of a graceful close) are reported flushed
        // now, so `Closed` stays the last event.
        if let Some(last) = take_last_flushed(&mut self.transmits) {
            self.events.push_back(ClientEvent::Flushed { last });
        }
        self.events.push_back(ClientEvent::Closed { reason, local });
    }

    fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.timers.set(timer as usize, now, after);
    }
}

/// A cache-busting value: a counter in URL-safe base64 digits (like `yeast`).
fn stamp(mut n: u64) -> String {
    const DIGITS: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    let mut out = Vec::with_capacity(11);
    loop {
        out.push(DIGITS[(n % 64) as usize]);
        n /= 64;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
