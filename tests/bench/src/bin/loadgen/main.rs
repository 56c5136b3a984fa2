//! `loadgen`: an independent Engine.IO v4 load generator (raw hyper 1 client + tokio-tungstenite;
//! not our own client, which is the thing measured against). Runs one scenario against one
//! server, bounded in sessions and time, and prints one JSON line with the result.
//!
//! ```text
//! loadgen --url http://127.0.0.1:PORT/engine.io/ --scenario NAME [--server-pid PID]
//!     [--sessions N] [--seconds S] [--sources K] [--label SERVER] [--round R]
//! ```
//!
//! Scenarios: `ws-echo` (32-byte text, one in flight per session), `ws-pipelined` (32 in flight),
//! `ws-16k` (16 KiB text, one in flight), `polling-echo` (POST a message, its echo on a parked
//! GET), `handshake-upgrade` (polling handshake, WebSocket upgrade, close: sessions/s), `idle`
//! (N idle WebSocket sessions: the server's RSS before, held, and 3 s after closing).
//!
//! One operation is one echo (a message to the server and back) or one whole session dance;
//! the server's user and system CPU per operation come from `/proc/PID/stat` over the
//! measured window.

mod idle;
mod polling;
mod upgrade;
mod window;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use engineio_bench::args::Args;
use engineio_bench::net::Target;
use engineio_bench::{raise_fd_limit, Result};
use serde_json::{json, Map, Value};

pub use window::{Config, Measured};

const USAGE: &str = "loadgen --url http://127.0.0.1:PORT/engine.io/ --scenario \
ws-echo|ws-pipelined|ws-16k|polling-echo|handshake-upgrade|idle [--server-pid PID] \
[--sessions N (50; idle: 5000)] [--seconds S (5)] [--sources K (8)] [--label NAME] [--round R]";

fn main() {
    let args = Args::from_env(USAGE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
    // Sessions still open after a failure are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn run(args: &Args) -> Result<Value> {
    let scenario = args
        .str("scenario")
        .ok_or("--scenario is required")?
        .to_owned();
    let url = args.str("url").ok_or("--url is required")?;
    let default_sessions = if scenario == "idle" { 5000 } else { 50 };
    let sessions: usize = args.get("sessions", default_sessions);
    let fd_limit = raise_fd_limit(65_536);
    if (fd_limit as usize) < sessions + 64 {
        return Err(
            format!("open-file limit {fd_limit} is too low for {sessions} sessions").into(),
        );
    }
    let cfg = Config {
        target: Arc::new(Target::new(url, args.get("sources", 8))?),
        sessions,
        seconds: args.get("seconds", 5.0),
        pid: args.get("server-pid", 0),
    };
    let measured = match scenario.as_str() {
        "ws-echo" => ws::run(&cfg, 1, 32).await?,
        "ws-pipelined" => ws::run(&cfg, 32, 32).await?,
        "ws-16k" => ws::run(&cfg, 1, 16 * 1024).await?,
        "polling-echo" => polling::run(&cfg).await?,
        "handshake-upgrade" => upgrade::run(&cfg).await?,
        "idle" => idle::run(&cfg).await?,
        other => return Err(format!("unknown scenario {other:?}\n{USAGE}").into()),
    };
    let mut out = Map::new();
    out.insert("server".into(), json!(args.str("label").unwrap_or("?")));
    out.insert("scenario".into(), json!(scenario));
    out.insert("round".into(), json!(args.get("round", 1u32)));
    out.insert("sessions".into(), json!(sessions));
    measured.report(&mut out);
    Ok(Value::Object(out))
}
