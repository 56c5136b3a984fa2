//! Relaying: the node that received a request for another node's session ([`Cluster::relay`]),
//! the owner that serves it ([`serve`]), and the task that routes what arrives from Redis
//! ([`dispatch`]).

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures_util::future::{abortable, select, Either};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tokio::sync::{mpsc, oneshot};

use super::link::{self, Incoming};
use super::wire::{Envelope, Message};
use super::{lock, Cluster, RelayIo, Reply, STREAM_BUFFER};
use crate::io::HyperIo;
use crate::runtime::timeout_at;
use crate::server::{EngineIo, Handled, Shared};
use crate::Runtime;

/// The owner's end of a relayed WebSocket, carried to the upgrade by the request (the
/// request's extensions must be `Clone`, hence the shared slot).
#[derive(Clone)]
pub(crate) struct RelayedUpgrade(Arc<Mutex<Option<RelayIo>>>);

impl RelayedUpgrade {
    /// The byte stream, once.
    pub(crate) fn take(&self) -> Option<RelayIo> {
        lock(&self.0).take()
    }
}

/// Forgets a relayed request whose client went away first, and tells the owner.
struct AbortOnDrop<'a> {
    cluster: &'a Cluster,
    /// The owner's channel.
    owner: &'a Arc<str>,
    id: u64,
    armed: bool,
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        lock(&self.cluster.waiting).remove(&self.id);
        if self.armed {
            self.cluster.send(self.owner, self.id, Message::Abort);
        }
    }
}

fn is_websocket(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && headers.get_all(header::UPGRADE).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
        })
}

/// A body, up to `limit` bytes (what is beyond is not read: the owner sees a body over
/// its limit and refuses it as it refuses a local one).
async fn read_body<B>(body: B, limit: usize) -> Option<Bytes>
where
    B: Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        len += data.len();
        chunks.push(data);
        if len > limit {
            break;
        }
    }
    Some(match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

impl Cluster {
    /// Relays `req` (of a session that `owner` owns) and returns the owner's answer; `None`
    /// when the owner did not answer in time or the link is down (the caller then answers as
    /// for an unknown session). A WebSocket the owner accepts is then relayed both ways until
    /// either side ends it.
    pub(crate) async fn relay<R, B>(
        self: &Arc<Self>,
        rt: &R,
        mut req: Request<B>,
        owner: &str,
        max_body: usize,
    ) -> Option<Response<Bytes>>
    where
        R: Runtime,
        B: Body<Data = Bytes> + Send + 'static,
    {
        let id = self.next_id();
        let to: Arc<str> = Arc::from(link::channel(owner));
        let websocket = is_websocket(req.method(), req.headers());
        let on_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let body = if parts.method == Method::POST {
            read_body(body, max_body.saturating_add(1)).await?
        } else {
            Bytes::new()
        };
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let mut guard = AbortOnDrop {
            cluster: self,
            owner: &to,
            id,
            armed: false,
        };
        let request = Message::Request {
            method: parts.method,
            target,
            headers: parts.headers,
            body,
        };
        // The whole relay is bounded: room in a full outbox (Redis away), then the answer.
        let deadline = rt.now() + self.relay_timeout;
        let sent = timeout_at(rt, deadline, self.send_wait(&to, id, request)).await;
        if sent != Some(true) {
            return None;
        }
        guard.armed = true;
        let reply = timeout_at(rt, deadline, rx).await;
        let Some(Ok(reply)) = reply else {
            tracing::debug!(owner, id, "no answer from the session's owner");
            return None;
        };
        guard.armed = false;
        drop(guard);
        let Reply {
            status,
            headers,
            body,
        } = reply;
        if let (Some(on_upgrade), StatusCode::SWITCHING_PROTOCOLS) = (on_upgrade, status) {
            let (tx, from_owner) = mpsc::channel(STREAM_BUFFER);
            lock(&self.relayed).insert(id, tx);
            rt.spawn(pump(self.clone(), to.clone(), id, on_upgrade, from_owner));
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Some(response)
    }
}

/// Moves a relayed WebSocket's bytes between the client's connection and the owner.
async fn pump(
    cluster: Arc<Cluster>,
    owner: Arc<str>,
    id: u64,
    on_upgrade: hyper::upgrade::OnUpgrade,
    mut from_owner: mpsc::Receiver<Option<Bytes>>,
) {
    if let Ok(upgraded) = on_upgrade.await {
        let mut io = HyperIo(upgraded);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let step = {
                let read = std::pin::pin!(io.read(&mut buf));
                let recv = std::pin::pin!(from_owner.recv());
                match select(read, recv).await {
                    Either::Left((r, _)) => Either::Left(r),
                    Either::Right((m, _)) => Either::Right(m),
                }
            };
            match step {
                Either::Left(Ok(n)) if n > 0 => {
                    let bytes = Bytes::copy_from_slice(&buf[..n]);
                    let data = Message::Data {
                        to_owner: true,
                        bytes,
                    };
                    if !cluster.send_wait(&owner, id, data).await {
                        break;
                    }
                }
                Either::Left(_) => break,
                Either::Right(Some(Some(bytes))) => {
                    if io.write_all(&bytes).await.is_err() || io.flush().await.is_err() {
                        break;
                    }
                }
                Either::Right(_) => {
                    // The owner ended the stream.
                    let _ = io.close().await;
                    lock(&cluster.relayed).remove(&id);
                    return;
                }
            }
        }
    }
    lock(&cluster.relayed).remove(&id);
    cluster.send(&owner, id, Message::End { to_owner: true });
}

/// Removes what the owner keeps for a relayed request when it is done (or dropped on
/// `Abort`).
struct Served {
    cluster: Arc<Cluster>,
    key: (String, u64),
    websocket_open: bool,
}

impl Drop for Served {
    fn drop(&mut self) {
        lock(&self.cluster.serving).remove(&self.key);
        if !self.websocket_open {
            lock(&self.cluster.owned).remove(&self.key);
        }
    }
}

/// Serves a request that node `from` relayed (its relay `id`) as if it had arrived here,
/// and sends the answer back.
async fn serve<R: Runtime>(
    cluster: Arc<Cluster>,
    engine: EngineIo<R>,
    from: String,
    id: u64,
    request: Message,
) {
    let Message::Request {
        method,
        target,
        headers,
        body,
    } = request
    else {
        return;
    };
    let mut served = Served {
        cluster: cluster.clone(),
        key: (from.clone(), id),
        websocket_open: false,
    };
    let to: Arc<str> = Arc::from(link::channel(&from));
    let websocket = is_websocket(&method, &headers);
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.headers_mut() = headers;
    let response = match target.parse() {
        Ok(uri) => {
            *req.uri_mut() = uri;
            if websocket {
                let (tx, rx) = mpsc::channel(STREAM_BUFFER);
                lock(&cluster.owned).insert(served.key.clone(), tx);
                let io = RelayIo::new(
                    rx,
                    cluster.outbox.clone(),
                    to.clone(),
                    cluster.me.clone(),
                    id,
                );
                req.extensions_mut()
                    .insert(RelayedUpgrade(Arc::new(Mutex::new(Some(io)))));
            }
            match engine.handle(req).await {
                Handled::Response(r) => r,
                Handled::Pass(_) => {
                    let mut r = Response::new(Bytes::new());
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        }
        Err(_) => {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    };
    served.websocket_open = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    drop(served);
    let (parts, body) = response.into_parts();
    let reply = Message::Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    cluster.send_wait(&to, id, reply).await;
}

/// Routes what arrives on this node's channel.
pub(crate) async fn dispatch<R: Runtime>(
    rt: R,
    cluster: Weak<Cluster>,
    shared: Weak<Shared<R>>,
    mut incoming: mpsc::Receiver<Incoming>,
) {
    while let Some(Incoming::Message(bytes)) = incoming.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        let Envelope { from, id, message } = match Envelope::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "ignored a message on the cluster's channel");
                continue;
            }
        };
        match message {
            Message::Request { .. } => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let engine = EngineIo::from_shared(shared);
                let (task, handle) =
                    abortable(serve(cluster.clone(), engine, from.clone(), id, message));
                lock(&cluster.serving).insert((from, id), handle);
                rt.spawn(async move {
                    let _ = task.await;
                });
            }
            Message::Reply {
                status,
                headers,
                body,
            } => {
                if let Some(tx) = lock(&cluster.waiting).remove(&id) {
                    let _ = tx.send(Reply {
                        status,
                        headers,
                        body,
                    });
                }
            }
            Message::Abort => {
                if let Some(h) = lock(&cluster.serving).remove(&(from, id)) {
                    h.abort();
                }
            }
            Message::Data {
                to_owner: true,
                bytes,
            } => {
                let mut owned = lock(&cluster.owned);
                let key = (from, id);
                if let Some(tx) = owned.get(&key) {
                    if tx.try_send(bytes).is_err() {
                        // Far behind (or gone): cut the WebSocket rather than buffer more.
                        owned.remove(&key);
                    }
                }
            }
            Message::End { to_owner: true } => {
                lock(&cluster.owned).remove(&(from, id));
            }
            Message::Data {
                to_owner: false,
                bytes,
            } => {
                let mut relayed = lock(&cluster.relayed);
                if let Some(tx) = relayed.get(&id) {
                    if tx.try_send(Some(bytes)).is_err() {
                        relayed.remove(&id);
                    }
                }
            }
            Message::End { to_owner: false } => {
                if let Some(tx) = lock(&cluster.relayed).remove(&id) {
                    let _ = tx.try_send(None);
                }
            }
            Message::Broadcast(payload) => {
                // Nobody listening is not an error.
                let _ = cluster.broadcasts.send(payload);
            }
        }
    }
}
