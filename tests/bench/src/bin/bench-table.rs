//! `bench-table`: the Markdown tables of a benchmark run from its JSON lines (one per
//! scenario, server and round, as `loadgen` prints them): every figure averaged over rounds,
//! then the ratios of our servers (`tokio`, `smol`) to the raw floor and to engineioxide.
//!
//! ```text
//! bench-table target/bench/results-STAMP.jsonl
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

/// Our servers, the peers, in the order rows are printed.
const SERVERS: [&str; 5] = ["tokio", "smol", "raw", "eioxide", "node"];
const SCENARIOS: [&str; 6] = [
    "ws-echo",
    "ws-pipelined",
    "ws-16k",
    "polling-echo",
    "handshake-upgrade",
    "idle",
];

/// The rounds of one scenario on one server.
#[derive(Default)]
struct Runs(Vec<Value>);

impl Runs {
    /// The mean of field `key` over the rounds that have it.
    fn mean(&self, key: &str) -> Option<f64> {
        let values: Vec<f64> = self.0.iter().filter_map(|v| v[key].as_f64()).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    fn sum(&self, key: &str) -> u64 {
        self.0.iter().filter_map(|v| v[key].as_u64()).sum()
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 100.0 => format!("{:.0}", v),
        Some(v) if v >= 10.0 => format!("{:.1}", v),
        Some(v) => format!("{:.2}", v),
    }
}

fn ratio(ours: Option<f64>, peer: Option<f64>) -> String {
    match (ours, peer) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: bench-table RESULTS.jsonl");
        std::process::exit(2);
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(1);
    });
    let mut runs: BTreeMap<(String, String), Runs> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let key = |k: &str| v[k].as_str().unwrap_or("?").to_owned();
        if let Some(e) = v["failed"].as_str() {
            failures.push(format!("{} / {}: {e}", key("server"), key("scenario")));
            continue;
        }
        runs.entry((key("scenario"), key("server")))
            .or_default()
            .0
            .push(v);
    }
    let get = |sc: &str, sv: &str| runs.get(&(sc.to_owned(), sv.to_owned()));
    let rounds = runs.values().map(|r| r.0.len()).max().unwrap_or(0);
    println!("Averages over {rounds} round(s). One op: an echo (a message to the server and back), or a whole session (handshake-upgrade, idle). CPU: the server's, per op.\n");
    println!("| scenario | server | ops/s | p50 µs | p99 µs | p99.9 µs | user µs/op | sys µs/op | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for sc in SCENARIOS.iter().filter(|s| **s != "idle") {
        for sv in SERVERS {
            if let Some(r) = get(sc, sv) {
                println!(
                    "| {sc} | {sv} | {} | {} | {} | {} | {} | {} | {} |",
                    fmt(r.mean("ops_per_s")),
                    fmt(r.mean("p50_us")),
                    fmt(r.mean("p99_us")),
                    fmt(r.mean("p999_us")),
                    fmt(r.mean("user_us_per_op")),
                    fmt(r.mean("sys_us_per_op")),
                    r.sum("errors")
                );
            }
        }
    }
    let ours_ran = runs.keys().any(|(_, sv)| sv == "tokio" || sv == "smol");
    if !ours_ran {
        return print_rest(&runs, &failures);
    }
    println!("\nRatios of ours to the raw floor and to engineioxide (ops/s: higher is better; CPU per op: lower is better):\n");
    println!("| scenario | ours | ops/s /raw | user /raw | sys /raw | ops/s /eioxide | user /eioxide | sys /eioxide |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for sc in SCENARIOS.iter().filter(|s| **s != "idle") {
        for ours in ["tokio", "smol"] {
            let Some(o) = get(sc, ours) else { continue };
            let cell =
                |peer: &str, k: &str| ratio(o.mean(k), get(sc, peer).and_then(|p| p.mean(k)));
            println!(
                "| {sc} | {ours} | {} | {} | {} | {} | {} | {} |",
                cell("raw", "ops_per_s"),
                cell("raw", "user_us_per_op"),
                cell("raw", "sys_us_per_op"),
                cell("eioxide", "ops_per_s"),
                cell("eioxide", "user_us_per_op"),
                cell("eioxide", "sys_us_per_op")
            );
        }
    }
    print_rest(&runs, &failures);
}

/// The idle table and the failed runs.
fn print_rest(runs: &BTreeMap<(String, String), Runs>, failures: &[String]) {
    let get = |sc: &str, sv: &str| runs.get(&(sc.to_owned(), sv.to_owned()));
    if SERVERS.iter().any(|sv| get("idle", sv).is_some()) {
        println!("\nIdle WebSocket sessions: the server's RSS (KiB) before, with all held, 3 s after all closed:\n");
        println!("| server | sessions | before | held | after | KiB/session | /raw | /eioxide | errors |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let kb = |sv: &str| get("idle", sv).and_then(|r| r.mean("kb_per_session"));
        for sv in SERVERS {
            if let Some(r) = get("idle", sv) {
                println!(
                    "| {sv} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    fmt(r.mean("sessions")),
                    fmt(r.mean("rss_before_kb")),
                    fmt(r.mean("rss_held_kb")),
                    fmt(r.mean("rss_after_kb")),
                    fmt(kb(sv)),
                    ratio(kb(sv), kb("raw")),
                    ratio(kb(sv), kb("eioxide")),
                    r.sum("errors")
                );
            }
        }
    }
    if !failures.is_empty() {
        println!("\nFailed runs:\n");
        for f in failures {
            println!("- {f}");
        }
    }
}
