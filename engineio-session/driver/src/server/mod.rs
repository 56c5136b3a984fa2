//! The server: a hyper service for the Engine.IO path, one task per session.

mod builder;
mod hooks;
mod maps;
mod serve;
mod service;
mod socket;
mod task;

pub use builder::Builder;
pub use engineio_session::ReadyState;
pub use hooks::{ConnectionError, ResponseInfo};
pub use serve::{serve, serve_with};

pub(crate) use maps::{FixedMap, SessionMap, SidHasher};
pub use service::{EngineIoLayer, EngineIoService, NotFound};
pub use socket::{RemoteAddr, RequestInfo, Socket, SocketError, SocketEvent, SocketSender};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use engineio_session::proto::Transport;
use engineio_session::{
    Refusal, ReqId, RequestKind, Route, Server, ServerConfig, ServerEvent, SessionRequest, Sid,
    Verdict,
};
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::clock::Clock;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::runtime::{timeout_at, Runtime};
use crate::ws::Upgrade;
use task::{AbortGuard, Cmd, Pending, SessionCore, Task};

type AllowRequest = Arc<
    dyn Fn(RequestInfo) -> Pin<Box<dyn Future<Output = Result<(), Option<String>>> + Send>>
        + Send
        + Sync,
>;

/// The session map is not shrunk below this many slots.
const MIN_SESSION_SLOTS: usize = 128;

/// What every session task and request handler share.
pub(crate) struct Shared<R> {
    server: Mutex<Server>,
    sessions: Mutex<SessionMap>,
    pub(crate) clock: Clock<R>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) max_payload: usize,
    /// `per_message_deflate`: negotiated on each WebSocket.
    pub(crate) deflate: Option<engineio_session::DeflateConfig>,
    pub(crate) header_read_timeout: Option<Duration>,
    /// Deliver [`SocketEvent::Flushed`].
    pub(crate) flush_events: bool,
    hooks: hooks::Hooks,
    connections: mpsc::Sender<Socket>,
    allow_request: Option<AllowRequest>,
    next_req: AtomicU64,
    /// Set by `shutdown`: stop accepting connections and sessions.
    stopping: watch::Sender<bool>,
    /// Set once sessions have ended (or the grace period is over): close HTTP connections.
    /// Later than `stopping`, so polling clients can still fetch their close packet.
    drained: watch::Sender<bool>,
    emptied: Notify,
    /// The cluster this node belongs to, if any: requests of other nodes' sessions are
    /// relayed to them.
    #[cfg(feature = "cluster")]
    pub(crate) cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl<R: Runtime> Shared<R> {
    fn server(&self) -> ServerGuard<'_> {
        self.server_into(None)
    }

    /// The server machine; its events go to `sink` too (for the request's hooks).
    fn server_into<'a>(&'a self, sink: Option<&'a mut Vec<ServerEvent>>) -> ServerGuard<'a> {
        ServerGuard {
            server: crate::lock(&self.server),
            sink,
        }
    }

    fn sessions(&self) -> MutexGuard<'_, SessionMap> {
        crate::lock(&self.sessions)
    }

    pub(crate) fn remove(&self, sid: Sid) {
        let mut s = self.sessions();
        s.remove(&sid);
        // The map gives its memory back after a burst (about 200 bytes a slot: 3.4 MB kept
        // for good after 10,000 sessions otherwise). Halving once a quarter is used keeps
        // the cost of shrinking to a constant per removal.
        if s.capacity() > MIN_SESSION_SLOTS && s.len() < s.capacity() / 4 {
            let keep = (s.len() * 2).max(MIN_SESSION_SLOTS);
            s.shrink_to(keep);
        }
        if s.is_empty() {
            self.emptied.notify_waiters();
        }
    }

    fn next_id(&self) -> ReqId {
        ReqId(self.next_req.fetch_add(1, Ordering::Relaxed))
    }
}

/// The locked server machine. Its server-wide events are taken when the lock is released
/// (logged at debug level, and handed to the request's hooks through `sink`), so the queue
/// never outlives one call: every handshake and every refused request queues one.
struct ServerGuard<'a> {
    server: MutexGuard<'a, Server>,
    sink: Option<&'a mut Vec<ServerEvent>>,
}

/// Most server events one request's hooks see (a request causes one or two).
const SINK: usize = 8;

impl std::ops::Deref for ServerGuard<'_> {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for ServerGuard<'_> {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

impl Drop for ServerGuard<'_> {
    fn drop(&mut self) {
        while let Some(event) = self.server.poll_event() {
            tracing::debug!(?event, "server event");
            if let Some(sink) = self.sink.as_deref_mut().filter(|s| s.len() < SINK) {
                sink.push(event);
            }
        }
    }
}

/// An Engine.IO server on runtime `R`. Cheap to clone; mount it with [`serve`], as a
/// hyper/tower service ([`service`](Self::service)) or as a tower layer in axum
/// ([`layer`](Self::layer)). The runtime crates name it for their runtime
/// (`engineio_tokio::EngineIo`, `engineio_smol::EngineIo`), with examples there.
pub struct EngineIo<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for EngineIo<R> {
    fn clone(&self) -> Self {
        EngineIo {
            shared: self.shared.clone(),
        }
    }
}

impl<R> std::fmt::Debug for EngineIo<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIo").finish_non_exhaustive()
    }
}

/// New sessions, for the application to accept.
#[derive(Debug)]
pub struct Connections(mpsc::Receiver<Socket>);

impl Connections {
    /// The next new session; `None` once the server is gone.
    pub async fn accept(&mut self) -> Option<Socket> {
        self.0.recv().await
    }
}

/// The outcome of [`EngineIo::handle`].
#[derive(Debug)]
pub enum Handled<B> {
    /// The Engine.IO answer.
    Response(Response<Bytes>),
    /// Not an Engine.IO request: here it is back, for the rest of the application.
    Pass(Request<B>),
}

/// How long [`EngineIo::shutdown`] keeps answering once every session has ended.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(250);

impl<R: Runtime> EngineIo<R> {
    /// A server with `config` and default options.
    pub fn new(config: ServerConfig) -> (EngineIo<R>, Connections)
    where
        R: Default,
    {
        EngineIo::builder(config).build()
    }

    /// A builder for more options.
    pub fn builder(config: ServerConfig) -> Builder<R>
    where
        R: Default,
    {
        Builder::new(R::default(), config)
    }

    /// The open session `sid`'s sending handle (the reference's `clients[id]`).
    pub fn client(&self, sid: Sid) -> Option<SocketSender> {
        self.shared.sessions().get(&sid).cloned()
    }

    /// The open sessions' sending handles, as they are now (the reference's `clients`).
    pub fn clients(&self) -> Vec<SocketSender> {
        self.shared.sessions().values().cloned().collect()
    }

    /// How many sessions are open (the reference's `clientsCount`).
    pub fn clients_count(&self) -> usize {
        self.shared.sessions().len()
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// A hyper/tower service answering the Engine.IO path and 404 elsewhere.
    pub fn service(&self) -> EngineIoService<NotFound, R> {
        EngineIoService::new(self.clone(), NotFound)
    }

    /// A tower layer that answers the Engine.IO path and passes other requests on (axum).
    pub fn layer(&self) -> EngineIoLayer<R> {
        EngineIoLayer::new(self.clone())
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_stopping(&self) -> bool {
        *self.shared.stopping.borrow()
    }

    pub(crate) fn drained(&self) -> watch::Receiver<bool> {
        self.shared.drained.subscribe()
    }

    /// Sends `payload` to every node of the cluster, this one included: each gets it from
    /// [`cluster_messages`](Self::cluster_messages), each node's in the order it sent them
    /// (feature `cluster`). For an application's own messages between its nodes: a chat line
    /// for the sessions of every node, say. False when this server is not a cluster node, or
    /// when its outbox is full (Redis away, or far behind).
    #[cfg(feature = "cluster")]
    pub fn cluster_broadcast(&self, payload: impl Into<Bytes>) -> bool {
        self.shared
            .cluster
            .as_ref()
            .is_some_and(|c| c.broadcast(payload.into()))
    }

    /// The messages the cluster's nodes broadcast from now on
    /// ([`cluster_broadcast`](Self::cluster_broadcast)); `None` when this server is not a
    /// cluster node (feature `cluster`).
    #[cfg(feature = "cluster")]
    pub fn cluster_messages(&self) -> Option<crate::cluster::ClusterMessages> {
        self.shared.cluster.as_ref().map(|c| c.messages())
    }

    /// The engine of `shared` (for the cluster's relayed requests).
    #[cfg(feature = "cluster")]
    pub(crate) fn from_shared(shared: Arc<Shared<R>>) -> EngineIo<R> {
        EngineIo { shared }
    }

    /// Graceful shutdown: refuse new sessions, close every session with `server shutting
    /// down`, and wait up to `grace` for them to flush and end, then (within `grace`) 250 ms
    /// more for requests already on their way. Returns whether all sessions ended.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shared.stopping.send_replace(true);
        self.shared.server().shutdown();
        let senders: Vec<_> = self.shared.sessions().values().cloned().collect();
        for s in senders {
            s.core.request(crate::core::SHUTDOWN);
        }
        let wait = async {
            loop {
                let notified = self.shared.emptied.notified();
                if self.shared.sessions().is_empty() {
                    return;
                }
                notified.await;
            }
        };
        let rt = self.shared.clock.runtime();
        let deadline = rt.now() + grace;
        let all_ended = timeout_at(rt, deadline, wait).await.is_some();
        if all_ended {
            // Requests already on their way (a POST a client sent while its close packet was
            // coming) still find the server, and the answer for a session it closed, rather
            // than a refused connection.
            rt.sleep_until(deadline.min(rt.now() + SHUTDOWN_LINGER))
                .await;
        }
        self.shared.drained.send_replace(true);
        all_ended
    }

    /// Answers one request if it is for Engine.IO.
    pub async fn handle<B>(&self, req: Request<B>) -> Handled<B>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<crate::BoxError>,
    {
        let hooks = &self.shared.hooks;
        if !hooks.any() {
            return self.answer(req, None).await.0;
        }
        let info = RequestInfo::detached(&req);
        let mut events = Vec::new();
        let (mut handled, initial) = self.answer(req, Some(&mut events)).await;
        hooks.refused(&info, events);
        if let (Handled::Response(r), Some(initial)) = (&mut handled, initial) {
            hooks.answered(&info, initial, r);
        }
        handled
    }

    /// [`handle`](Self::handle) without the hooks: the answer, and whether it is a session's
    /// (`Some(true)` for the handshake's).
    async fn answer<B>(
        &self,
        mut req: Request<B>,
        mut events: Option<&mut Vec<ServerEvent>>,
    ) -> (Handled<B>, Option<bool>)
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<crate::BoxError>,
    {
        let route = {
            let head = engineio_session::RequestHead::from(&req);
            self.shared.server_into(events.as_deref_mut()).route(head)
        };
        let refuse = |events: Option<&mut Vec<ServerEvent>>, sid, request: &SessionRequest| {
            let now = self.shared.clock.now();
            let r = self
                .shared
                .server_into(events)
                .unknown_session(now, sid, request);
            (Handled::Response(r), None)
        };
        match route {
            Route::Pass => (Handled::Pass(req), None),
            Route::Respond(r) => (Handled::Response(r), None),
            Route::Handshake(hs) => {
                let r = self.handshake(req, hs, events).await;
                (Handled::Response(r), Some(true))
            }
            Route::Session { sid, request } => {
                let Some(core) = self.shared.sessions().get(&sid).map(|s| s.core.clone()) else {
                    #[cfg(feature = "cluster")]
                    if let Some(cluster) = &self.shared.cluster {
                        if let Some(owner) = crate::cluster::owner(&sid) {
                            if owner != &*cluster.me {
                                let rt = self.shared.clock.runtime();
                                let max = self.shared.max_payload;
                                return match cluster.relay(rt, req, owner, max).await {
                                    Some(r) => (Handled::Response(r), Some(false)),
                                    None => refuse(events, sid, &request),
                                };
                            }
                        }
                    }
                    return refuse(events, sid, &request);
                };
                let upgrade = match request.kind() {
                    RequestKind::WebSocket => {
                        match Upgrade::take(&mut req, self.shared.deflate.as_ref()) {
                            Ok(u) => Some(u),
                            Err(r) => return (Handled::Response(r), None),
                        }
                    }
                    _ => None,
                };
                let body = match request.kind() {
                    RequestKind::Post { .. } => Some(box_body(req.into_body())),
                    _ => None,
                };
                let id = self.shared.next_id();
                let (reply, answer) = oneshot::channel();
                let fallback = request.clone();
                let cmd = Cmd::Request(Box::new(task::RequestCmd {
                    id,
                    request,
                    pending: Pending {
                        reply,
                        body,
                        upgrade,
                    },
                }));
                if core.deliver(cmd).await.is_err() {
                    return refuse(events, sid, &fallback);
                }
                let mut guard = AbortGuard {
                    core,
                    rt: self.shared.clock.runtime().clone(),
                    id,
                    armed: true,
                };
                let r = answer.await;
                guard.armed = false;
                match r {
                    Ok(r) => {
                        // Refused by the session itself: a connection error too.
                        if let (Some(events), Some(refusal)) =
                            (events, r.extensions().get::<Refusal>())
                        {
                            events.push(ServerEvent::ConnectionError {
                                code: refusal.code,
                                context: refusal.context,
                            });
                        }
                        (Handled::Response(r), Some(false))
                    }
                    Err(_) => refuse(events, sid, &fallback),
                }
            }
        }
    }

    async fn handshake<B>(
        &self,
        mut req: Request<B>,
        hs: engineio_session::HandshakeRequest,
        events: Option<&mut Vec<ServerEvent>>,
    ) -> Response<Bytes> {
        let info = RequestInfo::detached(&req);
        let verdict = match (&self.shared.allow_request, hs.needs_verdict()) {
            (Some(f), true) => match f(info.clone()).await {
                Ok(()) => Verdict::Allow,
                Err(message) => Verdict::Deny(message),
            },
            _ => Verdict::Allow,
        };
        let upgrade = if hs.transport() == Transport::Websocket {
            match Upgrade::take(&mut req, self.shared.deflate.as_ref()) {
                Ok(u) => Some(u),
                Err(r) => return r,
            }
        } else {
            None
        };
        let id = self.shared.next_id();
        let now = self.shared.clock.now();
        let sid = self.shared.hooks.generate_id.as_ref().and_then(|f| {
            let chosen = f(&info);
            let sid = Sid::new(&chosen).ok();
            let sid = sid.filter(|s| !self.shared.sessions().contains_key(s));
            if sid.is_none() {
                tracing::warn!(id = %chosen, "generate_id gave an invalid or used id");
            }
            sid
        });
        let accepted = self
            .shared
            .server_into(events)
            .accept_as(now, hs, id, verdict, sid);
        let (sid, session) = match accepted {
            Ok(s) => s,
            Err(r) => return r,
        };
        let version = session.version();
        let transport = Arc::new(AtomicU8::new(socket::transport_code(session.transport())));
        let core = Arc::new(SessionCore::new(session));
        let metrics = self.shared.metrics.clone();
        let socket = Socket {
            sender: SocketSender {
                sid,
                version,
                core: core.clone(),
                transport: transport.clone(),
                metrics,
            },
            request: Arc::new(info),
        };
        let (reply, answer) = oneshot::channel();
        let mut pending = FixedMap::default();
        pending.insert(
            id,
            Pending {
                reply,
                body: None,
                upgrade,
            },
        );
        self.shared.sessions().insert(sid, socket.sender.clone());
        let task = Task {
            core,
            shared: self.shared.clone(),
            pending,
            transport,
            deferred: None,
            alarm: Default::default(),
            sockets: Default::default(),
        };
        let span = tracing::info_span!("engineio_session", %sid);
        self.shared
            .clock
            .runtime()
            .spawn(tracing::Instrument::instrument(task.run(), span));
        // Nobody accepts sessions any more: the socket is dropped, which closes the session.
        let _ = self.shared.connections.send(socket).await;
        answer.await.unwrap_or_else(|_| {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

fn box_body<B>(body: B) -> task::BoxBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A runtime for what needs no task, timer or socket.
    #[derive(Clone, Default)]
    struct Inert;

    struct Never;

    impl Future for Never {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            std::task::Poll::Pending
        }
    }

    impl Runtime for Inert {
        type Sleep = Never;
        type TcpStream = futures_util::io::Cursor<Vec<u8>>;
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn sleep_until(&self, _: Instant) -> Never {
            Never
        }
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _: F) {}
        async fn connect(&self, _: &str, _: u16) -> std::io::Result<Self::TcpStream> {
            Err(std::io::ErrorKind::Unsupported.into())
        }
    }

    /// Session ids may come from a peer (through `generate_id`): outside a simulation the
    /// session map's hash key is random, so colliding ids cannot be chosen in advance.
    #[test]
    fn the_session_map_has_a_random_key_outside_a_simulation() {
        let (engine, _connections) = EngineIo::<Inert>::new(ServerConfig::default());
        let sessions = engine.shared.sessions();
        assert!(matches!(sessions.hasher(), SidHasher::Random(_)));
    }

    #[test]
    fn refused_requests_leave_no_server_event_behind() {
        let (engine, _connections) = EngineIo::<Inert>::new(ServerConfig::default());
        for target in [
            "/engine.io/?EIO=4&transport=carrier-pigeon",
            "/engine.io/?EIO=9&transport=polling",
            "/engine.io/?EIO=4&transport=polling&sid=nobody-has-this-sid",
        ] {
            for _ in 0..100 {
                let req = Request::get(target).body(http_body_util::Empty::<Bytes>::new());
                let handled = futures_executor::block_on(engine.handle(req.unwrap()));
                assert!(matches!(handled, Handled::Response(r) if r.status() == 400));
            }
        }
        let mut server = engine.shared.server.lock().unwrap();
        assert_eq!(server.poll_event(), None, "server events accumulate");
    }
}
