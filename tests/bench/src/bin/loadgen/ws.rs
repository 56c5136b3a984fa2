//! The WebSocket echo scenarios: sessions opened directly on WebSocket (`EIO=4`,
//! `transport=websocket`), each keeping `depth` text messages of `size` bytes in flight and
//! checking that every echo equals what it sent, in order.

use std::collections::VecDeque;
use std::sync::Arc;

use engineio_bench::net::{self, parse_open, Target, Ws, STEP_TIMEOUT};
use engineio_bench::stats::Samples;
use engineio_bench::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::window::{bounded, Window};
use crate::{Config, Measured};

/// How many sessions connect at the same time while a scenario sets up.
pub const CONNECT_CONCURRENCY: usize = 64;

/// Runs the scenario: `cfg.sessions` sessions with `depth` messages of `size` bytes in flight.
pub async fn run(cfg: &Config, depth: usize, size: usize) -> Result<Measured> {
    let mut measured = Measured {
        unit: "echo",
        ..Measured::default()
    };
    let mut sessions = Vec::new();
    for ws in bounded(cfg.sessions, CONNECT_CONCURRENCY, |_| open(&cfg.target)).await {
        sessions.push(ws?);
    }
    let window = Window::start(cfg);
    let end = window.end;
    let tasks = sessions
        .into_iter()
        .enumerate()
        .map(|(id, ws)| tokio::spawn(echo(ws, id, depth, size, end)))
        .collect();
    (measured.elapsed, measured.cpu) = window.finish().await;
    measured.join(tasks).await;
    Ok(measured)
}

/// Opens a WebSocket session and reads its open packet.
pub async fn open(target: &Arc<Target>) -> Result<Ws> {
    let mut ws = target.ws(&net::query("websocket", None)).await?;
    let first = next_text(&mut ws).await?;
    parse_open(first.as_bytes())?;
    Ok(ws)
}

/// The next text frame (answering pings `2` with `3` on the way).
pub async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        let message = timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| "no frame from the server in time")?
            .ok_or("WebSocket closed by the server")??;
        match message {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
            Message::Text(t) => return Ok(t.as_str().to_owned()),
            Message::Binary(_) => return Err("unexpected binary frame".into()),
            Message::Close(c) => {
                return Err(format!("WebSocket closed by the server: {c:?}").into())
            }
            _ => {}
        }
    }
}

/// The `seq`-th message of session `id`: a message packet `4...` of `size` bytes of data.
pub fn message(id: usize, seq: u64, size: usize) -> String {
    let mut m = format!("4{id:06}:{seq:010}:");
    let len = (size + 1).max(m.len());
    m.extend(std::iter::repeat_n('x', len - m.len()));
    m
}

async fn echo(mut ws: Ws, id: usize, depth: usize, size: usize, end: Instant) -> Result<Samples> {
    let mut samples = Samples::default();
    let mut in_flight = VecDeque::with_capacity(depth);
    let mut seq = 0u64;
    for _ in 0..depth {
        ws.feed(Message::text(message(id, seq, size))).await?;
        in_flight.push_back((seq, Instant::now()));
        seq += 1;
    }
    ws.flush().await?;
    while let Some((sent_seq, sent_at)) = in_flight.pop_front() {
        let echo = next_text(&mut ws).await?;
        if echo != message(id, sent_seq, size) {
            return Err(format!("session {id}: echo {sent_seq} differs from what was sent").into());
        }
        let now = Instant::now();
        if now <= end {
            samples.record(now - sent_at);
        }
        if now < end {
            ws.send(Message::text(message(id, seq, size))).await?;
            in_flight.push_back((seq, now));
            seq += 1;
        }
    }
    close(ws).await;
    Ok(samples)
}

/// Closes a WebSocket and waits (bounded) for the server's side of the close.
pub async fn close(mut ws: Ws) {
    let _ = timeout(STEP_TIMEOUT, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
