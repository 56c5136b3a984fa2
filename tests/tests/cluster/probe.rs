//! Short probe sessions of our own client through the balancer, for what the fleets cannot
//! see: each probe checks that its session id starts with the name of the node that owns it
//! (`NAME-`, the answer to `__node`), echoes a few messages, and closes; any failure is
//! returned, not panicked, so a test can wait for a cluster to recover.

use std::time::Duration;

use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::{Client, ClientConfig, ClientSocketEvent};

/// Echoes per probe session.
const ECHOES: usize = 3;

/// One probe session that went through.
#[derive(Debug)]
pub struct Probed {
    /// The node that owns it (its answer to `__node`).
    pub node: String,
    /// Its session id.
    pub sid: String,
    /// `polling` or `websocket`.
    pub transport: Transport,
}

async fn next_message(client: &mut Client) -> Result<Message, String> {
    loop {
        match client.recv().await {
            Some(ClientSocketEvent::Message(m)) => return Ok(m),
            Some(ClientSocketEvent::Closed { reason, .. }) => {
                return Err(format!("closed: {reason}"))
            }
            Some(_) => {}
            None => return Err("the client's events ended".to_owned()),
        }
    }
}

async fn probe_one(url: String, transport: Transport, k: usize) -> Result<Probed, String> {
    let uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let mut config = ClientConfig::new(uri);
    config.path = "/engine.io/".to_owned();
    config.transports = vec![transport];
    config.upgrade = false;
    let mut client = Client::connect(config)
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    let sid = client.sid().to_owned();
    let what = |e: String| format!("{transport} probe {k} ({sid}): {e}");
    client
        .send("__node")
        .await
        .map_err(|e| what(format!("send: {e}")))?;
    let node = match next_message(&mut client).await.map_err(what)? {
        Message::Text(t) => t.as_str().to_owned(),
        other => return Err(what(format!("`__node` answered with {other:?}"))),
    };
    if !sid.starts_with(&format!("{node}-")) {
        return Err(what(format!(
            "the session id does not start with its node's name `{node}-`"
        )));
    }
    for seq in 0..ECHOES {
        let sent = Message::from(format!("probe {k}:{seq}:{}", "y".repeat(seq * 50)));
        client
            .send(sent.clone())
            .await
            .map_err(|e| what(format!("send: {e}")))?;
        let got = next_message(&mut client).await.map_err(what)?;
        if got != sent {
            return Err(what(format!("echo {seq} differs: {got:?}")));
        }
    }
    client.close().await;
    Ok(Probed {
        node,
        sid,
        transport,
    })
}

/// Opens `per_transport` sessions on polling and as many on WebSocket through `url` at once;
/// each must complete within `timeout`. Every session that went through, or the first
/// failure.
pub fn probe(
    rt: &tokio::runtime::Runtime,
    url: &str,
    per_transport: usize,
    timeout: Duration,
) -> Result<Vec<Probed>, String> {
    let tasks = [Transport::Polling, Transport::Websocket]
        .into_iter()
        .flat_map(|t| (0..per_transport).map(move |k| (t, k)))
        .map(|(t, k)| {
            let url = url.to_owned();
            async move {
                match tokio::time::timeout(timeout, probe_one(url, t, k)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("{t} probe {k} did not finish within {timeout:?}")),
                }
            }
        });
    rt.block_on(futures_util::future::join_all(tasks))
        .into_iter()
        .collect()
}
