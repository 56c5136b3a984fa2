//! The echo server's command line and per-session loop, shared by the `echo` examples of
//! engineio-tokio and engineio-smol (included with `#[path]`), so both take the same
//! arguments and behave the same.
//!
//! echo --addr HOST:PORT [--path /engine.io/] [--ping-interval MS] [--ping-timeout MS]
//!     [--max-payload BYTES] [--allow-eio3] [--cors-origin ORIGIN] [--deflate]
//!     [--node NAME] [--sid-prefix PREFIX] [--cookie NAME]
//!
//! For running several nodes behind a load balancer: `--node NAME` answers the text message
//! `__node` with `NAME` (instead of echoing it), so a client can tell which node serves it;
//! `--sid-prefix PREFIX` puts `PREFIX` before every session id (a balancer then routes by the
//! `sid` parameter); `--cookie NAME` sets the sticky cookie `NAME=<sid>` on every handshake
//! (the reference's `cookie` option, for HAProxy's `cookie NAME prefix`).
//! `--cluster redis://HOST:PORT` (with `--node NAME`; the binding's `cluster` feature) makes
//! the server a node of a cluster on Redis: any node serves any request, relaying those of
//! other nodes' sessions, so a balancer needs no stickiness.
//!
//! The text message `__stats` is answered (instead of echoed) with the server's counters
//! ([`EngineIo::metrics`](engineio_driver::EngineIo::metrics)) as a JSON object, the same as
//! the demo's `/metrics`: `{"runtime":..,"sessions_open":N,"on_polling":N,..,
//! "closes":[N,N,N,N,N,N],..}`, the closes by reason as in
//! `MetricsSnapshot::closes` (transport close, transport error, ping timeout, parse error,
//! forced close, server shutting down). The load tool (`tests/src/bin/load/`) asks it to know
//! when the server's sessions are back to zero.

use std::sync::Arc;
use std::time::Duration;

use engineio_driver::proto::Message;
use engineio_driver::session::{CookieConfig, CorsConfig, CorsOrigin, DeflateConfig, SidPrefix};
use engineio_driver::{ServerConfig, Socket, SocketEvent};

fn usage() -> ! {
    eprintln!(
        "usage: echo --addr HOST:PORT [--path P] [--ping-interval MS] [--ping-timeout MS] \
         [--max-payload BYTES] [--allow-eio3] [--cors-origin ORIGIN] [--deflate] [--node NAME] \
         [--sid-prefix PREFIX] [--cookie NAME] [--cluster redis://HOST:PORT]"
    );
    std::process::exit(2)
}

/// The command line.
pub struct Args {
    /// Where to listen.
    pub addr: String,
    /// The server's configuration.
    pub config: ServerConfig,
    /// The node's name, the answer to `__node`.
    pub node: Option<Arc<str>>,
    /// `--cluster`: the Redis of the cluster.
    pub cluster: Option<String>,
}

impl Args {
    /// The server's builder, a cluster node if `--cluster` was given.
    pub fn builder<R: engineio_driver::Runtime + Default>(&self) -> engineio_driver::Builder<R> {
        let builder = engineio_driver::EngineIo::<R>::builder(self.config.clone());
        match &self.cluster {
            None => builder,
            #[cfg(feature = "cluster")]
            Some(redis) => {
                let name = self.node.as_deref().unwrap_or_else(|| {
                    eprintln!("--cluster needs --node NAME");
                    usage()
                });
                match engineio_driver::ClusterConfig::new(redis, name) {
                    Ok(node) => builder.cluster(node),
                    Err(e) => {
                        eprintln!("{e}");
                        usage()
                    }
                }
            }
            #[cfg(not(feature = "cluster"))]
            Some(_) => {
                eprintln!("--cluster needs the binding's `cluster` feature (--features cluster)");
                std::process::exit(2)
            }
        }
    }
}

/// The address to listen on and the server's configuration, from the command line.
pub fn args() -> Args {
    let mut addr = String::from("127.0.0.1:3000");
    let mut config = ServerConfig::default();
    let mut node = None;
    let mut cluster = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--addr" => addr = value(),
            "--path" => config.path = value(),
            "--ping-interval" => {
                config.ping_interval =
                    Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--ping-timeout" => {
                config.ping_timeout =
                    Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--max-payload" => config.max_payload = value().parse().unwrap_or_else(|_| usage()),
            "--allow-eio3" => config.allow_eio3 = true,
            "--deflate" => config.per_message_deflate = Some(DeflateConfig::default()),
            "--node" => node = Some(Arc::from(value())),
            "--cluster" => cluster = Some(value()),
            "--sid-prefix" => {
                config.sid_prefix = Some(value().parse().unwrap_or_else(
                    |e: <SidPrefix as std::str::FromStr>::Err| {
                        eprintln!("{e}");
                        usage()
                    },
                ))
            }
            "--cookie" => {
                config.cookie = Some(CookieConfig {
                    name: value(),
                    ..CookieConfig::default()
                })
            }
            "--cors-origin" => {
                let origin = value();
                config.cors = Some(CorsConfig {
                    origin: if origin == "*" {
                        CorsOrigin::Any
                    } else {
                        CorsOrigin::List(vec![origin])
                    },
                    credentials: true,
                    ..CorsConfig::default()
                });
            }
            _ => usage(),
        }
    }
    Args {
        addr,
        config,
        node,
        cluster,
    }
}

/// Sends every message back on its session, text as text, binary as binary; with a node
/// name, answers `__node` with it; answers `__stats` with `engine`'s counters (`metrics::metrics_json`).
pub async fn echo<R: engineio_driver::Runtime>(
    mut socket: Socket,
    node: Option<Arc<str>>,
    engine: engineio_driver::EngineIo<R>,
) {
    while let Some(event) = socket.recv().await {
        if let SocketEvent::Message(mut m) = event {
            if let Message::Text(t) = &m {
                match (t.as_str(), &node) {
                    ("__node", Some(name)) => m = Message::from(name.to_string()),
                    ("__stats", _) => {
                        let stats = crate::metrics::metrics_json(&engine.metrics(), crate::RUNTIME);
                        m = Message::from(stats)
                    }
                    _ => {}
                }
            }
            if socket.send(m).await.is_err() {
                break;
            }
        }
    }
}
