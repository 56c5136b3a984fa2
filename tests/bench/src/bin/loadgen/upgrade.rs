//! The handshake-upgrade scenario: `cfg.sessions` workers each repeat, until the window ends,
//! a whole session's life as a browser starts it: a polling handshake on a new connection, a
//! WebSocket with the session id, `2probe` answered by `3probe`, `5`, then the WebSocket
//! closed. One operation is one such dance; its latency is the whole of it.

use bytes::Bytes;
use engineio_bench::net::{parse_open, query, Target, STEP_TIMEOUT};
use engineio_bench::stats::Samples;
use engineio_bench::Result;
use futures_util::SinkExt;
use hyper::Method;
use std::sync::Arc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::window::Window;
use crate::ws::{close, next_text};
use crate::{Config, Measured};

/// Runs the scenario.
pub async fn run(cfg: &Config) -> Result<Measured> {
    let mut measured = Measured {
        unit: "session",
        ..Measured::default()
    };
    let window = Window::start(cfg);
    let end = window.end;
    let tasks = (0..cfg.sessions)
        .map(|_| tokio::spawn(worker(cfg.target.clone(), end)))
        .collect();
    (measured.elapsed, measured.cpu) = window.finish().await;
    measured.join(tasks).await;
    Ok(measured)
}

async fn worker(target: Arc<Target>, end: Instant) -> Result<Samples> {
    let mut samples = Samples::default();
    while Instant::now() < end {
        let start = Instant::now();
        timeout(3 * STEP_TIMEOUT, dance(&target))
            .await
            .map_err(|_| "the dance timed out")??;
        let now = Instant::now();
        if now <= end {
            samples.record(now - start);
        }
    }
    Ok(samples)
}

async fn dance(target: &Target) -> Result<()> {
    let sid = {
        let mut http = target.http().await?;
        let body = target
            .request(
                &mut http,
                Method::GET,
                &query("polling", None),
                Bytes::new(),
            )
            .await?;
        let first = body.split(|&b| b == 0x1e).next().unwrap_or_default();
        parse_open(first)?.sid
    };
    let mut ws = target.ws(&query("websocket", Some(&sid))).await?;
    ws.send(Message::text("2probe")).await?;
    let answer = next_text(&mut ws).await?;
    if answer != "3probe" {
        return Err(format!("expected 3probe, got {answer:?}").into());
    }
    ws.send(Message::text("5")).await?;
    close(ws).await;
    Ok(())
}
