//! `client-pipe`: our own client's throughput on one connection (issue 12: "one client
//! connection sustains at least the pipelined rate the server does"). One `engineio-tokio`
//! client on a current-thread runtime keeps `--window` messages in flight over WebSocket to an
//! echo server for `--seconds`, checks every echo, and prints one JSON line: echoes per
//! second and its own user and system CPU per echo (microseconds).
//!
//!
//! With `--deflate` it offers permessage-deflate and sends chat-like JSON text (which
//! compresses about as real traffic does) instead of one repeated letter; with
//! `--server-pid` it also reports the server's CPU per echo. The bytes through the loopback
//! interface per echo (both directions, TCP/IP headers included) are always reported.
//!
//! ```text
//! client-pipe --url http://127.0.0.1:PORT/engine.io/ [--seconds S (5)] [--window W (256)]
//!     [--size BYTES (32)] [--transport websocket|polling (websocket)] [--label NAME]
//!     [--deflate] [--chat] [--server-pid PID]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use engineio_bench::args::Args;
use engineio_bench::procstat;
use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::session::ClientConfig;
use engineio_tokio::{Client, ClientSocketEvent};
use serde_json::json;
use tokio::sync::Semaphore;

const USAGE: &str = "client-pipe --url http://127.0.0.1:PORT/engine.io/ [--seconds S] \
[--window W] [--size BYTES] [--transport websocket|polling] [--label NAME] [--deflate] [--chat] \
[--server-pid PID]";

fn main() {
    let args = Args::from_env(USAGE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("client-pipe: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<serde_json::Value, String> {
    let url = args.str("url").ok_or("--url is required")?;
    let seconds: f64 = args.get("seconds", 5.0);
    let window: usize = args.get("window", 256);
    let size: usize = args.get("size", 32);
    let transport = match args.str("transport").unwrap_or("websocket") {
        "polling" => Transport::Polling,
        _ => Transport::Websocket,
    };
    let deflate: bool = args.get("deflate", false);
    let chat = deflate || args.get("chat", false);
    let server_pid: Option<u32> = args.str("server-pid").and_then(|p| p.parse().ok());
    let mut config = ClientConfig::new(url.parse().map_err(|e| format!("{e}"))?);
    config.transports = vec![transport];
    config.upgrade = false;
    if deflate {
        config.per_message_deflate = Some(engineio_tokio::session::DeflateConfig::default());
    }
    let mut client = Client::connect(config)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // Chat text: 256 different messages in turn (more than a 32 KiB window holds, so context
    // takeover does not see the same message again).
    let bodies: Vec<String> = if chat {
        (0..256)
            .map(|i| chat_text(size.saturating_sub(8), i))
            .collect()
    } else {
        vec!["x".repeat(size.saturating_sub(8))]
    };
    let payload_len = bodies[0].len();
    let permits = Arc::new(Semaphore::new(window));
    let sender = client.sender();
    let send_permits = permits.clone();
    let bodies = Arc::new(bodies);
    let texts = bodies.clone();
    tokio::spawn(async move {
        for i in 0u64.. {
            let Ok(p) = send_permits.acquire().await else {
                return;
            };
            p.forget();
            let body = &texts[i as usize % texts.len()];
            if sender.send(format!("{i:08}{body}")).await.is_err() {
                return;
            }
        }
    });
    let pid = std::process::id();
    // Warm up for a tenth of the run, then measure.
    let warm = Duration::from_secs_f64(seconds / 10.0);
    let mut expected = 0u64;
    type Start = (Instant, procstat::Cpu, u64, procstat::Cpu, u64);
    let mut measuring: Option<Start> = None;
    let started = Instant::now();
    loop {
        let now = Instant::now();
        match &measuring {
            None if now - started >= warm => {
                let server = server_pid.map(procstat::cpu).unwrap_or_default();
                let io = procstat::loopback_bytes();
                measuring = Some((now, procstat::cpu(pid), expected, server, io));
            }
            Some((t0, cpu0, n0, server0, io0)) if now - *t0 >= Duration::from_secs_f64(seconds) => {
                let cpu = procstat::cpu(pid).since(*cpu0);
                let server = server_pid
                    .map(procstat::cpu)
                    .unwrap_or_default()
                    .since(*server0);
                let io = procstat::loopback_bytes();
                let n = (expected - n0) as f64;
                let secs = (now - *t0).as_secs_f64();
                return Ok(json!({
                    "client": args.str("label").unwrap_or("ours-tokio"),
                    "transport": format!("{transport:?}").to_lowercase(),
                    "deflate": deflate,
                    "window": window,
                    "size": size,
                    "echoes": n,
                    "echoes_per_s": (n / secs).round(),
                    "client_user_us": cpu.user.as_secs_f64() * 1e6 / n,
                    "client_sys_us": cpu.system.as_secs_f64() * 1e6 / n,
                    "server_user_us": server.user.as_secs_f64() * 1e6 / n,
                    "server_sys_us": server.system.as_secs_f64() * 1e6 / n,
                    "loopback_bytes": (io - io0) as f64 / n,
                }));
            }
            _ => {}
        }
        match client.recv().await {
            Some(ClientSocketEvent::Message(Message::Text(t))) => {
                let got: Option<u64> = t.as_str().get(..8).and_then(|s| s.parse().ok());
                if got != Some(expected) || t.len() != 8 + payload_len {
                    return Err(format!("echo {expected}: got {:?}", t.as_str().get(..8)));
                }
                expected += 1;
                permits.add_permits(1);
            }
            Some(ClientSocketEvent::Message(m)) => return Err(format!("unexpected {m:?}")),
            Some(ClientSocketEvent::Closed { reason, .. }) => {
                return Err(format!("closed: {reason:?}"))
            }
            Some(_) => {}
            None => return Err("closed".into()),
        }
    }
}

/// About `len` bytes of chat-like JSON: a few fields and words from a small vocabulary, which
/// compresses about as chat traffic does (not as one repeated letter).
fn chat_text(len: usize, variant: u64) -> String {
    const WORDS: [&str; 24] = [
        "the", "server", "message", "hello", "socket", "upgrade", "polling", "again", "where",
        "ready", "compress", "window", "frame", "session", "client", "latency", "room", "user",
        "typing", "seen", "online", "quick", "brown", "fox",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ variant.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = String::with_capacity(len + 64);
    while out.len() < len {
        let user = next() % 1000;
        out.push_str(&format!(
            r#"{{"type":"chat","user":"u{user}","at":{},"text":""#,
            next() % 1_000_000_000
        ));
        for _ in 0..(8 + next() % 12) {
            out.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
            out.push(' ');
        }
        out.push_str("\"},");
    }
    out.truncate(len);
    out
}
