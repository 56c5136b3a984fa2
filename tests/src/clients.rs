//! Reference clients as processes (`tests/node/engineio_client.js`,
//! `tests/python/engineio_client.py`), and the echo session every client test runs.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::messages::{check_echoes, EchoRules, EchoStats, Msg};
use crate::process::LineProcess;
use crate::{node_bin, node_peers, node_script, python_bin, python_peers, python_script};

/// How long one request to a client peer may take (an echo batch included).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// A reference client process speaking the JSON-lines protocol described in
/// `tests/node/engineio_client.js`.
pub struct ClientPeer {
    process: LineProcess,
    /// `"6"` or `"3"` for the Node client (which package the script loads); `None` for Python.
    client: Option<&'static str>,
    name: String,
}

impl ClientPeer {
    /// `engine.io-client` 6.x (`version` `"6"`) or 3.x (`"3"`, the `eioc3` alias) in Node.js.
    pub fn node(version: &'static str) -> ClientPeer {
        let dir = node_peers();
        let mut cmd = Command::new(node_bin());
        cmd.arg(node_script("engineio_client.js"))
            .env("NODE_PATH", dir.join("node_modules"));
        let name = format!("engine.io-client {version}.x");
        ClientPeer {
            process: LineProcess::spawn(cmd, &name),
            client: Some(version),
            name,
        }
    }

    /// The `python-engineio` client.
    pub fn python() -> ClientPeer {
        let venv = python_peers();
        let mut cmd = Command::new(python_bin(&venv));
        cmd.arg("-u").arg(python_script("engineio_client.py"));
        let name = "python-engineio client".to_owned();
        ClientPeer {
            process: LineProcess::spawn(cmd, &name),
            client: None,
            name,
        }
    }

    /// Sends one request; panics (with the peer's events and stderr) if it failed.
    pub fn request(&mut self, mut req: Value) -> Value {
        req["timeout_ms"] = json!(PEER_TIMEOUT.as_millis() as u64 - 2000);
        let answer = self.process.request(&req, PEER_TIMEOUT);
        if let Some(err) = answer.get("error") {
            let msg = self.process.failure(&format!(
                "{} failed: {}\nclient events: {}",
                req["op"],
                err.as_str().unwrap_or_default(),
                answer["events"]
            ));
            panic!("{msg}");
        }
        answer
    }

    /// Opens a socket to `url` with client options `opts`; returns the answer (`sid`,
    /// `transport`: the one it opened on).
    pub fn connect(&mut self, url: &str, opts: Value) -> Value {
        self.connect_sending(url, opts, &[])
    }

    /// Like [`connect`](Self::connect), and sends `on_open` from the client's open handler,
    /// before an upgrade can begin (their echoes are then taken with
    /// [`receive`](Self::receive)).
    pub fn connect_sending(&mut self, url: &str, opts: Value, on_open: &[Msg]) -> Value {
        let on_open: Vec<Value> = on_open.iter().map(Msg::to_json).collect();
        let mut req = json!({ "op": "connect", "url": url, "opts": opts, "on_open": on_open });
        if let Some(c) = self.client {
            req["client"] = json!(c);
        }
        self.request(req)
    }

    /// Sends `messages` and returns the answer with the echoes (`received`, `transport`).
    pub fn echo(&mut self, messages: &[Msg]) -> Value {
        let list: Vec<Value> = messages.iter().map(Msg::to_json).collect();
        self.request(json!({ "op": "echo", "messages": list }))
    }

    /// Waits for `count` messages without sending any; returns them as [`echo`](Self::echo)
    /// does.
    pub fn receive(&mut self, count: usize) -> Value {
        self.request(json!({ "op": "receive", "count": count }))
    }

    /// Waits until the socket runs on WebSocket.
    pub fn wait_upgrade(&mut self) -> Value {
        self.request(json!({ "op": "wait_upgrade" }))
    }

    /// Closes the socket and waits for its close event; returns the answer (`reason`).
    pub fn close(&mut self) -> Value {
        self.request(json!({ "op": "close" }))
    }

    /// Names the server this client talks to in its failure messages: the peer is then
    /// `engine.io-client 6.x against echo server (smol)` and the like.
    pub fn against(&mut self, server: &str) {
        let name = format!("{} against {server}", self.name);
        self.process.set_name(&name);
        self.name = name;
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Which transports an echo session must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Polling from start to end.
    Polling,
    /// WebSocket from start to end.
    Websocket,
    /// Opens on polling and ends on WebSocket.
    Upgrade,
}

/// What an echo session did.
#[derive(Debug)]
pub struct SessionReport {
    /// The echo numbers.
    pub stats: EchoStats,
    /// The transport of each batch's answer, in order.
    pub transports: Vec<String>,
    /// How long the session took, connect to close.
    pub elapsed: Duration,
    /// Heartbeats the client saw in the whole session.
    pub heartbeats: Option<u64>,
}

/// One echo session: what [`run_echo_session`] does.
#[derive(Clone, Debug)]
pub struct EchoSession<'a> {
    /// Client options (`transports`, `forceBase64`, ...), as the peer script takes them.
    pub opts: Value,
    /// The messages to echo.
    pub messages: &'a [Msg],
    /// Into how many batches they are cut (a batch is sent at once, then its echoes awaited).
    pub batches: usize,
    /// The transports the session must show.
    pub expect: Expect,
    /// Form differences tolerated in the echoes.
    pub rules: EchoRules,
    /// Halfway through, wait until the client has seen this many more heartbeats (0: don't).
    pub heartbeats: u64,
}

/// Connects `peer` to `url` and echoes `session.messages` in batches, checking each echo
/// byte for byte and in order (see [`check_echoes`]); checks the transports against
/// `session.expect` and closes. For [`Expect::Upgrade`] the first batch is sent by the
/// client's open handler, on polling, before the upgrade starts (the echoes come back on
/// either side of it), then the session waits for the upgrade and sends the rest over
/// WebSocket. Halfway through, it waits for `session.heartbeats` heartbeats, so they happen
/// between batches of traffic.
pub fn run_echo_session(peer: &mut ClientPeer, url: &str, session: &EchoSession) -> SessionReport {
    let EchoSession {
        opts,
        messages,
        batches,
        expect,
        rules,
        heartbeats,
    } = session.clone();
    let start = Instant::now();
    let name = peer.name().to_owned();
    let per = messages.len().div_ceil(batches.max(1)).max(1);
    let mut chunks = messages.chunks(per).peekable();
    let on_open = match expect {
        Expect::Upgrade => chunks.next().unwrap_or_default(),
        _ => &[],
    };
    let open = peer.connect_sending(url, opts.clone(), on_open);
    let first = open["transport"].as_str().unwrap_or_default().to_owned();
    let want_first = if expect == Expect::Websocket {
        "websocket"
    } else {
        "polling"
    };
    assert_eq!(
        first, want_first,
        "{name} ({opts}): opened on {first}, expected {want_first}"
    );
    let mut stats = EchoStats::default();
    let mut transports = Vec::new();
    if !on_open.is_empty() {
        let answer = peer.receive(on_open.len());
        let context = format!("{name} ({opts}), the batch sent on open");
        stats.add(&check_echoes(&context, on_open, &answer["received"], rules));
        transports.push(answer["transport"].as_str().unwrap_or("?").to_owned());
    }
    if expect == Expect::Upgrade {
        peer.wait_upgrade();
    }
    let mut seen = None;
    for (i, batch) in chunks.enumerate() {
        if heartbeats > 0 && i == batches / 2 {
            let answer = peer.request(json!({ "op": "wait_heartbeats", "count": heartbeats }));
            seen = answer["heartbeats"].as_u64();
        }
        let answer = peer.echo(batch);
        let context = format!("{name} ({opts}), batch {i} of {batches}");
        stats.add(&check_echoes(&context, batch, &answer["received"], rules));
        transports.push(answer["transport"].as_str().unwrap_or("?").to_owned());
    }
    let last = transports.last().cloned().unwrap_or_default();
    match expect {
        Expect::Polling | Expect::Websocket => assert!(
            transports.iter().all(|t| t == want_first),
            "{name} ({opts}): transports {transports:?}, expected {want_first} throughout"
        ),
        Expect::Upgrade => assert_eq!(
            last, "websocket",
            "{name} ({opts}): did not end on websocket: {transports:?}"
        ),
    }
    let closed = peer.close();
    SessionReport {
        stats,
        transports,
        elapsed: start.elapsed(),
        heartbeats: closed["heartbeats"].as_u64().or(seen),
    }
}
