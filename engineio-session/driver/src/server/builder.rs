//! Building an [`EngineIo`]: the options beyond [`ServerConfig`] and the hooks.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engineio_session::{RandomSids, Server, ServerConfig};
use tokio::sync::{mpsc, watch, Notify};

use super::hooks::{self, ConnectionError, ResponseInfo};
use super::{AllowRequest, Connections, EngineIo, RequestInfo, Shared};
use crate::clock::Clock;
use crate::Runtime;

/// Builds an [`EngineIo`] with options beyond [`ServerConfig`].
pub struct Builder<R> {
    rt: R,
    config: ServerConfig,
    allow_request: Option<AllowRequest>,
    backlog: usize,
    header_read_timeout: Option<Duration>,
    flush_events: bool,
    hooks: hooks::Hooks,
    #[cfg(feature = "cluster")]
    cluster: Option<crate::cluster::ClusterConfig>,
}

impl<R: Runtime> Builder<R> {
    pub(super) fn new(rt: R, config: ServerConfig) -> Builder<R> {
        Builder {
            rt,
            config,
            allow_request: None,
            backlog: 128,
            header_read_timeout: Some(Duration::from_secs(30)),
            flush_events: false,
            hooks: Default::default(),
            #[cfg(feature = "cluster")]
            cluster: None,
        }
    }

    /// Called for every request refused with an Engine.IO error code, with the request (the
    /// reference's `connection_error` event). Runs on the request's task: keep it short.
    pub fn on_connection_error(
        mut self,
        f: impl Fn(ConnectionError) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.connection_error = Some(Arc::new(f));
        self
    }

    /// Called before every answer of a session is written (`200`s and the WebSocket's
    /// `101`), with its headers to edit: the reference's `headers` event, and with
    /// [`ResponseInfo::initial`] its `initial_headers` (the handshake's answer).
    pub fn on_headers(
        mut self,
        f: impl Fn(&ResponseInfo<'_>, &mut http::HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.headers = Some(Arc::new(f));
        self
    }

    /// Chooses the id of each new session from its handshake request (the reference's
    /// `generateId`). An id must be 1 to 32 characters of `A-Z a-z 0-9 - _` and not in use;
    /// otherwise the server's own generator chooses (and says so in a warning).
    ///
    /// ```no_run
    /// # fn f(builder: engineio_driver::Builder<impl engineio_driver::Runtime>) {
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// static NEXT: AtomicU64 = AtomicU64::new(1);
    /// let builder = builder.generate_id(|_request| format!("s{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    /// # }
    /// ```
    pub fn generate_id(
        mut self,
        f: impl Fn(&RequestInfo) -> String + Send + Sync + 'static,
    ) -> Self {
        self.hooks.generate_id = Some(Arc::new(f));
        self
    }

    /// Deliver [`SocketEvent::Flushed`](super::SocketEvent::Flushed) (the reference's `flush` and `drain`) each time a
    /// session's messages were written (default off: one event more per write; to wait for
    /// one message, [`SocketSender::flushed`](super::SocketSender::flushed) needs no events).
    pub fn flush_events(mut self, on: bool) -> Self {
        self.flush_events = on;
        self
    }

    /// Decide, asynchronously, whether a handshake may open a session (authentication before
    /// a session exists). `Err(Some(message))` refuses with that message (403, code 4).
    pub fn allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Option<String>>> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |info| Box::pin(f(info))));
        self.config.allow_request = true;
        self
    }

    /// How many new sessions may wait for [`Connections::accept`] (default 128); handshakes
    /// wait beyond that.
    pub fn backlog(mut self, n: usize) -> Self {
        self.backlog = n.max(1);
        self
    }

    /// The runtime to run on (instead of `R::default()`).
    pub fn runtime(mut self, rt: R) -> Self {
        self.rt = rt;
        self
    }

    /// How long [`serve`](super::serve) lets a connection take to send a request's headers before closing
    /// it (slowloris); `None` for no limit. Default 30 s.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Makes this server a node of a cluster on Redis (feature `cluster`): any node then
    /// serves any request, relaying those of sessions that another node owns (see the
    /// crate's `cluster` documentation in the README). Sets the configuration's `sid_prefix`
    /// to the node's name and `-`. Every node of a cluster needs the same `path`.
    ///
    /// ```
    /// use engineio_driver::{Builder, ClusterConfig, ClusterError, Runtime};
    /// fn node<R: Runtime>(builder: Builder<R>) -> Result<Builder<R>, ClusterError> {
    ///     Ok(builder.cluster(ClusterConfig::new("redis://127.0.0.1:6379", "n1")?))
    /// }
    /// ```
    #[cfg(feature = "cluster")]
    pub fn cluster(mut self, node: crate::cluster::ClusterConfig) -> Self {
        self.config.sid_prefix = Some(node.sid_prefix());
        self.cluster = Some(node);
        self
    }

    /// The server and its stream of new sessions.
    pub fn build(self) -> (EngineIo<R>, Connections) {
        let mut seed = [0u8; 32];
        // Session ids guard sessions: seed them from the OS unless a seed is configured.
        // A simulated runtime seeds them, and the session map's order, from its own seed.
        let simulated = self.rt.seed();
        let sid_hasher = match simulated {
            Some(_) => super::SidHasher::Fixed,
            None => super::SidHasher::Random(Default::default()),
        };
        let sids = match self.config.seed.or(simulated) {
            Some(s) => RandomSids::from_u64(s),
            None => {
                let _ = getrandom::fill(&mut seed);
                RandomSids::from_entropy(seed)
            }
        };
        let max_payload = self.config.max_payload;
        let deflate = self.config.per_message_deflate;
        let (tx, rx) = mpsc::channel(self.backlog);
        #[cfg(feature = "cluster")]
        let (cluster_rt, cluster, relay_timeout) = (
            self.rt.clone(),
            self.cluster,
            self.config.ping_interval + self.config.ping_timeout,
        );
        let shared = |_weak: &std::sync::Weak<Shared<R>>| Shared {
            server: Mutex::new(Server::with_sid_generator(self.config, sids)),
            sessions: Mutex::new(super::SessionMap::with_hasher(sid_hasher)),
            clock: Clock::new(self.rt),
            metrics: Arc::default(),
            max_payload,
            deflate,
            header_read_timeout: self.header_read_timeout,
            flush_events: self.flush_events,
            hooks: self.hooks,
            connections: tx,
            allow_request: self.allow_request,
            next_req: AtomicU64::new(1),
            stopping: watch::channel(false).0,
            drained: watch::channel(false).0,
            emptied: Notify::new(),
            #[cfg(feature = "cluster")]
            cluster: cluster.as_ref().map(|c| {
                crate::cluster::Cluster::start(&cluster_rt, c, relay_timeout, _weak.clone())
            }),
        };
        (
            EngineIo {
                shared: Arc::new_cyclic(shared),
            },
            Connections(rx),
        )
    }
}
