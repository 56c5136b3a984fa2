//! The driver loop: one task owns one session machine, feeds it, performs what it asks, and
//! arms one timer. No protocol decision is made here.
//!
//! The task reads and writes the session's WebSockets itself (no reader task, no channel per
//! frame). Before it hands the machine a new HTTP request of the session, it reads what is
//! already waiting on those WebSockets, so the machine sees the session's inputs in the order
//! they reached the server's sockets (a `5` written before a GET is handled before it).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use engineio_session::proto::Transport;
use engineio_session::{Event, Input, ReqId, SendId, Session, SessionRequest, Transmit};
use http::Response;
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use super::socket::{SocketEvent, UPGRADED};
use super::Shared;
use crate::clock::Alarm;
use crate::core::{Core, SHUTDOWN};
use crate::deflate::DeflateIo;
use crate::io::HyperIo;
use crate::step::{next_step, unless_stuck, Step, CLOSED_WRITE_GRACE};
use crate::websockets::{self, WebSockets};
use crate::ws::{self, Incoming, Upgrade};
use crate::Runtime;

pub(crate) type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, crate::BoxError>;
#[cfg(not(feature = "cluster"))]
type WsIo = HyperIo<hyper::upgrade::Upgraded>;
#[cfg(feature = "cluster")]
type WsIo =
    futures_util::future::Either<HyperIo<hyper::upgrade::Upgraded>, crate::cluster::RelayIo>;
type WsStream = websockets::Stream<WsIo>;

/// A session's machine, shared by its task and the application's handles.
pub(crate) type SessionCore = Core<Session, SocketEvent, Cmd>;

/// Most messages read from one WebSocket before a request of the session is handled: enough
/// for anything a client wrote before that request, bounded against a peer that never stops.
const DRAIN_BEFORE_REQUEST: usize = 256;

/// What reaches a session task through its inbox. Kept small (the request is boxed).
pub(crate) enum Cmd {
    Request(Box<RequestCmd>),
    PostBody(Box<(ReqId, Bytes)>),
    PostTooLarge(ReqId),
    Aborted(ReqId),
    WsReady(ReqId, Box<WsStream>),
    WsClosed(ReqId),
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Request(r) => write!(f, "Request({:?}, {:?})", r.id, r.request.kind()),
            Cmd::PostBody(b) => write!(f, "PostBody({:?}, {} bytes)", b.0, b.1.len()),
            Cmd::PostTooLarge(id) => write!(f, "PostTooLarge({id:?})"),
            Cmd::Aborted(id) => write!(f, "Aborted({id:?})"),
            Cmd::WsReady(id, _) => write!(f, "WsReady({id:?})"),
            Cmd::WsClosed(id) => write!(f, "WsClosed({id:?})"),
        }
    }
}

/// A request for the session, and what its answer needs.
pub(crate) struct RequestCmd {
    pub(crate) id: ReqId,
    pub(crate) request: SessionRequest,
    pub(crate) pending: Pending,
}

/// A request waiting for its answer.
pub(crate) struct Pending {
    pub(crate) reply: oneshot::Sender<Response<Bytes>>,
    pub(crate) body: Option<BoxBody>,
    pub(crate) upgrade: Option<Upgrade>,
}

pub(crate) struct Task<R: Runtime> {
    /// The machine, and the inbox of the network's inputs: requests, bodies, WebSockets opened.
    pub(crate) core: Arc<SessionCore>,
    pub(crate) shared: Arc<Shared<R>>,
    pub(crate) pending: super::FixedMap<ReqId, Pending>,
    pub(crate) transport: Arc<AtomicU8>,
    /// A POST body that came while the application lagged (at most one: a session reads one
    /// POST at a time), fed once it caught up; its `ok` waits until then. (While it lags, the
    /// WebSockets are not read either.)
    pub(crate) deferred: Option<Cmd>,
    /// The machine's deadline.
    pub(crate) alarm: Alarm<R>,
    /// The session's WebSockets, read and written here.
    pub(crate) sockets: WebSockets<WsIo>,
}

impl<R: Runtime> Task<R> {
    pub(crate) async fn run(mut self) {
        let (sid, opened_on) = {
            let s = self.core.lock();
            (s.sid(), s.transport())
        };
        self.shared.metrics.opened(opened_on);
        let mut app_gone = false;
        loop {
            self.perform().await;
            let requests = self.core.take_requests();
            if requests != 0 {
                let now = self.shared.clock.now();
                let mut session = self.core.lock();
                if requests & SHUTDOWN != 0 {
                    session.shutdown(now);
                } else {
                    session.close(now);
                }
                continue;
            }
            if !app_gone && self.core.app_dropped() {
                // The application dropped its socket: nobody listens.
                app_gone = true;
                let now = self.shared.clock.now();
                self.core.lock().close(now);
                continue;
            }
            if self.deferred.is_some() && !self.core.lagging() {
                if let Some(cmd) = self.deferred.take() {
                    let now = self.shared.clock.now();
                    self.feed(now, cmd);
                    continue;
                }
            }
            if self.deferred.is_none() && self.core.lock().is_closed() {
                break;
            }
            // Requests are read even while the application lags: a GET is what lets its sends
            // go out (it may be waiting for room), and a POST's body waits in `deferred`.
            if let Some(cmd) = self.core.next_input() {
                let now = self.shared.clock.now();
                self.feed(now, cmd);
                continue;
            }
            let step = self.next_step().await;
            let now = self.shared.clock.now();
            match step {
                Step::Socket(id, read) => {
                    self.ws_read(now, id, read);
                    // What else that socket holds, before writing the answers (one write and
                    // one clock read for a burst of messages, not one per message).
                    for _ in 0..websockets::BURST {
                        if self.core.lagging() {
                            break;
                        }
                        let Some(read) = self.sockets.try_read(id) else {
                            break;
                        };
                        self.ws_read(now, id, read);
                    }
                }
                // A send reached the machine (`perform` writes it), an input came, or a
                // request: the loop takes it from here.
                Step::Woken => {}
                Step::Timeout => self.core.lock().handle_timeout(now),
            }
        }
        let (reason, transport) = {
            let s = self.core.lock();
            (s.close_reason(), s.transport())
        };
        let reason = reason.unwrap_or(engineio_session::CloseReason::ServerShuttingDown);
        // Before the inbox closes: a POST that finds the session gone from here on is
        // answered as one that comes late (`ok` after the server's own close).
        let now = self.shared.clock.now();
        self.shared
            .server()
            .session_ended(now, sid, reason, transport);
        self.core.close_inbox();
        let close = std::mem::take(&mut self.sockets).close_all();
        let rt = self.shared.clock.runtime();
        // Boxed: the timer would grow every task's future for its last moment.
        Box::pin(crate::runtime::timeout_at(
            rt,
            rt.now() + CLOSED_WRITE_GRACE,
            close,
        ))
        .await;
        self.shared.metrics.closed(transport, reason);
        // Senders still waiting for room find the session closed; `recv` ends after the
        // queued events.
        self.core.report_closed();
        self.core.end();
        self.shared.remove(sid);
        tracing::debug!(%sid, reason = reason.as_str(), "session closed");
    }

    async fn next_step(&mut self) -> Step {
        let deadline = self.core.lock().poll_timeout();
        let (alarm, clock) = (&mut self.alarm, &self.shared.clock);
        let sleep = std::future::poll_fn(|cx| alarm.poll(clock, deadline, cx));
        // While the application lags, the WebSockets are not read (its `recv` wakes the task
        // when it catches up).
        let sockets = (!self.core.lagging()).then_some(&mut self.sockets);
        next_step(&self.core.wake, sockets, sleep).await
    }

    /// Drops the session's WebSockets (their connections close) after a write to them was
    /// given up; the machine is closed already. Returns them as broken.
    fn drop_sockets(&mut self) -> Vec<ReqId> {
        tracing::debug!("a peer that does not read: its websockets are dropped");
        self.sockets.drop_all()
    }

    /// Feeds what a WebSocket delivered.
    fn ws_read(&mut self, now: engineio_session::Instant, id: ReqId, read: websockets::Read) {
        match read.map(|r| r.map(ws::from_message)) {
            Some(Ok(Incoming::Frame(frame))) => {
                self.shared.metrics.bytes_in(frame.len());
                self.core
                    .lock()
                    .handle_input(now, Input::WsFrame(id, frame));
            }
            Some(Ok(Incoming::Ignore)) => {}
            Some(Ok(Incoming::Closed)) | Some(Err(_)) | None => {
                tracing::trace!(?id, "websocket closed");
                self.sockets.remove(id);
                self.core.lock().handle_input(now, Input::WsClosed(id));
            }
        }
    }

    /// Feeds what the session's WebSockets hold already, without waiting.
    fn drain_sockets(&mut self, now: engineio_session::Instant) {
        let ids: Vec<ReqId> = self.sockets.ids().collect();
        for id in ids {
            for _ in 0..DRAIN_BEFORE_REQUEST {
                let Some(read) = self.sockets.try_read(id) else {
                    break;
                };
                self.ws_read(now, id, read);
            }
        }
    }

    fn feed(&mut self, now: engineio_session::Instant, cmd: Cmd) {
        tracing::trace!(?cmd, "input");
        let input = match cmd {
            Cmd::Request(r) => {
                let RequestCmd {
                    id,
                    request,
                    pending,
                } = *r;
                self.drain_sockets(now);
                self.pending.insert(id, pending);
                Input::Request(id, request)
            }
            Cmd::PostBody(body) if self.core.lagging() => {
                if let Some(older) = self.deferred.replace(Cmd::PostBody(body)) {
                    // Not reachable with one POST read at a time; keep the order anyway.
                    self.feed(now, older);
                }
                return;
            }
            Cmd::PostBody(body) => {
                let (id, body) = *body;
                self.shared.metrics.bytes_in(body.len());
                Input::PostBody(id, body)
            }
            Cmd::PostTooLarge(id) => Input::PostTooLarge(id),
            Cmd::Aborted(id) => {
                if self.pending.remove(&id).is_none() {
                    return;
                }
                tracing::trace!(?id, "request aborted");
                Input::RequestAborted(id)
            }
            Cmd::WsReady(id, stream) => {
                self.sockets.ready(id, stream);
                return;
            }
            Cmd::WsClosed(id) => {
                tracing::trace!(?id, "websocket closed");
                self.sockets.remove(id);
                Input::WsClosed(id)
            }
        };
        self.core.lock().handle_input(now, input);
    }

    /// Drains the machine: performs every transmit, delivers every event.
    async fn perform(&mut self) {
        loop {
            // One lock per item: the guard must not live across an `.await`.
            // Not while a WebSocket still opening holds a backlog: the transmits wait in the
            // machine, within its send bound.
            while !self.sockets.backlogged() {
                let t = self.core.lock().poll_transmit();
                let Some(t) = t else { break };
                self.transmit(t).await;
            }
            let mut progressed = false;
            let (mut flushed, mut closed) = (None, None);
            loop {
                let e = self.core.lock().poll_event();
                let Some(e) = e else { break };
                progressed = true;
                self.event(e, &mut flushed, &mut closed);
            }
            // Coalesced writes: one flush per socket per round.
            let flush = self.sockets.flush();
            let flushed_all = unless_stuck!(&mut self.alarm, &self.shared.clock, &self.core, flush);
            let broken = match flushed_all {
                Some(broken) => broken,
                None => self.drop_sockets(),
            };
            if let Some(last) = flushed {
                self.core.report_flushed(flushed);
                if self.shared.flush_events {
                    self.core.push_event(SocketEvent::Flushed(last));
                }
            }
            if let Some(reason) = closed {
                self.core.report_closed();
                self.core.push_event(SocketEvent::Closed(reason));
            }
            for id in broken {
                tracing::trace!(?id, "websocket write failed");
                progressed = true;
                let now = self.shared.clock.now();
                self.core.lock().handle_input(now, Input::WsClosed(id));
            }
            if !progressed {
                break;
            }
        }
    }

    async fn transmit(&mut self, t: Transmit) {
        match t {
            Transmit::Respond { req, response } => {
                self.shared.metrics.bytes_out(response.body().len());
                if let Some(p) = self.pending.remove(&req) {
                    let _ = p.reply.send(response);
                }
            }
            Transmit::ReadBody { req, limit } => {
                let body = self.pending.get_mut(&req).and_then(|p| p.body.take());
                if let Some(body) = body {
                    let rt = self.shared.clock.runtime();
                    rt.spawn(read_body(body, limit, req, self.core.clone()));
                }
            }
            Transmit::AcceptWebSocket { req, headers } => {
                if let Some(mut p) = self.pending.remove(&req) {
                    if let Some(up) = p.upgrade.take() {
                        if up.deflate.is_some() {
                            self.shared.metrics.deflated();
                        }
                        let _ = p.reply.send(up.accept_response(headers));
                        self.sockets.opening(req);
                        let max = self.shared.max_payload;
                        let ws = open_websocket(up, req, self.core.clone(), max);
                        self.shared.clock.runtime().spawn(ws);
                    }
                }
            }
            Transmit::WsFrame {
                ws,
                frame,
                compress,
            } => {
                self.shared.metrics.bytes_out(frame.len());
                let write = self.sockets.write(ws, ws::to_message(frame), compress);
                let written = unless_stuck!(&mut self.alarm, &self.shared.clock, &self.core, write);
                match written {
                    // Found broken at the flush.
                    Some(false) => tracing::trace!(?ws, "websocket write failed"),
                    Some(true) => {}
                    None => {
                        self.drop_sockets();
                    }
                }
            }
            Transmit::WsClose { ws } => self.sockets.close(ws),
        }
    }

    fn event(
        &mut self,
        e: Event,
        flushed: &mut Option<SendId>,
        closed: &mut Option<engineio_session::CloseReason>,
    ) {
        let to_app = match e {
            Event::Message(m) => {
                self.shared.metrics.message_in();
                SocketEvent::Message(m)
            }
            Event::Upgrading => SocketEvent::Upgrading,
            Event::Upgraded => {
                self.shared.metrics.upgraded();
                self.transport.store(UPGRADED, Ordering::Relaxed);
                SocketEvent::Upgraded(Transport::Websocket)
            }
            Event::UpgradeAborted(why) => SocketEvent::UpgradeAborted(why),
            Event::Refused { code, context } => {
                SocketEvent::Error(super::socket::SocketError::Refused { code, context })
            }
            Event::Heartbeat => SocketEvent::Heartbeat,
            Event::PacketIn(p) => SocketEvent::PacketIn(p),
            Event::PacketOut(p) => SocketEvent::PacketOut(p),
            Event::Closed(reason) => {
                // The last event: delivered after the round's flush (`perform`).
                *closed = Some(reason);
                return;
            }
            Event::Flushed { last } => {
                // Reported once written, after the round's flush (`perform`).
                *flushed = Some(last);
                return;
            }
            _ => return,
        };
        self.core.push_event(to_app);
    }
}

async fn read_body(body: BoxBody, limit: usize, id: ReqId, core: Arc<SessionCore>) {
    // A body that is still coming when the session closes (a client that stalls mid-body
    // cannot answer pings, so the heartbeat ends it) is dropped: hyper then closes the
    // connection instead of waiting for the rest.
    let read = std::pin::pin!(read_whole(body, limit, id));
    let closed = std::pin::pin!(core.closed());
    if let futures_util::future::Either::Left((cmd, _)) =
        futures_util::future::select(read, closed).await
    {
        let _ = core.deliver(cmd).await;
    }
}

/// Reads a POST body up to `limit` bytes: the command for the session.
async fn read_whole(mut body: BoxBody, limit: usize, id: ReqId) -> Cmd {
    // A body in one chunk (the common case) is kept as it is, without a copy. Further chunks
    // are copied into one buffer as they come: each chunk hyper hands over holds on to its
    // read buffer, so keeping them as they are would let a client sending a byte at a time
    // hold many times its body's size (the reference bounds the count of chunks instead,
    // `maxBufferedChunks`, and refuses a body in more than 10,000).
    let mut single: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    let mut len = 0usize;
    loop {
        match body.frame().await {
            None => {
                let body = single.unwrap_or_else(|| joined.freeze());
                return Cmd::PostBody(Box::new((id, body)));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len();
                    if len > limit {
                        return Cmd::PostTooLarge(id);
                    }
                    if single.is_none() && joined.is_empty() {
                        single = Some(data);
                    } else {
                        if let Some(first) = single.take() {
                            joined.extend_from_slice(&first);
                        }
                        joined.extend_from_slice(&data);
                    }
                }
            }
            Some(Err(_)) => return Cmd::Aborted(id),
        }
    }
}

/// Waits for the `101` to go out, then hands the WebSocket to the session task.
async fn open_websocket(up: Upgrade, id: ReqId, core: Arc<SessionCore>, max_payload: usize) {
    let io = match up.source {
        #[cfg(not(feature = "cluster"))]
        crate::ws::UpgradeSource::Hyper(on) => on.await.map(HyperIo),
        #[cfg(feature = "cluster")]
        crate::ws::UpgradeSource::Hyper(on) => on
            .await
            .map(|u| futures_util::future::Either::Left(HyperIo(u))),
        #[cfg(feature = "cluster")]
        crate::ws::UpgradeSource::Relay(io) => Ok(futures_util::future::Either::Right(io)),
    };
    let cmd = match io {
        Ok(io) => {
            // The packet type's byte on top of `max_payload`, as tungstenite's limit.
            let limit = max_payload.saturating_add(1);
            let io = match up.deflate {
                Some(d) => DeflateIo::server(io, &d.0, d.1, limit),
                None => DeflateIo::plain(io),
            };
            let config = ws::config(max_payload);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            Cmd::WsReady(id, Box::new(ws))
        }
        Err(_) => Cmd::WsClosed(id),
    };
    let _ = core.deliver(cmd).await;
}

/// Reports a request whose handler went away before its answer (the client disconnected).
pub(crate) struct AbortGuard<R: Runtime> {
    pub(crate) core: Arc<SessionCore>,
    pub(crate) rt: R,
    pub(crate) id: ReqId,
    pub(crate) armed: bool,
}

impl<R: Runtime> Drop for AbortGuard<R> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Err((cmd, true)) = self.core.try_deliver(Cmd::Aborted(self.id)) {
            let core = self.core.clone();
            self.rt.spawn(async move {
                let _ = core.deliver(cmd).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_stay_small() {
        // A session's inbox holds up to 64.
        let size = std::mem::size_of::<super::Cmd>();
        assert!(size <= 24, "Cmd is {size} bytes");
    }
}
