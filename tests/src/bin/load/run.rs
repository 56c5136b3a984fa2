//! A run in progress, whatever its mode: what the sessions share, the server's sampler, the
//! wait for the server to come back to rest after the sessions, and the checks and report at
//! the end.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

use crate::args::{Args, Churn, Mode};
use crate::report::{Checks, ServerFigures};
use crate::sampler::{self, Row};
use crate::server::{self, Sample};
use crate::session::{Ctx, Plan};
use crate::stats::{Counters, Errors, Histogram};

/// How long the sessions may take to end once told to stop (drain and close included).
const END_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the server may take to count its sessions down to zero.
const SESSIONS_GONE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to close its last descriptors once its sessions are gone.
const FDS_BACK_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the server's RSS is watched going down once its sessions are gone (an allocator
/// may give memory back a little later: jemalloc's decay, for one).
const RSS_SETTLE: Duration = Duration::from_secs(10);

/// The server at rest after a round (or the churn): every session closed.
#[derive(Clone, Debug)]
pub struct Rest {
    /// Sessions the server still counted (its `__stats`, less the asking session), if known.
    pub sessions: Option<u64>,
    /// Its last `__stats` answer, or why there is none.
    pub stats: Result<Value, String>,
    /// Its RSS and descriptors.
    pub sample: Sample,
}

/// A run in progress.
pub struct Run<'a> {
    /// The command line.
    pub args: &'a Args,
    /// What the sessions share.
    pub ctx: Arc<Ctx>,
    sampling: watch::Sender<bool>,
    sampler: JoinHandle<Result<Vec<Row>, String>>,
    /// When the run began.
    pub t0: Instant,
    /// The server before the first session.
    pub start: Sample,
    /// Its `__stats` then.
    stats_start: Value,
    tool_cpu_start: u64,
}

/// A stop for a batch of sessions.
pub struct Stop(watch::Sender<bool>);

impl Stop {
    /// A new stop, not given yet.
    pub fn new() -> Stop {
        Stop(watch::channel(false).0)
    }

    /// The plan of a session that stops with this stop, or after `life`.
    pub fn plan(&self, life: Option<Duration>) -> Plan {
        Plan {
            stop: self.0.subscribe(),
            life,
        }
    }

    /// Tells every session to stop, and waits (bounded) for `tasks` to end; an error is
    /// counted if they do not.
    pub async fn stop_all(self, ctx: &Ctx, tasks: Vec<JoinHandle<()>>) {
        self.0.send_replace(true);
        let ended = timeout(END_TIMEOUT, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
        if ended.is_err() {
            let alive = ctx.counters.alive.get();
            ctx.errors.add(
                "sessions did not end",
                format!("{alive} still open {END_TIMEOUT:?} after the stop"),
            );
        }
    }
}

impl<'a> Run<'a> {
    /// Samples the server's start and starts sampling it every `every` (into the CSV of
    /// `churn`, if any).
    pub async fn begin(
        args: &'a Args,
        every: Duration,
        churn: Option<&Churn>,
    ) -> Result<Self, String> {
        // The server's counters before the run (its closes by reason), asked on a session
        // of its own; then its resting descriptors once that session is gone.
        let before = server::sample(args.server_pid)?;
        let stats_start = server::stats_until(&args.base, u64::MAX, SESSIONS_GONE_TIMEOUT).await?;
        server::sample_until_fds(args.server_pid, before.fds, FDS_BACK_TIMEOUT).await?;
        let start = server::sample(args.server_pid)?;
        let ctx = Arc::new(Ctx {
            base: args.base.clone(),
            interval: args.interval,
            max_size: args.max_size,
            counters: Counters::default(),
            errors: Errors::default(),
            latency: Histogram::default(),
            latency_by_mode: Default::default(),
            connect: Histogram::default(),
        });
        let t0 = Instant::now();
        let (sampling, done) = watch::channel(false);
        let csv = churn.and_then(|c| c.csv.clone());
        let pid = args.server_pid;
        let sampler = tokio::spawn(sampler::run(ctx.clone(), pid, t0, every, csv, done));
        Ok(Run {
            args,
            ctx,
            sampling,
            sampler,
            t0,
            start,
            stats_start,
            tool_cpu_start: server::cpu_ms("self"),
        })
    }

    /// Seconds since the run began.
    pub fn elapsed(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// Once every session has ended: waits for the server to count none (asking `__stats`),
    /// to give its descriptors back, and for its RSS to stop going down.
    pub async fn rest(&self) -> Result<Rest, String> {
        let pid = self.args.server_pid;
        // The stats session itself is open while it asks.
        let stats = server::stats_until(&self.args.base, 1, SESSIONS_GONE_TIMEOUT).await;
        let sessions = stats
            .as_ref()
            .ok()
            .and_then(|s| s["sessions_open"].as_u64())
            .map(|n| n.saturating_sub(1));
        let fds = server::sample_until_fds(pid, self.start.fds, FDS_BACK_TIMEOUT).await?;
        let deadline = Instant::now() + RSS_SETTLE;
        let mut sample = server::sample(pid)?;
        while Instant::now() < deadline {
            sleep(Duration::from_secs(1)).await;
            let next = server::sample(pid)?;
            let going_down = next.rss_kb < sample.rss_kb;
            sample = next;
            if !going_down {
                break;
            }
        }
        sample.fds = fds.fds;
        Ok(Rest {
            sessions,
            stats,
            sample,
        })
    }

    /// Stops sampling; the checks of the whole run and its report. `rests` are the server at
    /// rest after each round (or the churn), `peak_windows` the times (seconds since the
    /// start) when every session was open, `baseline` the RSS the last rest is held to.
    pub async fn finish(
        self,
        mode: &str,
        rests: &[Rest],
        peak_windows: &[(f64, f64)],
        baseline: Baseline,
        ramp: f64,
        checks: &mut Checks,
    ) -> Result<(Value, Vec<Row>), String> {
        self.sampling.send_replace(true);
        let rows = self.sampler.await.map_err(|e| e.to_string())??;
        let args = self.args;
        let last = rests.last().ok_or("no round ended")?;
        let during: Vec<Row> = rows
            .iter()
            .copied()
            .filter(|r| peak_windows.iter().any(|&(a, b)| r.t >= a && r.t <= b))
            .collect();
        let (baseline, baseline_name) = match baseline {
            Baseline::Start => (self.start, "the start"),
            Baseline::Sample(s, name) => (s, name),
            Baseline::FirstThird => (
                sampler::peak(&during[..during.len() / 3]),
                "the largest of the first third",
            ),
        };
        let figures = ServerFigures {
            start: self.start,
            peak: sampler::peak(&during),
            after: last.sample,
            baseline,
            baseline_name,
        };
        let c = &self.ctx.counters;
        let errors = self.ctx.errors.total();
        let (kinds, samples) = self.ctx.errors.to_json();
        checks.check(
            "no errors",
            errors == 0,
            format!("{errors} errors: {kinds}"),
        );
        let anomalies = c.lost.get() + c.duplicated.get() + c.reordered.get() + c.bad.get();
        checks.check(
            "every echo came back once, in order and intact",
            anomalies == 0 && c.echoed.get() == c.sent() && c.sent() > 0,
            format!(
                "{} sent, {} echoed, {} lost, {} duplicated, {} reordered, {} bad",
                c.sent(),
                c.echoed.get(),
                c.lost.get(),
                c.duplicated.get(),
                c.reordered.get(),
                c.bad.get()
            ),
        );
        checks.check(
            "no session closed but by us",
            c.unexpected_closes.get() == 0 && c.closed_clean.get() == c.opened.get(),
            format!(
                "{} opened, {} closed by us, {} otherwise",
                c.opened.get(),
                c.closed_clean.get(),
                c.unexpected_closes.get()
            ),
        );
        checks.check(
            "heartbeats ran",
            c.heartbeats.get() > 0,
            format!("{} heartbeats", c.heartbeats.get()),
        );
        for (i, rest) in rests.iter().enumerate() {
            let round = if rests.len() > 1 {
                format!(" after round {}", i + 1)
            } else {
                String::new()
            };
            checks.check(
                &format!("server sessions back to zero{round}"),
                rest.sessions == Some(0),
                match &rest.stats {
                    Ok(s) => format!("__stats: {s}"),
                    Err(e) => e.clone(),
                },
            );
            checks.check(
                &format!("server descriptors back to the start{round}"),
                rest.sample.fds == self.start.fds,
                format!("{} at the start, {}", self.start.fds, rest.sample.fds),
            );
        }
        if let Ok(stats) = &last.stats {
            // Every session ended by the client's close: the server says `transport close`.
            let closes = |s: &Value, i: usize| s["closes"][i].as_u64().unwrap_or(0);
            let other: Vec<u64> = (1..6)
                .map(|i| closes(stats, i).saturating_sub(closes(&self.stats_start, i)))
                .collect();
            checks.check(
                "the server closed no session itself",
                other.iter().all(|&n| n == 0),
                format!(
                    "closes for transport error, ping timeout, parse error, forced close, \
                     shutdown during the run: {other:?}"
                ),
            );
        }
        figures.check(checks, args.rss_bound_mib);
        let server_cpu = last.sample.cpu_ms.saturating_sub(self.start.cpu_ms);
        let tool_cpu = server::cpu_ms("self").saturating_sub(self.tool_cpu_start);
        let per_echo = |ms: u64| ms * 1000 / c.echoed.get().max(1);
        let mut server = figures.to_json(args.sessions as u64);
        server["sessions_after"] = json!(last.sessions);
        server["stats_after"] = last.stats.clone().unwrap_or(Value::Null);
        server["rounds"] = rests
            .iter()
            .map(|r| {
                json!({
                    "sessions_after": r.sessions,
                    "rss_kb_after": r.sample.rss_kb,
                    "anon_kb_after": r.sample.anon_kb,
                    "fds_after": r.sample.fds,
                })
            })
            .collect();
        let report = json!({
            "mode": mode,
            "url": args.url,
            "server_pid": args.server_pid,
            "sessions": args.sessions,
            "mix": args.mix.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "rounds": rests.len(),
            "duration_s": args.duration.as_secs_f64(),
            "ramp_s": ramp,
            "interval_ms": args.interval.as_millis() as u64,
            "threads": args.threads,
            "client": c.to_json(),
            "errors": errors,
            "error_kinds": kinds,
            "error_samples": samples,
            "latency": self.ctx.latency.to_json(),
            "latency_by_mode": Mode::ALL
                .iter()
                .filter(|m| args.mix.contains(m))
                .map(|m| (m.name().to_owned(), self.ctx.latency_by_mode[m.index()].to_json()))
                .collect::<serde_json::Map<_, _>>(),
            "connect": self.ctx.connect.to_json(),
            "cpu": {
                "server_ms": server_cpu,
                "tool_ms": tool_cpu,
                "server_us_per_echo": per_echo(server_cpu),
                "tool_us_per_echo": per_echo(tool_cpu),
            },
            "server": server,
        });
        Ok((report, rows))
    }
}

/// What the RSS at a run's end is held to.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// The server's start.
    Start,
    /// This sample, so named.
    Sample(Sample, &'static str),
    /// The largest sample of the first third of the peak windows (the churn's).
    FirstThird,
}
