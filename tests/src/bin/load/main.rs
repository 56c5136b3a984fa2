//! The load tool: many sessions of our client (engineio-tokio) against an echo server, every
//! echo checked, the server's memory and descriptors watched, and a soak mode (`--churn`).
//! See [`args::USAGE`] for the command line; `tests/load/run` and `tests/load/soak` run it at
//! scale, `tests/tests/load.rs` briefly in the test suite.
//!
//! ```text
//! load --url http://127.0.0.1:3000/engine.io/ --server-pid PID --sessions 10000 --ramp 500 \
//!     --duration 180 --json target/load/tokio.json
//! ```

mod args;
mod modes;
mod report;
mod run;
mod sampler;
mod server;
mod session;
mod stats;
mod wire;

use std::process::ExitCode;

/// Descriptors a session may hold at once (a polling session: a GET and a POST; an upgrading
/// one: those and its WebSocket), and some to spare.
fn descriptors_needed(sessions: usize) -> u64 {
    sessions as u64 * 2 + 256
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    // `RUST_LOG=engineio_driver=debug` says why a session failed.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < descriptors_needed(args.sessions) => eprintln!(
            "warning: {n} descriptors allowed (the hard limit), {} sessions may need {}",
            args.sessions,
            descriptors_needed(args.sessions)
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the descriptor limit: {e}"),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match &args.churn {
            Some(churn) => modes::churn(&args, churn).await,
            None => modes::load(&args).await,
        }
    });
    let (mut report, checks) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    report["checks"] = checks.to_json();
    report["ok"] = checks.all_ok().into();
    print!("{}", report::text(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    // Sessions still closing are not waited for.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    if checks.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
