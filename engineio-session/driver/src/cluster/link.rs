//! A node's link to Redis: one RESP3 connection, over the runtime's own TCP stream, that
//! subscribes to the node's channel and publishes what the node sends, in order, in pipelined
//! batches; it reconnects (and subscribes again) whenever the connection is lost, so the
//! cluster recovers from a Redis restart without restarting the nodes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::Runtime;

/// Most messages waiting to be published; beyond, a relay fails (the node is overloaded or
/// Redis is away).
pub(crate) const OUTBOX: usize = 8192;
/// Most messages received and not yet handled; beyond, messages are dropped (and counted).
pub(crate) const INBOX: usize = 8192;
/// Most messages published in one pipelined batch.
const BATCH: usize = 256;

/// A message to publish: the channel and the payload.
pub(crate) type Outgoing = (Arc<str>, Bytes);

/// What the link tells the node.
pub(crate) enum Incoming {
    /// A message on the node's channel.
    Message(Bytes),
}

/// The channel of node `name`.
pub(crate) fn channel(name: &str) -> String {
    format!("engineio:{name}")
}

/// The channel every node listens to (the application's broadcasts).
pub(crate) const ALL: &str = "engineio:*all";

pub(crate) struct Link {
    pub(crate) outbox: mpsc::Sender<Outgoing>,
}

impl Link {
    /// Starts the link's task on `rt`: messages for node `name` arrive on `inbox`.
    pub(crate) fn start<R: Runtime>(
        rt: &R,
        info: ConnectionInfo,
        name: &str,
        inbox: mpsc::Sender<Incoming>,
    ) -> Link {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        rt.spawn(run(rt.clone(), info, channel(name), rx, inbox));
        Link { outbox }
    }
}

async fn sleep<R: Runtime>(rt: &R, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

async fn connect<R: Runtime>(
    rt: &R,
    info: &ConnectionInfo,
    channel: &str,
    inbox: &mpsc::Sender<Incoming>,
) -> Option<(MultiplexedConnection, mpsc::Receiver<()>)> {
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        tracing::warn!("the cluster's Redis must be a redis:// address");
        return None;
    };
    let stream = match rt.connect(host, *port).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot reach Redis");
            return None;
        }
    };
    // The push sender runs on the connection's task: it must not block. A full inbox drops.
    let tx = inbox.clone();
    let (gone_tx, gone) = mpsc::channel(1);
    let push = move |info: redis::PushInfo| -> Result<(), ()> {
        match info.kind {
            PushKind::Message => {
                if let Some(Value::BulkString(payload)) = info.data.into_iter().nth(1) {
                    if tx
                        .try_send(Incoming::Message(Bytes::from(payload)))
                        .is_err()
                    {
                        tracing::warn!("cluster inbox full: a relayed message was dropped");
                    }
                }
            }
            PushKind::Disconnection => {
                let _ = gone_tx.try_send(());
            }
            _ => {}
        }
        Ok(())
    };
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(None)
        .set_push_sender(push);
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let connecting = MultiplexedConnection::new_with_config(&settings, stream.compat(), config);
    let (mut conn, driver) = match connecting.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "Redis refused the connection");
            return None;
        }
    };
    rt.spawn(driver);
    if let Err(e) = conn.subscribe(&[channel, ALL]).await {
        tracing::debug!(error = %e, "cannot subscribe");
        return None;
    }
    Some((conn, gone))
}

async fn run<R: Runtime>(
    rt: R,
    info: ConnectionInfo,
    channel: String,
    mut outbox: mpsc::Receiver<Outgoing>,
    inbox: mpsc::Sender<Incoming>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some((mut conn, mut gone)) = connect(&rt, &info, &channel, &inbox).await else {
            if outbox.is_closed() {
                return;
            }
            sleep(&rt, backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        backoff = Duration::from_millis(50);
        tracing::debug!(%channel, "cluster link up");
        // Publish in order, a pipelined batch at a time, until the connection fails.
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let next = {
                let recv = std::pin::pin!(outbox.recv());
                let lost = std::pin::pin!(gone.recv());
                match select(recv, lost).await {
                    Either::Left((m, _)) => m,
                    Either::Right(_) => break,
                }
            };
            let Some(first) = next else {
                return;
            };
            batch.push(first);
            while batch.len() < BATCH {
                match outbox.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for (to, payload) in batch.drain(..) {
                pipe.publish(&*to, payload.as_ref()).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::debug!(error = %e, "publishing failed");
                break;
            }
        }
        tracing::warn!(%channel, "cluster link lost; reconnecting");
    }
}
