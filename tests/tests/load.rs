//! The load tool (`tests/src/bin/load/`, the `load` binary of this package) in brief against
//! our echo server, on each runtime: two rounds of 600 sessions of our client at once (200
//! polling-only, 200 WebSocket-only, 200 upgrading from polling), messages both ways every
//! two seconds for 12 s with heartbeats every 2 s (and the default ping timeout of 20 s, so a
//! busy machine slows the heartbeat without closing sessions), then every session closed. Every echo must come
//! back once, in order and intact, no session may close but by the tool, and after each round
//! the server must count zero sessions and hold the descriptors it started with; its RSS after
//! the second round must be within 16 MiB of its RSS after the first (glibc's allocator keeps
//! what it took at the first round's peak, so the first round sets the baseline; a leak shows
//! as growth from one round to the next). Latency is reported, not asserted.
//! `tests/load/run` runs the same at 10,000 sessions for minutes, and `tests/load/soak`
//! churns sessions for half an hour.

use std::process::Command;
use std::time::Duration;

use engineio_tests::{target_dir, LineProcess, Runtime, ServerProcess};
use serde_json::Value;

engineio_tests::runtime_tests!(six_hundred_sessions_twice);

/// How long the tool may run (it bounds every wait itself; this is the backstop).
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

fn six_hundred_sessions_twice(rt: Runtime) {
    let server = ServerProcess::echo(rt, &["--ping-interval", "2000"]);
    let dir = target_dir().join("load");
    std::fs::create_dir_all(&dir).expect("target/load");
    let json = dir.join(format!("test-{rt}.json"));
    let _ = std::fs::remove_file(&json);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_load"));
    cmd.args(["--url", &format!("{}/engine.io/", server.url())])
        .args(["--server-pid", &server.process.pid().to_string()])
        .args(["--sessions", "600", "--ramp", "200", "--duration", "12"])
        .args(["--interval", "2000", "--mix", "polling,websocket,upgrade"])
        .args(["--rounds", "2", "--rss-baseline", "warm"])
        .arg("--json")
        .arg(&json);
    let mut tool = LineProcess::spawn(cmd, &format!("load tool ({rt})"));
    let status = tool.wait_exit(TOOL_TIMEOUT);
    let mut out = String::new();
    while let Some(line) = tool.try_read_line(Duration::from_millis(100)) {
        out += &line;
        out.push('\n');
    }
    let context = || {
        format!(
            "{out}\n--- load tool stderr ---\n{}\n--- {} stderr ---\n{}",
            tool.stderr_tail(),
            server.name(),
            server.process.stderr_tail()
        )
    };
    let Some(status) = status else {
        panic!(
            "the load tool ({rt}) ran past {TOOL_TIMEOUT:?}\n{}",
            context()
        );
    };
    let report: Value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| panic!("no report in {} ({status})\n{}", json.display(), context()));
    eprintln!("load ({rt}):\n{out}");
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] != true)
        .collect();
    assert!(
        failed.is_empty(),
        "failed checks {failed:#?}\n{}",
        context()
    );
    assert!(status.success(), "the tool exited {status}\n{}", context());
    // The figures the checks stand on, asserted here too.
    let c = &report["client"];
    let n = |v: &Value| v.as_u64().unwrap_or(u64::MAX);
    assert_eq!(n(&report["errors"]), 0, "{}", context());
    assert_eq!(n(&c["sessions_opened"]), 1200, "{}", context());
    assert_eq!(n(&c["sessions_closed_clean"]), 1200, "{}", context());
    assert_eq!(n(&c["unexpected_closes"]), 0, "{}", context());
    assert_eq!(n(&c["upgraded"]), 400, "{}", context());
    for k in ["lost", "duplicated", "reordered", "bad"] {
        assert_eq!(n(&c[k]), 0, "{k}\n{}", context());
    }
    let sent = n(&c["messages_sent"]);
    // About a message every two seconds per session for 12 s or more, twice.
    assert!(sent >= 1200 * 3, "only {sent} messages\n{}", context());
    assert_eq!(n(&c["echoes_received"]), sent, "{}", context());
    assert!(n(&c["binary_sent"]) > 0, "{}", context());
    // Heartbeats ran (the tool holds each session's count to its heartbeat cycle).
    assert!(n(&c["heartbeats"]) >= 1200, "{}", context());
    let s = &report["server"];
    let rounds = s["rounds"].as_array().map_or(&[][..], |r| &r[..]);
    assert_eq!(rounds.len(), 2, "{}", context());
    for round in rounds {
        assert_eq!(n(&round["sessions_after"]), 0, "{}", context());
        let fds = n(&round["fds_after"]);
        assert_eq!(fds, n(&s["fds"]["start"]), "{}", context());
    }
    let rss = &s["rss_kb"];
    let baseline = n(&rounds[0]["rss_kb_after"]);
    assert!(n(&rss["after"]) <= baseline + 16 * 1024, "{}", context());
}
