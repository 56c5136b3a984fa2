//! The checks of a run and its figures, as JSON and as text.

use serde_json::{json, Value};

use crate::server::Sample;

/// The named checks of a run, each passed or failed with what was seen.
#[derive(Debug, Default)]
pub struct Checks(Vec<(String, bool, String)>);

impl Checks {
    /// Records the check `name`: `ok`, and what was seen.
    pub fn check(&mut self, name: &str, ok: bool, seen: String) {
        self.0.push((name.to_owned(), ok, seen));
    }

    /// Whether every check passed.
    pub fn all_ok(&self) -> bool {
        self.0.iter().all(|c| c.1)
    }

    /// The checks as JSON.
    pub fn to_json(&self) -> Value {
        self.0
            .iter()
            .map(|(name, ok, seen)| json!({ "name": name, "ok": ok, "seen": seen }))
            .collect()
    }
}

/// The server's figures over a run: at the start, the largest seen (with every session
/// open, for the load), after (sessions closed).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerFigures {
    /// Before the first session.
    pub start: Sample,
    /// The largest RSS and descriptors sampled while the sessions were open.
    pub peak: Sample,
    /// After every session closed.
    pub after: Sample,
    /// What `after` is held to.
    pub baseline: Sample,
    /// What the baseline is, in the check's name.
    pub baseline_name: &'static str,
}

impl ServerFigures {
    /// RSS and descriptors as JSON; `per_session` divides the rise to the peak.
    pub fn to_json(self, per_session: u64) -> Value {
        let rise = self.peak.rss_kb.saturating_sub(self.start.rss_kb);
        json!({
            "rss_kb": {
                "start": self.start.rss_kb,
                "peak": self.peak.rss_kb,
                "after": self.after.rss_kb,
                "baseline": self.baseline.rss_kb,
                "high_water_mark": self.after.hwm_kb,
            },
            "anon_kb": {
                "start": self.start.anon_kb,
                "peak": self.peak.anon_kb,
                "after": self.after.anon_kb,
            },
            "rss_per_session_bytes": rise * 1024 / per_session.max(1),
            "fds": {
                "start": self.start.fds,
                "peak": self.peak.fds,
                "after": self.after.fds,
            },
        })
    }

    /// The check every run makes on the server's memory after it: RSS within `bound_mib` of
    /// the baseline.
    pub fn check(self, checks: &mut Checks, bound_mib: u64) {
        let rise = self.after.rss_kb.saturating_sub(self.baseline.rss_kb);
        checks.check(
            &format!(
                "server RSS back within {bound_mib} MiB of {}",
                self.baseline_name
            ),
            rise <= bound_mib * 1024,
            format!(
                "{} at the start, {} at the baseline, {} after ({:+.1} MiB from the baseline)",
                mib(self.start.rss_kb),
                mib(self.baseline.rss_kb),
                mib(self.after.rss_kb),
                (self.after.rss_kb as f64 - self.baseline.rss_kb as f64) / 1024.0
            ),
        );
    }
}

/// KiB as `12.3 MiB`.
pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

/// Microseconds as milliseconds, `1.234 ms`.
pub fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

/// The report as lines of text, for people.
pub fn text(report: &Value) -> String {
    let c = &report["client"];
    let s = &report["server"];
    let l = &report["latency"];
    let k = &report["connect"];
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let mut out = format!(
        "{} run: {} sessions ({}), {} s of traffic after {:.1} s of opening\n",
        report["mode"].as_str().unwrap_or("?"),
        u(&report["sessions"]),
        report["mix"],
        report["duration_s"],
        report["ramp_s"].as_f64().unwrap_or(0.0),
    );
    out += &format!(
        "messages: {} sent ({} text, {} binary), {} echoed; lost {}, duplicated {}, reordered {}, bad {}\n",
        u(&c["messages_sent"]),
        u(&c["text_sent"]),
        u(&c["binary_sent"]),
        u(&c["echoes_received"]),
        u(&c["lost"]),
        u(&c["duplicated"]),
        u(&c["reordered"]),
        u(&c["bad"]),
    );
    out += &format!(
        "sessions: {} opened, {} closed cleanly, {} closed unexpectedly, {} upgraded; {} heartbeats\n",
        u(&c["sessions_opened"]),
        u(&c["sessions_closed_clean"]),
        u(&c["unexpected_closes"]),
        u(&c["upgraded"]),
        u(&c["heartbeats"]),
    );
    out += &format!(
        "errors: {} {}\n",
        u(&report["errors"]),
        report["error_kinds"]
    );
    out += &format!(
        "echo round trip: p50 {}, p99 {}, p99.9 {}, max {} ({} echoes); handshake p50 {}, p99 {}, max {}\n",
        ms(u(&l["p50_us"])),
        ms(u(&l["p99_us"])),
        ms(u(&l["p999_us"])),
        ms(u(&l["max_us"])),
        u(&l["count"]),
        ms(u(&k["p50_us"])),
        ms(u(&k["p99_us"])),
        ms(u(&k["max_us"])),
    );
    let rss = &s["rss_kb"];
    let anon = &s["anon_kb"];
    out += &format!(
        "server RSS: {} at the start, {} peak, {} after (anonymous: {}, {}, {}); {} bytes per session\n",
        mib(u(&rss["start"])),
        mib(u(&rss["peak"])),
        mib(u(&rss["after"])),
        mib(u(&anon["start"])),
        mib(u(&anon["peak"])),
        mib(u(&anon["after"])),
        u(&s["rss_per_session_bytes"]),
    );
    for (mode, h) in report["latency_by_mode"].as_object().into_iter().flatten() {
        out += &format!(
            "  echo round trip, {mode}: p50 {}, p99 {}, max {}\n",
            ms(u(&h["p50_us"])),
            ms(u(&h["p99_us"])),
            ms(u(&h["max_us"])),
        );
    }
    let cpu = &report["cpu"];
    out += &format!(
        "CPU: server {:.1} s ({} µs per echo), tool {:.1} s ({} µs per echo)\n",
        u(&cpu["server_ms"]) as f64 / 1000.0,
        u(&cpu["server_us_per_echo"]),
        u(&cpu["tool_ms"]) as f64 / 1000.0,
        u(&cpu["tool_us_per_echo"]),
    );
    let fds = &s["fds"];
    out += &format!(
        "server descriptors: {} at the start, {} peak, {} after; open sessions after: {}\n",
        u(&fds["start"]),
        u(&fds["peak"]),
        u(&fds["after"]),
        s["sessions_after"],
    );
    for check in report["checks"].as_array().into_iter().flatten() {
        out += &format!(
            "{} {}: {}\n",
            if check["ok"] == true { "ok  " } else { "FAIL" },
            check["name"].as_str().unwrap_or("?"),
            check["seen"].as_str().unwrap_or("?"),
        );
    }
    out
}
