//! The server sampled at a steady pace while the sessions run: rows kept for the figures,
//! written as CSV (the soak), and a progress line now and then.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::report::{mib, Checks};
use crate::server::{self, Sample};
use crate::session::Ctx;

/// How often progress is printed (to stderr).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One sample of the server, with the sessions' counters at the same moment.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// Seconds since the run started.
    pub t: f64,
    /// The server.
    pub server: Sample,
    /// Sessions open now.
    pub alive: u64,
    /// Sessions opened so far.
    pub opened: u64,
    /// Messages sent so far.
    pub sent: u64,
    /// Echoes received so far.
    pub echoed: u64,
    /// Errors so far.
    pub errors: u64,
    /// The tool's own CPU time so far, in milliseconds.
    pub tool_cpu_ms: u64,
}

const CSV_HEADER: &str =
    "t_s,rss_kb,anon_kb,fds,server_cpu_ms,tool_cpu_ms,sessions_alive,sessions_opened,messages_sent,echoes,errors";

impl Row {
    fn csv(&self) -> String {
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{},{}",
            self.t,
            self.server.rss_kb,
            self.server.anon_kb,
            self.server.fds,
            self.server.cpu_ms,
            self.tool_cpu_ms,
            self.alive,
            self.opened,
            self.sent,
            self.echoed,
            self.errors
        )
    }
}

/// Samples the server `pid` every `every` from `t0` until `done` turns true, printing progress
/// and writing rows to `csv`; returns the rows.
pub async fn run(
    ctx: Arc<Ctx>,
    pid: u32,
    t0: Instant,
    every: Duration,
    csv: Option<PathBuf>,
    mut done: watch::Receiver<bool>,
) -> Result<Vec<Row>, String> {
    let mut out = match csv {
        Some(path) => {
            let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut w = BufWriter::new(file);
            writeln!(w, "{CSV_HEADER}").map_err(|e| e.to_string())?;
            Some(w)
        }
        None => None,
    };
    let mut rows = Vec::new();
    let mut next = t0;
    let mut next_progress = t0 + PROGRESS_EVERY;
    // The CPU times at the last progress line, and when.
    let mut shown = (
        server::cpu_ms(&pid.to_string()),
        server::cpu_ms("self"),
        0.0,
    );
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = done.wait_for(|&d| d) => break,
        }
        next += every;
        let c = &ctx.counters;
        let row = Row {
            t: t0.elapsed().as_secs_f64(),
            server: server::sample(pid)?,
            alive: c.alive.get(),
            opened: c.opened.get(),
            sent: c.sent(),
            echoed: c.echoed.get(),
            errors: ctx.errors.total(),
            tool_cpu_ms: server::cpu_ms("self"),
        };
        if let Some(w) = out.as_mut() {
            writeln!(w, "{}", row.csv())
                .and_then(|()| w.flush())
                .map_err(|e| e.to_string())?;
        }
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            let (cpu, tool_cpu, t) = shown;
            let pct = |ms: u64| ms as f64 / 10.0 / (row.t - t).max(0.001);
            eprintln!(
                "[{:5.0} s] {} sessions open ({} opened), {} sent, {} echoed, {} errors; server {} RSS, {} fds, CPU {:.0}% (tool {:.0}%)",
                row.t,
                row.alive,
                row.opened,
                row.sent,
                row.echoed,
                row.errors,
                mib(row.server.rss_kb),
                row.server.fds,
                pct(row.server.cpu_ms - cpu),
                pct(row.tool_cpu_ms - tool_cpu),
            );
            shown = (row.server.cpu_ms, row.tool_cpu_ms, row.t);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The largest RSS and descriptors among `rows`.
pub fn peak(rows: &[Row]) -> Sample {
    rows.iter().fold(Sample::default(), |p, r| Sample {
        rss_kb: p.rss_kb.max(r.server.rss_kb),
        hwm_kb: p.hwm_kb.max(r.server.hwm_kb),
        anon_kb: p.anon_kb.max(r.server.anon_kb),
        fds: p.fds.max(r.server.fds),
        cpu_ms: p.cpu_ms.max(r.server.cpu_ms),
    })
}

/// The soak's flatness: the largest RSS of the last third of `rows` at most `bound_mib` above
/// the largest of the first third, and the largest descriptor count at most 10% above. The
/// figures, as JSON.
pub fn flat(rows: &[Row], bound_mib: u64, checks: &mut Checks) -> serde_json::Value {
    let third = rows.len() / 3;
    let (first, last) = (peak(&rows[..third]), peak(&rows[rows.len() - third..]));
    let enough = third >= 2;
    checks.check(
        &format!("server RSS flat under churn (last third within {bound_mib} MiB of the first)"),
        enough && last.rss_kb <= first.rss_kb + bound_mib * 1024,
        format!(
            "largest {} in the first third, {} in the last ({} samples)",
            mib(first.rss_kb),
            mib(last.rss_kb),
            rows.len()
        ),
    );
    checks.check(
        "server descriptors flat under churn (last third within 10% of the first)",
        enough && last.fds * 10 <= first.fds * 11,
        format!(
            "largest {} in the first third, {} in the last",
            first.fds, last.fds
        ),
    );
    serde_json::json!({
        "samples": rows.len(),
        "rss_kb_first_third_max": first.rss_kb,
        "rss_kb_last_third_max": last.rss_kb,
        "fds_first_third_max": first.fds,
        "fds_last_third_max": last.fds,
    })
}
