//! The idle scenario: `cfg.sessions` WebSocket sessions opened and held (answering pings),
//! the server's RSS read before any, with all of them held, and 3 s after all are closed.

use std::time::Duration;

use engineio_bench::net::Ws;
use engineio_bench::procstat;
use engineio_bench::stats::Samples;
use engineio_bench::Result;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::window::{bounded, Window};
use crate::ws::{close, open, CONNECT_CONCURRENCY};
use crate::{Config, Measured};

/// How long all sessions are held once open (and the measured window, at least).
const SETTLE: Duration = Duration::from_secs(1);
/// How long after closing the sessions the last RSS is read.
const AFTER_CLOSE: Duration = Duration::from_secs(3);

/// Runs the scenario. Operations are sessions opened; their latency is the time to open one.
pub async fn run(cfg: &Config) -> Result<Measured> {
    let mut measured = Measured {
        unit: "session",
        ..Measured::default()
    };
    let before = procstat::rss_kb(cfg.pid);
    let (stop_tx, stop) = watch::channel(false);
    let window = Window::start(cfg);
    let opened = bounded(cfg.sessions, CONNECT_CONCURRENCY, |_| async {
        let start = Instant::now();
        let ws = open(&cfg.target).await?;
        Ok((ws, start.elapsed()))
    })
    .await;
    let mut tasks = Vec::new();
    for outcome in opened {
        match outcome {
            Ok((ws, took)) => {
                measured.samples.record(took);
                tasks.push(tokio::spawn(hold(ws, stop.clone())));
            }
            Err(e) => measured.error(e.to_string()),
        }
    }
    sleep(SETTLE).await;
    let held = procstat::rss_kb(cfg.pid);
    (measured.elapsed, measured.cpu) = window.finish().await;
    let _ = stop_tx.send(true);
    let mut closed = Measured::default();
    let _ = timeout(Duration::from_secs(60), closed.join(tasks)).await;
    if let Some(e) = closed.first_error {
        measured.errors += closed.errors;
        measured.first_error.get_or_insert(e);
    }
    sleep(AFTER_CLOSE).await;
    let after = procstat::rss_kb(cfg.pid);
    let per_session = held.saturating_sub(before) as f64 / cfg.sessions.max(1) as f64;
    measured.extra.insert("rss_before_kb".into(), json!(before));
    measured.extra.insert("rss_held_kb".into(), json!(held));
    measured.extra.insert("rss_after_kb".into(), json!(after));
    measured.extra.insert(
        "kb_per_session".into(),
        json!((per_session * 100.0).round() / 100.0),
    );
    Ok(measured)
}

/// Holds a session until told to stop, answering pings; then closes it.
async fn hold(mut ws: Ws, mut stop: watch::Receiver<bool>) -> Result<Samples> {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
                Some(Ok(Message::Close(_))) | None => return Err("server closed an idle session".into()),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(_)) => {}
            },
        }
    }
    close(ws).await;
    Ok(Samples::default())
}
