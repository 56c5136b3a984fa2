//! The demo's runtime-generic half, shared by the `demo` examples of engineio-tokio and
//! engineio-smol (included with `#[path]`): the command line, the room (chat text, and the
//! drawing board's strokes and live cursors as binary messages, relayed to every other
//! session), the page and its script, the official browser client (fetched from the npm
//! registry on first run) and the server's metrics as JSON.
//!
//! demo [--addr HOST:PORT] [--node NAME --cluster redis://HOST:PORT]
//!
//! Once listening it prints `demo on http://ADDR/` on stdout (tests read that line).
//!
//! With `--cluster` (the binding's `cluster` feature) the demo is one node of several behind
//! a balancer (any balancer: the nodes relay each other's sessions' requests through Redis),
//! and the room spans every node: what a page sends is broadcast to every node through Redis
//! (`EngineIo::cluster_broadcast`) and each node hands it to its own pages. Peers are numbered
//! so that nodes never give the same number: the node name's trailing number (`n1`, `n2`, up
//! to 15) is the low 4 bits. A page's welcome lists the peers of its own node; the others
//! appear as they join or speak.
//!
//! Text messages are JSON objects, by their `t`: `chat` (`text`), `ping` (answered to the
//! sender alone as `pong`, with the same fields: the page times the round trip), and from the
//! server `welcome`, `join`, `leave` and `transport`. Binary messages from a page are relayed
//! to the other pages with the sender's number (u16, little endian) in front.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use engineio_driver::proto::{Message, Transport};
use engineio_driver::{MetricsSnapshot, Socket, SocketEvent, SocketSender};
use serde_json::{json, Value};

/// The version of the official browser client (`engine.io-client`) the page loads: the one
/// place it is pinned.
pub const CLIENT_VERSION: &str = "6.6.8";

/// Environment variable naming the directory that caches the browser client (default:
/// `demo-assets` in the cargo target directory).
pub const ASSETS_DIR_ENV: &str = "ENGINEIO_DEMO_ASSETS_DIR";

/// The longest chat line relayed, in bytes.
const MAX_TEXT: usize = 4000;

/// The longest binary message relayed (strokes and cursors are a few bytes).
const MAX_BINARY: usize = 64;

const PAGE: &str = include_str!("demo.html");
const SCRIPT: &str = include_str!("demo.js");

fn usage() -> ! {
    eprintln!("usage: demo [--addr HOST:PORT] [--node NAME --cluster redis://HOST:PORT]");
    std::process::exit(2)
}

/// The address to listen on, from the command line (`--addr`, default `127.0.0.1:3000`).
/// The demo server's configuration: the defaults, with permessage-deflate on (messages of
/// 1 KiB and more go compressed over WebSocket, each on its own, so an idle session keeps no
/// compression state).
pub fn config() -> engineio_driver::ServerConfig {
    engineio_driver::ServerConfig {
        per_message_deflate: Some(engineio_driver::session::DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The command line.
pub struct Args {
    /// Where to listen (`--addr`, default `127.0.0.1:3000`).
    pub addr: String,
    /// `--node`: this node's name in a cluster.
    pub node: Option<String>,
    /// `--cluster`: the cluster's Redis.
    pub cluster: Option<String>,
}

pub fn args() -> Args {
    let mut parsed = Args {
        addr: String::from("127.0.0.1:3000"),
        node: None,
        cluster: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => parsed.addr = v,
            ("--node", Some(v)) => parsed.node = Some(v),
            ("--cluster", Some(v)) => parsed.cluster = Some(v),
            _ => usage(),
        }
    }
    if parsed.cluster.is_some() != parsed.node.is_some() {
        eprintln!("--cluster and --node go together");
        usage()
    }
    parsed
}

impl Args {
    /// The server: the demo's configuration, a cluster node with `--cluster`.
    pub fn build<R: engineio_driver::Runtime + Default>(
        &self,
    ) -> (engineio_driver::EngineIo<R>, engineio_driver::Connections) {
        let builder = engineio_driver::EngineIo::<R>::builder(config());
        match (&self.cluster, &self.node) {
            #[cfg(feature = "cluster")]
            (Some(redis), Some(name)) => match engineio_driver::ClusterConfig::new(redis, name) {
                Ok(node) => builder.cluster(node).build(),
                Err(e) => {
                    eprintln!("{e}");
                    usage()
                }
            },
            #[cfg(not(feature = "cluster"))]
            (Some(_), _) => {
                eprintln!("--cluster needs the binding's `cluster` feature (--features cluster)");
                std::process::exit(2)
            }
            _ => builder.build(),
        }
    }

    /// The low bits of this node's peer numbers: its name's trailing number, 1 to 15.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    fn slot(&self) -> u16 {
        let name = self.node.as_deref().unwrap_or_default();
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
        digits.parse::<u16>().map_or(0, |n| n % 16)
    }
}

/// The room, and (in a cluster) the loop to run that hands the other nodes' messages to it.
pub type RoomTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The room of `engine`: this server's alone, or (a cluster node) one spanning every node,
/// with the task to spawn that delivers what the nodes broadcast.
pub fn room<R: engineio_driver::Runtime>(
    engine: &engineio_driver::EngineIo<R>,
    runtime: &'static str,
    args: &Args,
) -> (Arc<Room>, Option<RoomTask>) {
    #[cfg(feature = "cluster")]
    if let Some(mut messages) = engine.cluster_messages() {
        let publisher = engine.clone();
        let room = Arc::new(Room {
            slot: args.slot().max(1),
            publish: Some(Box::new(move |b| publisher.cluster_broadcast(b))),
            ..Room::new(runtime)
        });
        let listener = room.clone();
        let task: RoomTask = Box::pin(async move {
            while let Some(payload) = messages.recv().await {
                listener.deliver(payload).await;
            }
        });
        return (room, Some(task));
    }
    let _ = (engine, args);
    (Arc::new(Room::new(runtime)), None)
}

/// The line announcing the server, with the address it is bound to.
pub fn announce(addr: std::net::SocketAddr, runtime: &str) {
    println!("demo on http://{addr}/ ({runtime}; open it in two tabs)");
}

/// What the demo serves besides Engine.IO: the page, its script, and the browser client with
/// its source map.
pub struct Assets {
    client: Bytes,
    client_map: Bytes,
}

impl Assets {
    /// Loads the browser client from its cache, fetching it first if needed.
    pub fn load() -> io::Result<Assets> {
        let dir = browser_client()?;
        Ok(Assets {
            client: std::fs::read(dir.join("engine.io.min.js"))?.into(),
            client_map: std::fs::read(dir.join("engine.io.min.js.map"))?.into(),
        })
    }

    /// The answer to a GET of `path` (any path but the Engine.IO one): the page, a file, the
    /// metrics from `metrics` as JSON, or 404.
    pub fn respond(
        &self,
        path: &str,
        runtime: &str,
        metrics: impl FnOnce() -> MetricsSnapshot,
    ) -> http::Response<Bytes> {
        let (content_type, body) = match path {
            "/" | "/index.html" => (
                "text/html; charset=utf-8",
                Bytes::from_static(PAGE.as_bytes()),
            ),
            "/demo.js" => (
                "text/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            ),
            "/engine.io.min.js" => ("text/javascript; charset=utf-8", self.client.clone()),
            "/engine.io.min.js.map" => ("application/json", self.client_map.clone()),
            "/metrics" => (
                "application/json",
                crate::metrics::metrics_json(&metrics(), runtime).into(),
            ),
            _ => {
                return http::Response::builder()
                    .status(http::StatusCode::NOT_FOUND)
                    .header("content-type", "text/plain")
                    .body(Bytes::from_static(b"Not Found"))
                    .expect("a valid response")
            }
        };
        http::Response::builder()
            .header("content-type", content_type)
            .header("cache-control", "no-cache")
            .body(body)
            .expect("a valid response")
    }
}

/// The cache of browser clients: `$ENGINEIO_DEMO_ASSETS_DIR`, else `demo-assets` in
/// `$CARGO_TARGET_DIR`, else in the workspace's `target`.
fn assets_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(ASSETS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("demo-assets")
}

/// The directory holding `engine.io.min.js` and its map for [`CLIENT_VERSION`], fetched with
/// `npm pack` on first use. Demos started together are safe: each unpacks into a directory
/// of its own, renamed into place whole.
fn browser_client() -> io::Result<PathBuf> {
    let root = assets_root();
    let dir = root.join(format!("engine.io-client-{CLIENT_VERSION}"));
    if dir.join("engine.io.min.js.map").is_file() {
        return Ok(dir);
    }
    println!("fetching engine.io-client {CLIENT_VERSION} from the npm registry (first run only)");
    let tmp = root.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let fetched = fetch_into(&tmp).and_then(|()| match std::fs::rename(tmp.join("out"), &dir) {
        Ok(()) => Ok(()),
        // Another demo got there first.
        Err(_) if dir.join("engine.io.min.js.map").is_file() => Ok(()),
        Err(e) => Err(e),
    });
    let _ = std::fs::remove_dir_all(&tmp);
    fetched.map(|()| dir)
}

fn fetch_into(tmp: &Path) -> io::Result<()> {
    let spec = format!("engine.io-client@{CLIENT_VERSION}");
    let pack = Command::new("npm")
        .args(["pack", &spec, "--silent"])
        .current_dir(tmp)
        .output()
        .map_err(|e| io::Error::other(format!("cannot run npm ({e}): is npm installed?")))?;
    let tarball = String::from_utf8_lossy(&pack.stdout).trim().to_owned();
    if !pack.status.success() || tarball.is_empty() {
        return Err(io::Error::other(format!(
            "`npm pack {spec}` failed: {}",
            String::from_utf8_lossy(&pack.stderr)
        )));
    }
    let files = ["engine.io.min.js", "engine.io.min.js.map"];
    let status = Command::new("tar")
        .args(["xzf", &tarball])
        .args(files.map(|f| format!("package/dist/{f}")))
        .current_dir(tmp)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!("could not unpack {tarball}")));
    }
    let out = tmp.join("out");
    std::fs::create_dir_all(&out)?;
    for f in files {
        std::fs::rename(tmp.join("package/dist").join(f), out.join(f))?;
    }
    let head = std::fs::read(out.join(files[0]))?;
    let banner = format!("Engine.IO v{CLIENT_VERSION}");
    if !String::from_utf8_lossy(&head[..head.len().min(200)]).contains(&banner) {
        return Err(io::Error::other(format!("{tarball} is not {spec}")));
    }
    Ok(())
}

/// One open session in the room.
struct Peer {
    n: u16,
    sid: String,
    sender: SocketSender,
}

/// What a room does with a message for everyone: publish it to every node (true if it
/// could).
type Publish = Box<dyn Fn(Bytes) -> bool + Send + Sync>;

/// Everyone connected: who they are, and how to reach them.
pub struct Room {
    runtime: &'static str,
    next: AtomicU16,
    peers: Mutex<Vec<Peer>>,
    /// The low 4 bits of this node's peer numbers (0: not in a cluster).
    slot: u16,
    publish: Option<Publish>,
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Polling => "polling",
        Transport::Websocket => "websocket",
    }
}

impl Room {
    /// An empty room; `runtime` names the server's runtime on the page.
    pub fn new(runtime: &'static str) -> Room {
        Room {
            runtime,
            next: AtomicU16::new(1),
            peers: Mutex::new(Vec::new()),
            slot: 0,
            publish: None,
        }
    }

    /// A message for every peer but `except`, as the nodes of a cluster pass it: `except`
    /// (u16, little endian), 0 for text or 1 for binary, the message.
    fn encode(except: u16, message: &Message) -> Bytes {
        let (kind, data): (u8, &[u8]) = match message {
            Message::Text(t) => (0, t.as_bytes()),
            Message::Binary(b) => (1, b),
        };
        let mut out = Vec::with_capacity(3 + data.len());
        out.extend_from_slice(&except.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(data);
        Bytes::from(out)
    }

    /// Hands a message another node (or this one) broadcast to this node's peers.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub async fn deliver(&self, payload: Bytes) {
        if payload.len() < 3 {
            return;
        }
        let except = u16::from_le_bytes([payload[0], payload[1]]);
        let data = payload.slice(3..);
        let message = match payload[2] {
            0 => match String::from_utf8(data.to_vec()) {
                Ok(t) => Message::from(t),
                Err(_) => return,
            },
            _ => Message::Binary(data),
        };
        self.send_local(except, message).await;
    }

    /// The senders of every peer but `except`.
    fn others(&self, except: u16) -> Vec<SocketSender> {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .iter()
            .filter(|p| p.n != except)
            .map(|p| p.sender.clone())
            .collect()
    }

    /// Sends `message` to every peer but `except` (0: to all): in a cluster through every
    /// node (this one included), else to this node's peers.
    async fn broadcast(&self, except: u16, message: impl Into<Message>) {
        let message = message.into();
        if let Some(publish) = &self.publish {
            if publish(Room::encode(except, &message)) {
                return;
            }
        }
        self.send_local(except, message).await;
    }

    /// Sends `message` to every peer of this node but `except`, one after the other.
    async fn send_local(&self, except: u16, message: Message) {
        for sender in self.others(except) {
            // A peer that has just gone is not an error.
            let _ = sender.send(message.clone()).await;
        }
    }

    /// Runs one session until it closes: welcomes it, tells the others, relays what it sends.
    pub async fn join(&self, mut socket: Socket) {
        let count = self.next.fetch_add(1, Ordering::Relaxed);
        let n = match self.slot {
            0 => count.max(1),
            slot => (count.wrapping_mul(16) | slot).max(1),
        };
        let sid = socket.sid().to_string();
        let peers: Vec<Value> = {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            let list = peers
                .iter()
                .map(|p| json!({"n": p.n, "sid": p.sid, "transport": transport_name(p.sender.transport())}))
                .collect();
            peers.push(Peer {
                n,
                sid: sid.clone(),
                sender: socket.sender(),
            });
            list
        };
        let transport = transport_name(socket.transport());
        let welcome =
            json!({"t": "welcome", "n": n, "sid": sid, "runtime": self.runtime, "peers": peers});
        let _ = socket.send(welcome.to_string()).await;
        let joined = json!({"t": "join", "n": n, "sid": sid, "transport": transport});
        self.broadcast(n, joined.to_string()).await;
        while let Some(event) = socket.recv().await {
            match event {
                SocketEvent::Message(Message::Text(text)) => {
                    let Ok(mut msg) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    match msg["t"].as_str() {
                        Some("ping") => {
                            msg["t"] = "pong".into();
                            let _ = socket.send(msg.to_string()).await;
                        }
                        Some("chat") => {
                            let Some(line) = msg["text"].as_str() else {
                                continue;
                            };
                            let mut end = line.len().min(MAX_TEXT);
                            while !line.is_char_boundary(end) {
                                end -= 1;
                            }
                            let chat =
                                json!({"t": "chat", "n": n, "sid": sid, "text": &line[..end]});
                            // To everyone, the sender too: its line appears once the server has it.
                            self.broadcast(0, chat.to_string()).await;
                        }
                        _ => {}
                    }
                }
                SocketEvent::Message(Message::Binary(data)) => {
                    if data.is_empty() || data.len() > MAX_BINARY {
                        continue;
                    }
                    let mut relayed = Vec::with_capacity(2 + data.len());
                    relayed.extend_from_slice(&n.to_le_bytes());
                    relayed.extend_from_slice(&data);
                    self.broadcast(n, Bytes::from(relayed)).await;
                }
                SocketEvent::Upgraded(_) => {
                    let t = json!({"t": "transport", "n": n, "transport": "websocket"});
                    self.broadcast(n, t.to_string()).await;
                }
                SocketEvent::Closed(_) => break,
                _ => {}
            }
        }
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p.n != n);
        self.broadcast(n, json!({"t": "leave", "n": n, "sid": sid}).to_string())
            .await;
    }
}
