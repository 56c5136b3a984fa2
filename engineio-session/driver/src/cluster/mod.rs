//! Several nodes without sticky sessions: any node takes any request, and a request of a
//! session that another node owns is relayed to that node through Redis pub/sub, its answer
//! relayed back (feature `cluster`).
//!
//! Each node has a name, which leads every session id it makes (`n1-...`, through
//! [`ServerConfig::sid_prefix`](engineio_session::ServerConfig::sid_prefix)), so any node
//! knows a session's owner from the request alone, with no lookup. The owner stays the only
//! machine that decides anything for its sessions: a relayed polling GET or POST is handled
//! by the owner as if it had arrived there (the relaying node holds the client's request
//! until the owner answers), and a relayed WebSocket is a byte stream between the client's
//! connection on the relaying node and the owner's session (the owner answers the upgrade,
//! negotiates its extensions and runs the WebSocket; the relaying node only moves bytes).
//! Handshakes are never relayed: whichever node receives one owns the new session.
//!
//! Every node subscribes to its own channel (`engineio:NAME`) on one RESP3 connection that it
//! also publishes on, in order and in pipelined batches. When Redis goes away the nodes
//! reconnect and subscribe again by themselves; relays in flight meanwhile fail (the client
//! sees its request fail and its session close), sessions whose requests reach their owner
//! directly go on.

mod link;
mod pipe;
mod relay;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use engineio_session::{Sid, SidPrefix};
use futures_util::future::AbortHandle;
use redis::IntoConnectionInfo;
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) use pipe::RelayIo;
pub(crate) use relay::RelayedUpgrade;

use crate::server::Shared;
use crate::Runtime;

/// Why a cluster configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node name is not 1 to 11 characters from `A-Z a-z 0-9 _`.
    #[error("a node name is 1 to 11 characters from A-Z a-z 0-9 _, not {0:?}")]
    NodeName(String),
    /// The Redis address is not a `redis://HOST:PORT[/DB]` URL.
    #[error("not a redis:// address: {0}")]
    Redis(String),
}

/// A node of a cluster on Redis: its name and where Redis is.
///
/// ```
/// use engineio_driver::ClusterConfig;
/// let c = ClusterConfig::new("redis://127.0.0.1:6379", "n1").unwrap();
/// assert_eq!(c.node(), "n1");
/// assert!(ClusterConfig::new("redis://127.0.0.1:6379", "n-1").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    node: String,
    redis: redis::ConnectionInfo,
    relay_timeout: Option<Duration>,
}

impl ClusterConfig {
    /// Node `node` (1 to 11 characters from `A-Z a-z 0-9 _`, unique in the cluster) on the
    /// Redis at `redis` (`redis://HOST:PORT[/DB]`, with `user:password@` if needed).
    pub fn new(redis: &str, node: &str) -> Result<ClusterConfig, ClusterError> {
        let valid = !node.is_empty()
            && node.len() <= 11
            && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(ClusterError::NodeName(node.to_owned()));
        }
        let info = redis
            .into_connection_info()
            .map_err(|e| ClusterError::Redis(format!("{redis}: {e}")))?;
        if !matches!(info.addr(), redis::ConnectionAddr::Tcp(..)) {
            return Err(ClusterError::Redis(redis.to_owned()));
        }
        Ok(ClusterConfig {
            node: node.to_owned(),
            redis: info,
            relay_timeout: None,
        })
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// How long a relaying node waits for the owner's answer before failing the request as
    /// for an unknown session (default: the server's ping interval plus ping timeout, the
    /// longest an owner holds a polling GET plus the time a client waits for a heartbeat).
    pub fn relay_timeout(mut self, timeout: Duration) -> Self {
        self.relay_timeout = Some(timeout);
        self
    }

    /// The sid prefix of this node: its name and `-`.
    pub(crate) fn sid_prefix(&self) -> SidPrefix {
        // Valid by construction: at most 12 characters from the sid alphabet.
        SidPrefix::new(&format!("{}-", self.node)).unwrap_or_else(|_| unreachable!())
    }
}

/// The node that owns `sid`: what precedes its first `-` (node names have none).
pub(crate) fn owner(sid: &Sid) -> Option<&str> {
    sid.as_str().split_once('-').map(|(n, _)| n)
}

/// A relayed request's answer, as the relaying node gets it.
pub(crate) struct Reply {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

/// Most bytes chunks of one relayed WebSocket waiting to be taken; beyond, the WebSocket is
/// cut (its reader is far behind).
const STREAM_BUFFER: usize = 1024;

/// Most broadcasts kept for a [`ClusterMessages`] that has not taken them; beyond, the oldest
/// are lost to it (and counted).
const BROADCASTS: usize = 1024;

/// The application's messages broadcast by the nodes of the cluster
/// ([`EngineIo::cluster_messages`](crate::EngineIo::cluster_messages)), this node's own
/// included, each node's in the order it sent them.
pub struct ClusterMessages {
    rx: broadcast::Receiver<Bytes>,
    lost: u64,
}

impl ClusterMessages {
    /// The next message; `None` once the node has stopped. A receiver that falls more than
    /// 1,024 messages behind loses the oldest (see [`lost`](Self::lost)).
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            match self.rx.recv().await {
                Ok(b) => return Some(b),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lost += n;
                    tracing::warn!(lost = n, "cluster messages were not taken in time");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// How many messages this receiver lost by falling behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// A node's side of the cluster.
pub(crate) struct Cluster {
    pub(crate) me: Arc<str>,
    me_channel: Arc<str>,
    outbox: mpsc::Sender<link::Outgoing>,
    pub(crate) relay_timeout: Duration,
    next_id: AtomicU64,
    /// Requests this node relayed, waiting for their owner's answer.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// WebSockets this node relays: where the owner's bytes go.
    relayed: Mutex<HashMap<u64, mpsc::Sender<Option<Bytes>>>>,
    /// Requests this node serves for others, by (relaying node, id): to drop on `Abort`.
    serving: Mutex<HashMap<(String, u64), AbortHandle>>,
    /// WebSockets this node owns that others relay: where the client's bytes go.
    owned: Mutex<HashMap<(String, u64), mpsc::Sender<Bytes>>>,
    /// The application's broadcasts, as they arrive (this node's own included).
    broadcasts: broadcast::Sender<Bytes>,
}

use crate::lock;

impl Cluster {
    /// Starts the node's link to Redis and the task that dispatches what arrives; relayed
    /// requests are served by the engine behind `shared` (while it lives).
    pub(crate) fn start<R: Runtime>(
        rt: &R,
        config: &ClusterConfig,
        default_timeout: Duration,
        shared: Weak<Shared<R>>,
    ) -> Arc<Cluster> {
        let (inbox, incoming) = mpsc::channel(link::INBOX);
        let link = link::Link::start(rt, config.redis.clone(), &config.node, inbox);
        let cluster = Arc::new(Cluster {
            me: Arc::from(config.node.as_str()),
            me_channel: Arc::from(link::channel(&config.node)),
            outbox: link.outbox,
            relay_timeout: config.relay_timeout.unwrap_or(default_timeout),
            next_id: AtomicU64::new(1),
            waiting: Mutex::default(),
            relayed: Mutex::default(),
            serving: Mutex::default(),
            owned: Mutex::default(),
            broadcasts: broadcast::channel(BROADCASTS).0,
        });
        rt.spawn(relay::dispatch(
            rt.clone(),
            Arc::downgrade(&cluster),
            shared,
            incoming,
        ));
        cluster
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn envelope(&self, id: u64, message: &wire::Message) -> Bytes {
        wire::encode(&self.me, id, message)
    }

    /// Queues `payload` for every node; false if the outbox is full or the link gone.
    pub(crate) fn broadcast(&self, payload: Bytes) -> bool {
        let all: Arc<str> = Arc::from(link::ALL);
        let message = self.envelope(0, &wire::Message::Broadcast(payload));
        self.outbox.try_send((all, message)).is_ok()
    }

    /// A receiver of the broadcasts from now on.
    pub(crate) fn messages(&self) -> ClusterMessages {
        ClusterMessages {
            rx: self.broadcasts.subscribe(),
            lost: 0,
        }
    }

    /// Queues `message` for the node whose channel is `to` ([`link::channel`]); false if the
    /// outbox is full or the link gone.
    fn send(&self, to: &Arc<str>, id: u64, message: wire::Message) -> bool {
        let message = self.envelope(id, &message);
        self.outbox.try_send((to.clone(), message)).is_ok()
    }

    /// Queues `message` for the node whose channel is `to`, waiting for room.
    async fn send_wait(&self, to: &Arc<str>, id: u64, message: wire::Message) -> bool {
        let message = self.envelope(id, &message);
        self.outbox.send((to.clone(), message)).await.is_ok()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        tracing::debug!(channel = %self.me_channel, "cluster node stopped");
    }
}
