//! One server-side session: a deterministic machine fed with requests, frames and the time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_proto::{
    DecodeError, ErrorCode, Frame, Handshake, Message, Packet, PayloadFormat, ProtocolVersion,
    Transport,
};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::{encode_body, HandshakeRequest, Refusal, ReqId, RequestKind, SessionRequest};
use crate::config::ServerConfig;
use crate::headers::{self, ContentEncoding};
use crate::send::{
    check_encodable, first_message_id, take_compress_flag, take_last_flushed, take_run, Carried,
    SendOptions,
};
use crate::timers::Timers;
use crate::{CloseReason, Instant, SendError, SendId, Sid};

/// Everything that can happen to a session from the outside, but the clock and the
/// application's own calls. One enum, so a run can be recorded, replayed, fuzzed and printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A request routed to this session ([`Route::Session`](crate::Route::Session)).
    Request(ReqId, SessionRequest),
    /// The whole body of a POST the session asked to read ([`Transmit::ReadBody`]).
    PostBody(ReqId, Bytes),
    /// A POST body that went over the limit of its [`Transmit::ReadBody`].
    PostTooLarge(ReqId),
    /// The client went away before a request was answered (a dropped long-poll, a POST cut
    /// short, a WebSocket upgrade that never completed). Loss is always reported, never silent.
    RequestAborted(ReqId),
    /// A data frame on a WebSocket this session accepted.
    WsFrame(ReqId, Frame),
    /// A WebSocket this session accepted is closed (by the peer, or broken).
    WsClosed(ReqId),
}

/// What the host must do for the session.
#[derive(Debug)]
pub enum Transmit {
    /// Answer HTTP request `req` with `response`.
    Respond {
        /// The request.
        req: ReqId,
        /// The response.
        response: Response<Bytes>,
    },
    /// Read the body of POST `req`, at most `limit` bytes, then give it back as
    /// [`Input::PostBody`] (or [`Input::PostTooLarge`], or [`Input::RequestAborted`]).
    ReadBody {
        /// The request.
        req: ReqId,
        /// Largest body accepted.
        limit: usize,
    },
    /// Accept WebSocket upgrade request `req` (`101 Switching Protocols`, with these extra
    /// headers) and from now on refer to the WebSocket by the same id. Its message size limit
    /// is the server's `max_payload`.
    AcceptWebSocket {
        /// The upgrade request.
        req: ReqId,
        /// Extra response headers (the sticky cookie on a WebSocket handshake).
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
    /// Close WebSocket `ws` (a close frame, then the connection).
    WsClose {
        /// The WebSocket.
        ws: ReqId,
    },
}

/// What the session tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message from the client.
    Message(Message),
    /// The client probed a WebSocket (`2probe` answered with `3probe`).
    Upgrading,
    /// The session now runs over WebSocket.
    Upgraded,
    /// An upgrade was given up; polling goes on. The description says why (the probe timed
    /// out, sent a bad packet or closed, or the session closed).
    UpgradeAborted(&'static str),
    /// A request of this session was refused with an error code and the session goes on (a
    /// polling request on a session that upgraded, an upgrade not allowed or while closing).
    /// The reference reports these as the server's `connection_error`.
    Refused {
        /// The code sent.
        code: ErrorCode,
        /// Why, in a word (the reference's context `name`).
        context: &'static str,
    },
    /// Every message sent up to and including `last` has been handed to the host to write
    /// (the reference's send callbacks and `drain`).
    Flushed {
        /// The last message flushed.
        last: SendId,
    },
    /// A heartbeat went through (v4: a pong came; v3: a ping came and was answered).
    Heartbeat,
    /// A packet arrived (only with `packet_events`).
    PacketIn(Packet),
    /// A packet is being sent (only with `packet_events`).
    PacketOut(Packet),
    /// The session is closed; the last event it emits, exactly once.
    Closed(CloseReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// Closed by the application on polling: waiting for a GET to carry the close packet.
    Closing(CloseReason),
    Closed(CloseReason),
}

/// A held-open GET, with what its response needs.
#[derive(Clone, Debug)]
struct Parked {
    id: ReqId,
    origin: Option<HeaderValue>,
    encoding: Option<ContentEncoding>,
}

/// A POST whose body is being read.
#[derive(Clone, Debug)]
struct PostSlot {
    id: ReqId,
    binary: bool,
    origin: Option<HeaderValue>,
}

#[derive(Clone, Copy, Debug)]
struct Upgrade {
    ws: ReqId,
    probed: bool,
}

/// The session's timers, one slot each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Closing on polling: give up waiting for a GET.
    Close,
    /// v4: the pong is late; v3: the client's ping is late.
    PingTimeout,
    /// The probed WebSocket did not send `5` in time.
    Upgrade,
    /// v4: time to send a ping.
    Ping,
    /// While upgrading: answer a parked GET with a noop.
    Noop,
}

const TIMERS: [Timer; 5] = [
    Timer::Close,
    Timer::PingTimeout,
    Timer::Upgrade,
    Timer::Ping,
    Timer::Noop,
];

/// The close descriptions ([`Session::close_description`]).
const NO_PONG: &str = "no pong within pingTimeout";
const OVERLAPPING_GET: &str = "a GET while another was pending";
const OVERLAPPING_POST: &str = "a POST while another was being read";
const BINARY_POST_V4: &str = "a binary POST on a v4 session";
const BODY_TOO_LARGE: &str = "a POST body over maxHttpBufferSize";
const TOO_MANY_PACKETS: &str = "a POST body with too many packets";
const UNDECODABLE_BODY: &str = "a POST body that does not decode";
const GET_ABORTED: &str = "the client dropped a pending GET";
const POST_ABORTED: &str = "the client dropped a POST being read";
const FRAME_TOO_LARGE: &str = "a WebSocket message over maxHttpBufferSize";
const UNDECODABLE_FRAME: &str = "a WebSocket message that does not decode";
const WEBSOCKET_CLOSED: &str = "the WebSocket closed";
const PING_FROM_CLIENT: &str = "a ping from a v4 client (heartbeats go the other way)";
const PONG_FROM_CLIENT: &str = "a pong from a v3 client (heartbeats go the other way)";
const CLOSE_PACKET: &str = "the client sent a close packet";
const CLOSED_BY_APPLICATION: &str = "the application closed the session";
const SHUTTING_DOWN: &str = "the server is shutting down";
const UPGRADE_TIMEOUT: &str = "the probe did not complete within upgradeTimeout";
const UPGRADE_BAD_PACKET: &str = "the probe sent an unexpected packet";
const UPGRADE_WS_CLOSED: &str = "the probe's WebSocket closed";
const UPGRADE_SESSION_CLOSED: &str = "the session closed";

/// One Engine.IO session, server side: a sans-IO machine.
///
/// Feed it [`Input`]s, the application's [`send`](Self::send) and [`close`](Self::close),
/// and the time. It never reads a clock, sleeps, spawns or touches a socket.
///
/// # The drain rule
///
/// After every call that takes `now` (and after `send`), the host drains
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event) until both are
/// empty, then arms one timer at [`poll_timeout`](Self::poll_timeout) and calls
/// [`handle_timeout`](Self::handle_timeout) when it fires:
///
/// ```
/// use engineio_session::{Event, Input, Instant, ReqId, Route, Server, ServerConfig, Transmit, Verdict};
///
/// let mut server = Server::new(ServerConfig::default());
/// let req = http::Request::get("/engine.io/?EIO=4&transport=polling").body(()).unwrap();
/// let Route::Handshake(hs) = server.route((&req).into()) else { unreachable!() };
/// let (_sid, mut session) = server.accept(Instant::ZERO, hs, ReqId(0), Verdict::Allow).unwrap();
///
/// let mut now = Instant::ZERO;
/// while !session.is_closed() {
///     while let Some(t) = session.poll_transmit() {
///         match t {
///             Transmit::Respond { .. } => { /* write the HTTP response */ }
///             Transmit::ReadBody { .. } => { /* read the body, then Input::PostBody */ }
///             Transmit::AcceptWebSocket { .. } => { /* 101, then frames as Input::WsFrame */ }
///             Transmit::WsFrame { .. } | Transmit::WsClose { .. } => { /* write */ }
///         }
///     }
///     while let Some(e) = session.poll_event() {
///         if let Event::Message(m) = e { /* the application's */ }
///     }
///     // Nobody polls in this example: the heartbeat times the session out.
///     now = session.poll_timeout().expect("an open session always has a deadline");
///     session.handle_timeout(now);
/// }
/// assert_eq!(now, Instant::ZERO + std::time::Duration::from_secs(45));
/// ```
#[derive(Debug)]
pub struct Session {
    config: Arc<ServerConfig>,
    sid: Sid,
    version: ProtocolVersion,
    format: PayloadFormat,
    state: State,
    /// What closed the session, in words (the reference's close `description`).
    close_detail: &'static str,
    transport: Transport,
    get: Option<Parked>,
    post: Option<PostSlot>,
    ws: Option<ReqId>,
    upgrade: Option<Upgrade>,
    /// Packets waiting for a transport.
    queue: VecDeque<Packet>,
    /// The queued messages sent with `compress: false`, in order (the reference's per-message
    /// option): a polling response made only of them goes uncompressed.
    uncompressed: VecDeque<SendId>,
    /// What `queue` holds of the application's messages.
    queued: Carried,
    /// Messages and bytes sent but not yet taken by the host (the send bound).
    buffered: Carried,
    next_send_id: u64,
    ping_refreshed: bool,
    timers: Timers<5>,
    transmits: VecDeque<(Transmit, Carried)>,
    events: VecDeque<Event>,
    scratch: BytesMut,
}

impl Session {
    pub(crate) fn open(
        now: Instant,
        config: Arc<ServerConfig>,
        sid: Sid,
        hs: &HandshakeRequest,
        req: ReqId,
        cookie: Option<HeaderValue>,
    ) -> Session {
        let upgrades = if hs.transport == Transport::Polling
            && config.allow_upgrades
            && config.transports.websocket
        {
            vec![Transport::Websocket]
        } else {
            vec![]
        };
        let handshake = Handshake {
            sid: sid.as_str().to_owned(),
            upgrades,
            ping_interval: millis(config.ping_interval),
            ping_timeout: millis(config.ping_timeout),
            max_payload: (hs.version == ProtocolVersion::V4).then_some(config.max_payload as u64),
        };
        let mut s = Session {
            sid,
            version: hs.version,
            format: hs.format,
            state: State::Open,
            close_detail: "",
            transport: hs.transport,
            get: None,
            post: None,
            ws: None,
            upgrade: None,
            queue: VecDeque::new(),
            uncompressed: VecDeque::new(),
            queued: Carried::default(),
            buffered: Carried::default(),
            next_send_id: 0,
            ping_refreshed: false,
            timers: Timers::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: BytesMut::new(),
            config,
        };
        s.queue.push_back(handshake.to_packet());
        if let Some(m) = s.config.initial_packet.clone() {
            // Counted like any message, but without an id: `Flushed` reports only the
            // application's sends.
            s.buffered.messages += 1;
            s.buffered.bytes += m.len();
            s.queued.messages += 1;
            s.queued.bytes += m.len();
            s.queue.push_back(Packet::Message(m));
        }
        match hs.version {
            ProtocolVersion::V4 => s.set(Timer::Ping, now, s.config.ping_interval),
            ProtocolVersion::V3 => s.set(
                Timer::PingTimeout,
                now,
                s.config.ping_interval + s.config.ping_timeout,
            ),
        }
        match hs.transport {
            Transport::Polling => {
                s.get = Some(Parked {
                    id: req,
                    origin: hs.origin.clone(),
                    encoding: hs.encoding,
                });
                s.flush();
                if let (Some(cookie), Some((Transmit::Respond { response, .. }, _))) =
                    (cookie, s.transmits.back_mut())
                {
                    response.headers_mut().insert(header::SET_COOKIE, cookie);
                }
            }
            Transport::Websocket => {
                let mut headers = HeaderMap::new();
                if let Some(cookie) = cookie {
                    headers.insert(header::SET_COOKIE, cookie);
                }
                s.ws = Some(req);
                s.push(Transmit::AcceptWebSocket { req, headers });
                s.flush();
            }
        }
        s
    }

    // ---- getters ------------------------------------------------------------------------------

    /// The session id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The transport in use (polling until an upgrade completes).
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether a WebSocket is being probed for an upgrade.
    pub fn is_upgrading(&self) -> bool {
        self.upgrade.is_some()
    }

    /// Where the session is in its life (the reference's `readyState`; never `Opening`).
    pub fn ready_state(&self) -> crate::ReadyState {
        match self.state {
            State::Open => crate::ReadyState::Open,
            State::Closing(_) => crate::ReadyState::Closing,
            State::Closed(_) => crate::ReadyState::Closed,
        }
    }

    /// Whether the session is closing: closed by the application on polling, its close packet
    /// waiting for a GET to carry it.
    pub fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing(_))
    }

    /// Whether the session is closed (its [`Event::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// What closed the session, in words, once it has (the reference's close `description`):
    /// "the client sent a close packet", "no pong within pingTimeout", "a GET while another
    /// was pending", and so on.
    pub fn close_description(&self) -> Option<&'static str> {
        self.is_closed().then_some(self.close_detail)
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.state {
            State::Closed(r) => Some(r),
            _ => None,
        }
    }

    // ---- input --------------------------------------------------------------------------------

    /// Feeds one input at time `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Request(id, r) => self.on_request(now, id, r),
            Input::PostBody(id, body) => self.on_post_body(now, id, body),
            Input::PostTooLarge(id) => self.on_post_too_large(id),
            Input::RequestAborted(id) => self.on_aborted(now, id),
            Input::WsFrame(ws, frame) => self.on_frame(now, ws, frame),
            Input::WsClosed(ws) => self.on_ws_closed(now, ws),
        }
    }

    /// Fires every timer due at `now`. With nothing due it does nothing; afterwards
    /// [`poll_timeout`](Self::poll_timeout) is later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in TIMERS {
            if self.is_closed() {
                return;
            }
            if !self.timers.take_due(timer as usize, now) {
                continue;
            }
            match timer {
                Timer::Close => {
                    if let State::Closing(reason) = self.state {
                        self.finish(reason);
                    }
                }
                Timer::PingTimeout => self.close_now(CloseReason::PingTimeout, NO_PONG, false),
                Timer::Upgrade => self.abort_upgrade(true, UPGRADE_TIMEOUT),
                Timer::Ping => {
                    self.ping_refreshed = false;
                    self.set(Timer::PingTimeout, now, self.config.ping_timeout);
                    self.queue.push_back(Packet::ping());
                    self.flush();
                }
                Timer::Noop => {
                    if self.upgrade.is_some_and(|u| u.probed) {
                        self.answer_parked_get();
                        self.set(Timer::Noop, now, self.config.upgrade_noop_interval);
                    }
                }
            }
        }
    }

    // ---- application --------------------------------------------------------------------------

    /// Queues a message for the client. Bounded: [`SendError::Full`] is an answer, not a
    /// failure; [`Event::Flushed`] says when the data has left the session.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.send_with(message, SendOptions::default())
    }

    /// [`send`](Self::send) with options: `compress: false` keeps a polling response made only
    /// of such messages uncompressed, as the reference's `send(data, { compress: false })`
    /// (a response with any other packet is compressed as usual), and its WebSocket message
    /// out of permessage-deflate ([`Transmit::WsFrame`]'s `compress`).
    pub fn send_with(
        &mut self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        let id = self.queue_message(message.into())?;
        if !options.compress {
            self.uncompressed.push_back(id);
        }
        self.flush();
        Ok(id)
    }

    fn queue_message(&mut self, message: Message) -> Result<SendId, SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        check_encodable(&message, self.version, self.transport)?;
        let len = message.len();
        if self.buffered.messages >= self.config.max_buffered_packets
            || self.buffered.bytes.saturating_add(len) > self.config.max_buffered_bytes
        {
            return Err(SendError::Full);
        }
        let id = SendId(self.next_send_id);
        self.next_send_id += 1;
        self.buffered.messages += 1;
        self.buffered.bytes += len;
        self.queued.messages += 1;
        self.queued.bytes += len;
        self.queued.last = Some(id);
        self.queue.push_back(Packet::Message(message));
        Ok(id)
    }

    /// Closes the session (`forced close`): queued messages are sent first, then the close.
    pub fn close(&mut self, now: Instant) {
        self.begin_close(now, CloseReason::ForcedClose);
    }

    /// Closes the session because the server is shutting down (`server shutting down`).
    pub fn shutdown(&mut self, now: Instant) {
        self.begin_close(now, CloseReason::ServerShuttingDown);
    }

    // ---- output -------------------------------------------------------------------------------

    /// The next thing to do for the session.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let (t, carried) = self.transmits.pop_front()?;
        self.buffered.messages -= carried.messages;
        self.buffered.bytes -= carried.bytes;
        if let Some(last) = carried.last {
            self.events.push_back(Event::Flushed { last });
        }
        Some(t)
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` once closed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- requests -----------------------------------------------------------------------------

    fn on_request(&mut self, now: Instant, id: ReqId, r: SessionRequest) {
        if self.is_closed() {
            if matches!(r.kind, RequestKind::Post { .. }) && self.closed_by_server_on_polling() {
                // A POST that was on its way when the server closed the session: taken (as
                // `Server::unknown_session` does once the session is gone), so the client
                // sees only the close packet.
                let response = self.ok_response(r.origin.as_ref());
                return self.push(Transmit::Respond { req: id, response });
            }
            return self.refuse(id, ErrorCode::UnknownSid, "UNKNOWN_SID", r.origin.as_ref());
        }
        if r.version != Some(self.version) {
            return self.refuse(
                id,
                ErrorCode::BadRequest,
                "PROTOCOL_MISMATCH",
                r.origin.as_ref(),
            );
        }
        match r.kind {
            RequestKind::WebSocket => {
                let allowed = r.transport == Transport::Websocket
                    && self.config.allow_upgrades
                    && self.config.transports.websocket;
                if allowed && (self.transport == Transport::Websocket || self.upgrade.is_some()) {
                    // A second WebSocket while one is in use or being probed: as the
                    // reference, complete its handshake and close it at once (a WebSocket
                    // client sees a close, not a failed handshake); the session goes on.
                    self.push(Transmit::AcceptWebSocket {
                        req: id,
                        headers: HeaderMap::new(),
                    });
                    return self.push(Transmit::WsClose { ws: id });
                }
                if !allowed {
                    return self.refuse(
                        id,
                        ErrorCode::BadRequest,
                        "UPGRADE_REFUSED",
                        r.origin.as_ref(),
                    );
                }
                if self.state != State::Open {
                    return self.refuse(
                        id,
                        ErrorCode::BadRequest,
                        "SESSION_CLOSING",
                        r.origin.as_ref(),
                    );
                }
                self.upgrade = Some(Upgrade {
                    ws: id,
                    probed: false,
                });
                self.set(Timer::Upgrade, now, self.config.upgrade_timeout);
                self.push(Transmit::AcceptWebSocket {
                    req: id,
                    headers: HeaderMap::new(),
                });
            }
            RequestKind::Get | RequestKind::Post { .. }
                if r.transport != Transport::Polling || self.transport != Transport::Polling =>
            {
                self.refuse(
                    id,
                    ErrorCode::BadRequest,
                    "TRANSPORT_MISMATCH",
                    r.origin.as_ref(),
                );
            }
            RequestKind::Get => {
                if self.get.is_some() {
                    self.respond_bare(id, StatusCode::BAD_REQUEST, r.origin.as_ref());
                    return self.close_now(CloseReason::TransportError, OVERLAPPING_GET, false);
                }
                self.get = Some(Parked {
                    id,
                    origin: r.origin,
                    encoding: r.encoding,
                });
                // (Upgrading, an empty poll waits for the next noop tick: `flush` sends
                // nothing from an empty queue.)
                self.flush();
            }
            RequestKind::Post { binary } => {
                if self.post.is_some() {
                    self.respond_bare(id, StatusCode::BAD_REQUEST, r.origin.as_ref());
                    return self.close_now(CloseReason::TransportError, OVERLAPPING_POST, false);
                }
                if binary && self.version == ProtocolVersion::V4 {
                    self.respond_bare(id, StatusCode::BAD_REQUEST, r.origin.as_ref());
                    return self.close_now(CloseReason::TransportError, BINARY_POST_V4, false);
                }
                self.post = Some(PostSlot {
                    id,
                    binary,
                    origin: r.origin,
                });
                self.push(Transmit::ReadBody {
                    req: id,
                    limit: self.config.max_payload,
                });
            }
        }
    }

    fn on_post_body(&mut self, now: Instant, id: ReqId, body: Bytes) {
        // A body for a request we did not ask to read (the session closed meanwhile and
        // answered it already, or a confused host): nothing to answer.
        let Some(slot) = self.post.take_if(|p| p.id == id) else {
            return;
        };
        let mut packets = Vec::new();
        let limits = self.config.decode_limits();
        if let Err(e) = self.format.decode(slot.binary, body, &limits, &mut packets) {
            self.respond_error(id, ErrorCode::BadRequest, slot.origin.as_ref());
            let (reason, detail) = match e {
                DecodeError::TooLarge { .. } => (CloseReason::TransportError, BODY_TOO_LARGE),
                DecodeError::TooManyPackets { .. } => {
                    (CloseReason::TransportError, TOO_MANY_PACKETS)
                }
                _ => (CloseReason::ParseError, UNDECODABLE_BODY),
            };
            return self.close_now(reason, detail, false);
        }
        let response = self.ok_response(slot.origin.as_ref());
        self.push(Transmit::Respond { req: id, response });
        for p in packets {
            if self.is_closed() {
                break;
            }
            self.on_packet(now, p);
        }
    }

    /// As the reference: 413, and the session ends (`transport error`, "payload too large").
    fn on_post_too_large(&mut self, id: ReqId) {
        if let Some(slot) = self.post.take_if(|p| p.id == id) {
            self.respond_bare(id, StatusCode::PAYLOAD_TOO_LARGE, slot.origin.as_ref());
            self.close_now(CloseReason::TransportError, BODY_TOO_LARGE, false);
        }
    }

    fn on_aborted(&mut self, now: Instant, id: ReqId) {
        let _ = now;
        if self.is_closed() {
            return;
        }
        if self.get.as_ref().is_some_and(|g| g.id == id) {
            self.get = None;
            self.close_now(CloseReason::TransportError, GET_ABORTED, false);
        } else if self.post.as_ref().is_some_and(|p| p.id == id) {
            self.post = None;
            self.close_now(CloseReason::TransportError, POST_ABORTED, false);
        } else if self.upgrade.is_some_and(|u| u.ws == id) {
            self.abort_upgrade(false, UPGRADE_WS_CLOSED);
        } else if self.ws == Some(id) {
            self.close_now(CloseReason::TransportClose, WEBSOCKET_CLOSED, true);
        }
    }

    // ---- WebSocket ----------------------------------------------------------------------------

    fn on_frame(&mut self, now: Instant, ws: ReqId, frame: Frame) {
        if self.is_closed() {
            return;
        }
        let decoded = frame.decode(self.version, self.config.max_payload);
        if let Some(up) = self.upgrade.filter(|u| u.ws == ws) {
            match decoded {
                Ok(p) if p == Packet::ping_probe() && !up.probed => {
                    self.upgrade = Some(Upgrade { ws, probed: true });
                    self.send_frame(ws, &Packet::pong_probe());
                    self.events.push_back(Event::Upgrading);
                    self.answer_parked_get();
                    self.set(Timer::Noop, now, self.config.upgrade_noop_interval);
                }
                Ok(Packet::Upgrade) if up.probed => self.complete_upgrade(),
                _ => self.abort_upgrade(true, UPGRADE_BAD_PACKET),
            }
            return;
        }
        if self.ws != Some(ws) {
            return;
        }
        match decoded {
            Ok(p) => self.on_packet(now, p),
            Err(DecodeError::TooLarge { .. }) => {
                self.close_now(CloseReason::TransportError, FRAME_TOO_LARGE, false)
            }
            Err(_) => self.close_now(CloseReason::ParseError, UNDECODABLE_FRAME, false),
        }
    }

    fn on_ws_closed(&mut self, _now: Instant, ws: ReqId) {
        if self.is_closed() {
            return;
        }
        if self.upgrade.is_some_and(|u| u.ws == ws) {
            self.abort_upgrade(false, UPGRADE_WS_CLOSED);
        } else if self.ws == Some(ws) {
            self.close_now(CloseReason::TransportClose, WEBSOCKET_CLOSED, true);
        }
    }

    fn complete_upgrade(&mut self) {
        let Some(up) = self.upgrade.take() else {
            return;
        };
        self.timers.clear(Timer::Upgrade as usize);
        self.timers.clear(Timer::Noop as usize);
        // The old poll cycle ends with a noop; everything queued goes over the WebSocket.
        if let Some(get) = self.get.take() {
            self.respond_packets(get, &[Packet::Noop], Carried::default());
        }
        self.transport = Transport::Websocket;
        self.ws = Some(up.ws);
        self.events.push_back(Event::Upgraded);
        self.flush();
        // Closing while the upgrade completed: what was queued (ending with the close
        // packet) went over the WebSocket; close it.
        if let State::Closing(reason) = self.state {
            self.push(Transmit::WsClose { ws: up.ws });
            self.finish(reason);
        }
    }

    fn abort_upgrade(&mut self, close_ws: bool, why: &'static str) {
        let Some(up) = self.upgrade.take() else {
            return;
        };
        self.timers.clear(Timer::Upgrade as usize);
        self.timers.clear(Timer::Noop as usize);
        if close_ws {
            self.push(Transmit::WsClose { ws: up.ws });
        }
        self.events.push_back(Event::UpgradeAborted(why));
    }

    // ---- packets ------------------------------------------------------------------------------

    fn on_packet(&mut self, now: Instant, p: Packet) {
        if self.config.packet_events {
            self.events.push_back(Event::PacketIn(p.clone()));
        }
        let v4 = self.version == ProtocolVersion::V4;
        // v4: any packet but a pong shows the client is alive while its pong may be stuck
        // behind a large upload; push the deadline back once per ping (as the reference does).
        if v4
            && !self.ping_refreshed
            && self.timers.is_armed(Timer::PingTimeout as usize)
            && !matches!(p, Packet::Pong(_))
        {
            self.ping_refreshed = true;
            self.set(Timer::PingTimeout, now, self.config.ping_timeout);
        }
        match p {
            Packet::Ping(_) if v4 => {
                self.close_now(CloseReason::TransportError, PING_FROM_CLIENT, false)
            }
            // Closing: the close packet is the last one the session sends, and closeTimeout,
            // not the heartbeat, bounds the wait (the reference sends nothing once closing).
            Packet::Ping(_) if self.state != State::Open => {}
            Packet::Ping(_) => {
                let deadline = self.config.ping_interval + self.config.ping_timeout;
                self.set(Timer::PingTimeout, now, deadline);
                self.events.push_back(Event::Heartbeat);
                self.queue.push_back(Packet::pong());
                self.flush();
            }
            Packet::Pong(_) if !v4 => {
                self.close_now(CloseReason::TransportError, PONG_FROM_CLIENT, false)
            }
            Packet::Pong(_) => {
                self.timers.clear(Timer::PingTimeout as usize);
                if self.state == State::Open {
                    self.set(Timer::Ping, now, self.config.ping_interval);
                }
                self.events.push_back(Event::Heartbeat);
            }
            Packet::Message(m) => self.events.push_back(Event::Message(m)),
            Packet::Close => {
                // The client closed: the reference's polling transport ends a parked poll
                // with a noop, not a close packet (the protocol test-suite checks it).
                if let Some(get) = self.get.take() {
                    self.respond_packets(get, &[Packet::Noop], Carried::default());
                }
                self.close_now(CloseReason::TransportClose, CLOSE_PACKET, false)
            }
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
    }

    // ---- sending ------------------------------------------------------------------------------

    /// Sends what is queued if the transport can take it now.
    fn flush(&mut self) {
        if self.queue.is_empty() || self.is_closed() {
            return;
        }
        if self.transport == Transport::Websocket {
            let Some(ws) = self.ws else { return };
            let carried = std::mem::take(&mut self.queued);
            let mut packets = std::mem::take(&mut self.queue);
            // Messages sent with `compress: false` (rare: only then are ids worked out).
            let mut next_id = if self.uncompressed.is_empty() {
                None
            } else {
                first_message_id(packets.iter(), carried.last)
            };
            let n = packets.len();
            for (i, p) in packets.drain(..).enumerate() {
                let mut compress = true;
                if let (Some(id), Packet::Message(_)) = (next_id.as_mut(), &p) {
                    compress = take_compress_flag(&mut self.uncompressed, *id);
                    *id += 1;
                }
                let frame = self.encode_frame(&p);
                let c = if i + 1 == n {
                    carried
                } else {
                    Carried::default()
                };
                self.transmits.push_back((
                    Transmit::WsFrame {
                        ws,
                        frame,
                        compress,
                    },
                    c,
                ));
            }
            // Keep the queue's allocation for next time.
            self.queue = packets;
            if self.scratch.capacity() > 4096 {
                self.scratch = BytesMut::new();
            }
        } else if let Some(get) = self.get.take() {
            let n = self.config.max_packets_per_response;
            let (packets, carried) = take_run(&mut self.queue, &mut self.queued, n);
            let closing = packets.last() == Some(&Packet::Close);
            let compress = self.take_compress(packets.len(), carried);
            self.respond_packets_with(get, &packets, carried, compress);
            if closing {
                if let State::Closing(reason) = self.state {
                    self.finish(reason);
                }
            }
        }
    }

    /// While upgrading, ends the client's poll cycle: queued data if any, else a noop.
    fn answer_parked_get(&mut self) {
        if self.get.is_none() {
            return;
        }
        if self.queue.is_empty() {
            if let Some(get) = self.get.take() {
                self.respond_packets(get, &[Packet::Noop], Carried::default());
            }
        } else {
            self.flush();
        }
    }

    fn encode_frame(&mut self, p: &Packet) -> Frame {
        if self.config.packet_events {
            self.events.push_back(Event::PacketOut(p.clone()));
        }
        Frame::encode(p, self.version, &mut self.scratch)
    }

    fn send_frame(&mut self, ws: ReqId, p: &Packet) {
        let frame = self.encode_frame(p);
        self.push(Transmit::WsFrame {
            ws,
            frame,
            compress: true,
        });
    }

    /// Whether a response of `n` packets carrying `carried` may be compressed: unless it is
    /// made only of messages sent with `compress: false` (whose flags it takes).
    fn take_compress(&mut self, n: usize, carried: Carried) -> bool {
        let mut flagged = 0;
        if let Some(last) = carried.last {
            while self.uncompressed.front().is_some_and(|id| *id <= last) {
                self.uncompressed.pop_front();
                flagged += 1;
            }
        }
        !(carried.messages == n && flagged == n)
    }

    fn respond_packets(&mut self, get: Parked, packets: &[Packet], carried: Carried) {
        self.respond_packets_with(get, packets, carried, true);
    }

    fn respond_packets_with(
        &mut self,
        get: Parked,
        packets: &[Packet],
        carried: Carried,
        compress: bool,
    ) {
        if self.config.packet_events {
            self.events
                .extend(packets.iter().cloned().map(Event::PacketOut));
        }
        let (mut body, ct) = encode_body(self.format, packets);
        let mut h = self.cors(get.origin.as_ref());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct.as_str()));
        let (name, value) = headers::CACHE_CONTROL;
        h.insert(name, value);
        if let (Some(c), Some(enc), true) = (self.config.http_compression, get.encoding, compress) {
            if body.len() >= c.threshold {
                if let Some(compressed) = headers::compress(enc, &body) {
                    body = compressed;
                    h.insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(enc.as_str()),
                    );
                }
            }
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let response = headers::response(StatusCode::OK, h, body);
        self.transmits.push_back((
            Transmit::Respond {
                req: get.id,
                response,
            },
            carried,
        ));
    }

    fn push(&mut self, t: Transmit) {
        self.transmits.push_back((t, Carried::default()));
    }

    fn cors(&self, origin: Option<&HeaderValue>) -> HeaderMap {
        headers::cors_headers(self.config.cors.as_ref(), origin)
    }

    /// Refuses request `id` with `code`; the session goes on. The response carries a
    /// [`Refusal`] for the host's `connection_error`.
    /// The answer to a POST taken: `ok`.
    fn ok_response(&self, origin: Option<&HeaderValue>) -> Response<Bytes> {
        headers::ok_response(self.cors(origin))
    }

    /// Whether the server closed this session (the application or shutdown) while it was
    /// on polling: its close packet went to a GET, and a POST may still be on its way.
    fn closed_by_server_on_polling(&self) -> bool {
        self.close_reason()
            .is_some_and(|r| r.takes_late_posts(self.transport))
    }

    fn refuse(
        &mut self,
        id: ReqId,
        code: ErrorCode,
        context: &'static str,
        origin: Option<&HeaderValue>,
    ) {
        let mut response = headers::error_response(code, None, self.cors(origin));
        response.extensions_mut().insert(Refusal { code, context });
        self.push(Transmit::Respond { req: id, response });
        if !self.is_closed() {
            self.events.push_back(Event::Refused { code, context });
        }
    }

    fn respond_error(&mut self, id: ReqId, code: ErrorCode, origin: Option<&HeaderValue>) {
        let response = headers::error_response(code, None, self.cors(origin));
        self.push(Transmit::Respond { req: id, response });
    }

    fn respond_bare(&mut self, id: ReqId, status: StatusCode, origin: Option<&HeaderValue>) {
        let response = headers::bare(status, self.cors(origin));
        self.push(Transmit::Respond { req: id, response });
    }

    // ---- closing ------------------------------------------------------------------------------

    fn begin_close(&mut self, now: Instant, reason: CloseReason) {
        if self.state != State::Open {
            return;
        }
        self.close_detail = match reason {
            CloseReason::ServerShuttingDown => SHUTTING_DOWN,
            _ => CLOSED_BY_APPLICATION,
        };
        // A probed upgrade stays: the client has stopped polling (or is about to) and will
        // send `5`; the upgrade then completes and the close goes over the WebSocket (as the
        // reference does). Without it the session would wait closeTimeout for a GET that
        // never comes.
        if !self.upgrade.is_some_and(|u| u.probed) {
            self.abort_upgrade(true, UPGRADE_SESSION_CLOSED);
        }
        self.timers.clear(Timer::Ping as usize);
        self.timers.clear(Timer::PingTimeout as usize);
        if self.transport == Transport::Websocket {
            self.flush();
            if let Some(ws) = self.ws {
                self.push(Transmit::WsClose { ws });
            }
            return self.finish(reason);
        }
        self.state = State::Closing(reason);
        self.queue.push_back(Packet::Close);
        self.set(Timer::Close, now, self.config.close_timeout);
        self.flush();
    }

    /// Closes at once for `reason`: unsent data is dropped, a parked GET gets the close packet,
    /// the WebSocket is closed (unless the peer already closed it).
    fn close_now(&mut self, reason: CloseReason, detail: &'static str, ws_gone: bool) {
        if self.is_closed() {
            return;
        }
        self.close_detail = detail;
        self.abort_upgrade(true, UPGRADE_SESSION_CLOSED);
        self.queue.clear();
        self.uncompressed.clear();
        self.queued = Carried::default();
        if let Some(get) = self.get.take() {
            self.respond_packets(get, &[Packet::Close], Carried::default());
        }
        if let (Some(ws), false) = (self.ws, ws_gone) {
            self.push(Transmit::WsClose { ws });
        }
        self.finish(reason);
    }

    fn finish(&mut self, reason: CloseReason) {
        // An upgrade still pending (a closing session's probe) ends with the session.
        self.abort_upgrade(true, UPGRADE_SESSION_CLOSED);
        if let Some(get) = self.get.take() {
            self.respond_packets(get, &[Packet::Close], Carried::default());
        }
        if let Some(post) = self.post.take() {
            if reason.takes_late_posts(self.transport) {
                // A POST under way when the server closed the session: taken, so the client
                // sees only the close packet (see `closed_by_server_on_polling`).
                let response = self.ok_response(post.origin.as_ref());
                self.push(Transmit::Respond {
                    req: post.id,
                    response,
                });
            } else {
                self.respond_error(post.id, ErrorCode::UnknownSid, post.origin.as_ref());
            }
        }
        self.queue.clear();
        self.uncompressed.clear();
        self.queued = Carried::default();
        self.timers.clear_all();
        self.state = State::Closed(reason);
        // Messages on their way out (a last response, last frames) are reported flushed now,
        // so `Closed` stays the last event.
        if let Some(last) = take_last_flushed(&mut self.transmits) {
            self.events.push_back(Event::Flushed { last });
        }
        self.events.push_back(Event::Closed(reason));
    }

    fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.timers.set(timer as usize, now, after);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let id = ReqId(u.int_in_range(0..=7)?);
        Ok(match u.int_in_range(0..=5)? {
            0 => Input::Request(id, u.arbitrary()?),
            1 => Input::PostBody(id, Bytes::from(Vec::<u8>::arbitrary(u)?)),
            2 => Input::PostTooLarge(id),
            3 => Input::RequestAborted(id),
            4 => {
                let frame = if u.arbitrary()? {
                    Frame::Binary(Bytes::from(Vec::<u8>::arbitrary(u)?))
                } else {
                    Frame::Text(String::arbitrary(u)?.into())
                };
                Input::WsFrame(id, frame)
            }
            _ => Input::WsClosed(id),
        })
    }
}
