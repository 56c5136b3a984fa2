//! The driver loop: one task owns one session machine, feeds it, performs what it asks, and
//! arms one timer. No protocol decision is made here.
//!
//! The task reads and writes the session's WebSockets itself (no reader task, no channel per
//! frame). Before it hands the machine a new HTTP request of the session, it reads what is
//! already waiting on those WebSockets, so the machine sees the session's inputs in the order
//! they reached the server's sockets (a `5` written before a GET is handled before it).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::protocol::Role;
use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use engineio_session::{Event, Input, ReqId, SessionRequest, Transmit};
use futures_util::stream::StreamExt;
use futures_util::{FutureExt, SinkExt};
use http::Response;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::core::{Core, SHUTDOWN};
use super::socket::{transport_code, SocketEvent};
use super::Shared;
use crate::clock::Alarm;
use crate::io::HyperIo;
use crate::step::{next_step, Step};
use crate::ws::{self, Incoming, Upgrade};
use crate::Runtime;

pub(crate) type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, crate::BoxError>;
type WsStream = WebSocketStream<HyperIo<hyper::upgrade::Upgraded>>;
type WsRead = Option<Result<WsMessage, async_tungstenite::tungstenite::Error>>;

/// What woke the task besides its channels and timer.
pub(crate) enum Wake {
    /// A WebSocket delivered something.
    Read(ReqId, WsRead),
    /// The application handed the machine a message.
    Machine,
}

/// Most messages read from one WebSocket before a request of the session is handled: enough
/// for anything a client wrote before that request, bounded against a peer that never stops.
const DRAIN_BEFORE_REQUEST: usize = 256;

/// What reaches a session task. Kept small (the request is boxed): the channels allocate
/// their slots in blocks of 32 up front, for every session.
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

/// A WebSocket of the session: frames wait here until the upgrade completes.
#[derive(Default)]
struct WsState {
    stream: Option<Box<WsStream>>,
    queue: Vec<WsMessage>,
    close: bool,
    dirty: bool,
}

pub(crate) struct Task<R: Runtime> {
    pub(crate) core: Arc<Core>,
    /// Inputs from the network: requests, bodies, frames.
    pub(crate) rx: mpsc::Receiver<Cmd>,
    pub(crate) tx: mpsc::Sender<Cmd>,
    pub(crate) shared: Arc<Shared<R>>,
    pub(crate) pending: HashMap<ReqId, Pending>,
    pub(crate) transport: Arc<AtomicU8>,
    /// A POST body that came while the application lagged (at most one: a session reads one
    /// POST at a time), fed once it caught up; its `ok` waits until then. (While it lags, the
    /// WebSockets are not read either.)
    pub(crate) deferred: Option<Cmd>,
    /// The machine's deadline.
    pub(crate) alarm: Alarm<R>,
}

impl<R: Runtime> Task<R> {
    pub(crate) async fn run(mut self) {
        let (sid, opened_on) = {
            let s = self.core.lock();
            (s.sid(), s.transport())
        };
        self.shared.metrics.opened(opened_on);
        let mut sockets: HashMap<ReqId, WsState> = HashMap::new();
        let mut app_gone = false;
        loop {
            self.perform(&mut sockets).await;
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
                    self.feed(now, cmd, &mut sockets);
                    continue;
                }
            }
            if self.deferred.is_none() && self.core.lock().is_closed() {
                break;
            }
            let step = self.next_step(&mut sockets).await;
            let now = self.shared.clock.now();
            match step {
                // The application has its events another way.
                Step::Permit(_) => {}
                // Every sender is gone (the socket with them): nobody listens.
                Step::Ctl(None) => {
                    app_gone = true;
                    self.core.lock().close(now);
                }
                Step::Ctl(Some(cmd)) | Step::Net(Some(cmd)) => self.feed(now, cmd, &mut sockets),
                Step::Socket(Wake::Read(id, read)) => self.ws_read(now, id, read, &mut sockets),
                // A send reached the machine: `perform` writes it.
                Step::Socket(Wake::Machine) => {}
                Step::Net(None) => break,
                Step::Timeout => self.core.lock().handle_timeout(now),
            }
        }
        for (_, mut s) in sockets {
            if let Some(sink) = s.stream.as_mut() {
                let _ = SinkExt::close(sink.as_mut()).await;
            }
        }
        let (reason, transport) = {
            let s = self.core.lock();
            (s.close_reason(), s.transport())
        };
        let reason = reason.unwrap_or(engineio_session::CloseReason::ServerShuttingDown);
        self.shared.metrics.closed(transport, reason);
        // Senders still waiting for room find the session closed; `recv` ends after the
        // queued events.
        self.core.room.notify_waiters();
        self.core.end();
        self.shared.remove(sid);
        tracing::debug!(%sid, reason = reason.as_str(), "session closed");
    }

    async fn next_step(
        &mut self,
        sockets: &mut HashMap<ReqId, WsState>,
    ) -> Step<SocketEvent, Cmd, Wake> {
        let deadline = self.core.lock().poll_timeout();
        let (alarm, clock) = (&mut self.alarm, &self.shared.clock);
        let sleep = std::future::poll_fn(|cx| alarm.poll(clock, deadline, cx));
        let lagging = self.core.lagging();
        let woken = self.core.wake.notified();
        let mut woken = std::pin::pin!(woken);
        let wake = |cx: &mut Context<'_>| woken.as_mut().poll(cx).map(|()| Wake::Machine);
        // While the application lags, the WebSockets are not read (its `recv` wakes the task
        // when it catches up).
        let read = |cx: &mut Context<'_>| {
            if lagging {
                Poll::Pending
            } else {
                poll_sockets(sockets, cx)
            }
        };
        // Requests are read even while the application lags: a GET is what lets its sends
        // go out (it may be waiting for room), and a POST's body waits in `deferred`.
        next_step::<SocketEvent, _, _>(None, false, None, &mut self.rx, wake, read, sleep).await
    }

    /// Feeds what a WebSocket delivered.
    fn ws_read(
        &mut self,
        now: engineio_session::Instant,
        id: ReqId,
        read: WsRead,
        sockets: &mut HashMap<ReqId, WsState>,
    ) {
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
                sockets.remove(&id);
                self.core.lock().handle_input(now, Input::WsClosed(id));
            }
        }
    }

    /// Feeds what the session's WebSockets hold already, without waiting.
    fn drain_sockets(
        &mut self,
        now: engineio_session::Instant,
        sockets: &mut HashMap<ReqId, WsState>,
    ) {
        let ids: Vec<ReqId> = sockets.keys().copied().collect();
        for id in ids {
            for _ in 0..DRAIN_BEFORE_REQUEST {
                let Some(s) = sockets.get_mut(&id) else { break };
                let Some(stream) = s.stream.as_mut().filter(|_| !s.close) else {
                    break;
                };
                // A no-op waker: the loop polls again with its own before it waits.
                let Some(read) = stream.next().now_or_never() else {
                    break;
                };
                self.ws_read(now, id, read, sockets);
            }
        }
    }

    fn feed(
        &mut self,
        now: engineio_session::Instant,
        cmd: Cmd,
        sockets: &mut HashMap<ReqId, WsState>,
    ) {
        tracing::trace!(?cmd, "input");
        let input = match cmd {
            Cmd::Request(r) => {
                let RequestCmd {
                    id,
                    request,
                    pending,
                } = *r;
                self.drain_sockets(now, sockets);
                self.pending.insert(id, pending);
                Input::Request(id, request)
            }
            Cmd::PostBody(body) if self.core.lagging() => {
                if let Some(older) = self.deferred.replace(Cmd::PostBody(body)) {
                    // Not reachable with one POST read at a time; keep the order anyway.
                    self.feed(now, older, sockets);
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
            Cmd::WsReady(id, sink) => {
                let s = sockets.entry(id).or_default();
                s.stream = Some(sink);
                s.dirty = true;
                return;
            }
            Cmd::WsClosed(id) => {
                tracing::trace!(?id, "websocket closed");
                sockets.remove(&id);
                Input::WsClosed(id)
            }
        };
        self.core.lock().handle_input(now, input);
    }

    /// Drains the machine: performs every transmit, delivers every event.
    async fn perform(&mut self, sockets: &mut HashMap<ReqId, WsState>) {
        loop {
            // One lock per item: the guard must not live across an `.await`.
            loop {
                let t = self.core.lock().poll_transmit();
                let Some(t) = t else { break };
                self.transmit(t, sockets).await;
            }
            let mut progressed = false;
            loop {
                let e = self.core.lock().poll_event();
                let Some(e) = e else { break };
                progressed = true;
                self.event(e);
            }
            // Coalesced writes: one flush per socket per round.
            let mut broken = Vec::new();
            for (id, s) in sockets.iter_mut() {
                if let Some(sink) = s.stream.as_mut() {
                    for m in s.queue.drain(..) {
                        if sink.feed(m).await.is_err() {
                            broken.push(*id);
                            break;
                        }
                        s.dirty = true;
                    }
                    if s.dirty {
                        s.dirty = false;
                        if sink.flush().await.is_err() {
                            broken.push(*id);
                        }
                    }
                    if s.close {
                        let _ = SinkExt::close(sink.as_mut()).await;
                    }
                }
            }
            sockets.retain(|_, s| !(s.close && s.stream.is_some()));
            for id in broken {
                tracing::trace!(?id, "websocket write failed");
                sockets.remove(&id);
                progressed = true;
                let now = self.shared.clock.now();
                self.core.lock().handle_input(now, Input::WsClosed(id));
            }
            if !progressed {
                break;
            }
        }
    }

    async fn transmit(&mut self, t: Transmit, sockets: &mut HashMap<ReqId, WsState>) {
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
                    rt.spawn(read_body(body, limit, req, self.tx.clone()));
                }
            }
            Transmit::AcceptWebSocket { req, headers } => {
                if let Some(mut p) = self.pending.remove(&req) {
                    if let Some(up) = p.upgrade.take() {
                        let _ = p.reply.send(up.accept_response(headers));
                        sockets.insert(req, WsState::default());
                        let config = ws::config(self.shared.max_payload);
                        let ws = open_websocket(up.on_upgrade, req, self.tx.clone(), config);
                        self.shared.clock.runtime().spawn(ws);
                    }
                }
            }
            Transmit::WsFrame { ws, frame } => {
                self.shared.metrics.bytes_out(frame.len());
                if let Some(s) = sockets.get_mut(&ws) {
                    let m = ws::to_message(frame);
                    match s.stream.as_mut() {
                        Some(sink) if s.queue.is_empty() => {
                            if sink.feed(m).await.is_ok() {
                                s.dirty = true;
                            }
                        }
                        _ => s.queue.push(m),
                    }
                }
            }
            Transmit::WsClose { ws } => {
                if let Some(s) = sockets.get_mut(&ws) {
                    s.close = true;
                }
            }
        }
    }

    fn event(&mut self, e: Event) {
        let to_app = match e {
            Event::Message(m) => {
                self.shared.metrics.message_in();
                Some(SocketEvent::Message(m))
            }
            Event::Upgraded => {
                self.shared.metrics.upgraded();
                let transport = self.core.lock().transport();
                self.transport
                    .store(transport_code(transport), Ordering::Relaxed);
                Some(SocketEvent::Upgraded)
            }
            Event::Closed(reason) => {
                self.core.room.notify_waiters();
                Some(SocketEvent::Closed(reason))
            }
            Event::Flushed { .. } => {
                self.core.room.notify_waiters();
                None
            }
            _ => None,
        };
        if let Some(ev) = to_app {
            self.core.push_event(ev);
        }
    }
}

async fn read_body(mut body: BoxBody, limit: usize, id: ReqId, tx: mpsc::Sender<Cmd>) {
    // A body in one chunk (the common case) is kept as it is, without a copy.
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    let cmd = loop {
        match body.frame().await {
            None => {
                let body = match chunks.len() {
                    0 => Bytes::new(),
                    1 => chunks.pop().unwrap_or_default(),
                    _ => Bytes::from(chunks.concat()),
                };
                break Cmd::PostBody(Box::new((id, body)));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len();
                    if len > limit {
                        break Cmd::PostTooLarge(id);
                    }
                    chunks.push(data);
                }
            }
            Some(Err(_)) => break Cmd::Aborted(id),
        }
    };
    let _ = tx.send(cmd).await;
}

/// Waits for the `101` to go out, then hands the WebSocket to the session task.
async fn open_websocket(
    on_upgrade: hyper::upgrade::OnUpgrade,
    id: ReqId,
    tx: mpsc::Sender<Cmd>,
    config: async_tungstenite::tungstenite::protocol::WebSocketConfig,
) {
    let cmd = match on_upgrade.await {
        Ok(upgraded) => {
            let io = HyperIo(upgraded);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            Cmd::WsReady(id, Box::new(ws))
        }
        Err(_) => Cmd::WsClosed(id),
    };
    let _ = tx.send(cmd).await;
}

/// The first WebSocket of the session with something to read.
fn poll_sockets(sockets: &mut HashMap<ReqId, WsState>, cx: &mut Context<'_>) -> Poll<Wake> {
    for (id, s) in sockets.iter_mut() {
        if s.close {
            continue;
        }
        if let Some(stream) = s.stream.as_mut() {
            if let Poll::Ready(read) = stream.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Read(*id, read));
            }
        }
    }
    Poll::Pending
}

/// Reports a request whose handler went away before its answer (the client disconnected).
pub(crate) struct AbortGuard<R: Runtime> {
    pub(crate) tx: mpsc::Sender<Cmd>,
    pub(crate) rt: R,
    pub(crate) id: ReqId,
    pub(crate) armed: bool,
}

impl<R: Runtime> Drop for AbortGuard<R> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.tx.try_send(Cmd::Aborted(self.id)) {
            let tx = self.tx.clone();
            self.rt.spawn(async move {
                let _ = tx.send(cmd).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_stay_small() {
        // Every session's two command channels allocate 32 slots up front.
        let size = std::mem::size_of::<super::Cmd>();
        assert!(size <= 24, "Cmd is {size} bytes");
    }
}
