//! `client-pipe`: our own client's throughput on one connection (issue 12: "one client
//! connection sustains at least the pipelined rate the server does"). One `engineio-tokio`
//! client on a current-thread runtime keeps `--window` messages in flight over WebSocket to an
//! echo server for `--seconds`, checks every echo, and prints one JSON line: echoes per
//! second and its own user and system CPU per echo (microseconds).
//!
//! ```text
//! client-pipe --url http://127.0.0.1:PORT/engine.io/ [--seconds S (5)] [--window W (256)]
//!     [--size BYTES (32)] [--transport websocket|polling (websocket)] [--label NAME]
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
[--window W] [--size BYTES] [--transport websocket|polling] [--label NAME]";

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
    let mut config = ClientConfig::new(url.parse().map_err(|e| format!("{e}"))?);
    config.transports = vec![transport];
    config.upgrade = false;
    let mut client = Client::connect(config)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let payload = "x".repeat(size.saturating_sub(8));
    let permits = Arc::new(Semaphore::new(window));
    let sender = client.sender();
    let send_permits = permits.clone();
    let body = payload.clone();
    tokio::spawn(async move {
        for i in 0u64.. {
            let Ok(p) = send_permits.acquire().await else {
                return;
            };
            p.forget();
            if sender.send(format!("{i:08}{body}")).await.is_err() {
                return;
            }
        }
    });
    let pid = std::process::id();
    // Warm up for a tenth of the run, then measure.
    let warm = Duration::from_secs_f64(seconds / 10.0);
    let mut expected = 0u64;
    let mut measuring: Option<(Instant, procstat::Cpu, u64)> = None;
    let started = Instant::now();
    loop {
        let now = Instant::now();
        match &measuring {
            None if now - started >= warm => {
                measuring = Some((now, procstat::cpu(pid), expected));
            }
            Some((t0, cpu0, n0)) if now - *t0 >= Duration::from_secs_f64(seconds) => {
                let cpu = procstat::cpu(pid).since(*cpu0);
                let n = (expected - n0) as f64;
                let secs = (now - *t0).as_secs_f64();
                return Ok(json!({
                    "client": args.str("label").unwrap_or("ours-tokio"),
                    "transport": format!("{transport:?}").to_lowercase(),
                    "window": window,
                    "size": size,
                    "echoes": n,
                    "echoes_per_s": (n / secs).round(),
                    "client_user_us": cpu.user.as_secs_f64() * 1e6 / n,
                    "client_sys_us": cpu.system.as_secs_f64() * 1e6 / n,
                }));
            }
            _ => {}
        }
        match client.recv().await {
            Some(ClientSocketEvent::Message(Message::Text(t))) => {
                let got: Option<u64> = t.as_str().get(..8).and_then(|s| s.parse().ok());
                if got != Some(expected) || t.len() != 8 + payload.len() {
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
