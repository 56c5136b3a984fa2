//! What every scenario shares: its configuration, the measured window (wall time and the
//! server's CPU over it) and the result it reports.

use std::sync::Arc;
use std::time::Duration;

use engineio_bench::net::Target;
use engineio_bench::procstat::{self, Cpu};
use engineio_bench::stats::Samples;
use engineio_bench::Result;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A scenario's parameters.
pub struct Config {
    /// The server.
    pub target: Arc<Target>,
    /// How many sessions (or concurrent dances).
    pub sessions: usize,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// The server's process id (0: no CPU or memory figures).
    pub pid: u32,
}

/// The measured window: from [`Window::start`] to its end, the server's CPU read at both ends.
pub struct Window {
    pid: u32,
    start: Instant,
    /// When operations stop counting (and sessions stop starting new ones).
    pub end: Instant,
    cpu: Cpu,
}

impl Window {
    /// Starts the window now, for `cfg.seconds`.
    pub fn start(cfg: &Config) -> Window {
        let start = Instant::now();
        Window {
            pid: cfg.pid,
            start,
            end: start + Duration::from_secs_f64(cfg.seconds),
            cpu: procstat::cpu(cfg.pid),
        }
    }

    /// Waits for the end of the window; returns its length and the server's CPU over it.
    pub async fn finish(self) -> (Duration, Cpu) {
        tokio::time::sleep_until(self.end).await;
        let cpu = procstat::cpu(self.pid).since(self.cpu);
        (self.start.elapsed(), cpu)
    }
}

/// A scenario's result.
#[derive(Default)]
pub struct Measured {
    /// The latency of every operation completed in the window.
    pub samples: Samples,
    /// The window's length.
    pub elapsed: Duration,
    /// The server's CPU over the window.
    pub cpu: Cpu,
    /// What one operation is (`echo`, `session`).
    pub unit: &'static str,
    /// Sessions (or operations) that failed, and the first failure.
    pub errors: u64,
    /// The first error's message.
    pub first_error: Option<String>,
    /// Scenario-specific fields.
    pub extra: Map<String, Value>,
}

impl Measured {
    /// Adds the outcome of a session task: its samples, or its error.
    pub fn absorb(&mut self, outcome: Result<Samples>) {
        match outcome {
            Ok(samples) => self.samples.merge(samples),
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Counts one error.
    pub fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    /// Joins session tasks (each bounded by its own timeouts) and absorbs their outcomes.
    pub async fn join(&mut self, tasks: Vec<JoinHandle<Result<Samples>>>) {
        for task in tasks {
            match task.await {
                Ok(outcome) => self.absorb(outcome),
                Err(e) => self.error(format!("session task failed: {e}")),
            }
        }
    }

    /// Writes the result's fields into `out`.
    pub fn report(mut self, out: &mut Map<String, Value>) {
        self.samples.sort();
        let ops = self.samples.count();
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let per_op = |d: Duration| {
            if ops == 0 {
                Value::Null
            } else {
                json!((d.as_secs_f64() * 1e6 / ops as f64 * 100.0).round() / 100.0)
            }
        };
        out.insert("unit".into(), json!(self.unit));
        out.insert("seconds".into(), json!((secs * 1000.0).round() / 1000.0));
        out.insert("ops".into(), json!(ops));
        out.insert("ops_per_s".into(), json!((ops as f64 / secs).round()));
        out.insert("p50_us".into(), json!(self.samples.percentile(50.0)));
        out.insert("p99_us".into(), json!(self.samples.percentile(99.0)));
        out.insert("p999_us".into(), json!(self.samples.percentile(99.9)));
        out.insert("user_us_per_op".into(), per_op(self.cpu.user));
        out.insert("sys_us_per_op".into(), per_op(self.cpu.system));
        out.insert("server_user_s".into(), json!(self.cpu.user.as_secs_f64()));
        out.insert("server_sys_s".into(), json!(self.cpu.system.as_secs_f64()));
        out.insert("errors".into(), json!(self.errors));
        if let Some(e) = self.first_error {
            out.insert("first_error".into(), json!(e));
        }
        out.extend(self.extra);
    }
}

/// Runs `f` on every index with at most `concurrency` at a time, in order of completion.
pub async fn bounded<T, F, Fut>(count: usize, concurrency: usize, f: F) -> Vec<Result<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    use futures_util::stream::{self, StreamExt};
    stream::iter(0..count)
        .map(f)
        .buffer_unordered(concurrency)
        .collect()
        .await
}
