//! The polling echo scenario: each session has two HTTP/1.1 connections, as a browser does:
//! one where a GET is always parked, one for POSTs. It POSTs a message, waits for its echo on
//! the GET, and so on; pings (`2`) are answered with a POSTed `3`.

use std::sync::Arc;

use bytes::Bytes;
use engineio_bench::net::{parse_open, query, Http, Target, STEP_TIMEOUT};
use engineio_bench::stats::Samples;
use engineio_bench::Result;
use hyper::Method;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::window::{bounded, Window};
use crate::ws::{message, CONNECT_CONCURRENCY};
use crate::{Config, Measured};

/// A polling session: its id, its POST connection, the packets its GETs bring.
struct Session {
    sid: String,
    post: Http,
    packets: mpsc::UnboundedReceiver<Result<Bytes>>,
    getter: JoinHandle<()>,
}

/// Runs the scenario.
pub async fn run(cfg: &Config) -> Result<Measured> {
    let mut measured = Measured {
        unit: "echo",
        ..Measured::default()
    };
    let mut sessions = Vec::new();
    for s in bounded(cfg.sessions, CONNECT_CONCURRENCY, |_| open(&cfg.target)).await {
        sessions.push(s?);
    }
    let window = Window::start(cfg);
    let end = window.end;
    let tasks = sessions
        .into_iter()
        .enumerate()
        .map(|(id, s)| tokio::spawn(echo(cfg.target.clone(), s, id, end)))
        .collect();
    (measured.elapsed, measured.cpu) = window.finish().await;
    measured.join(tasks).await;
    Ok(measured)
}

/// Polling handshake, then a GET parked on a second connection, for good.
async fn open(target: &Arc<Target>) -> Result<Session> {
    let mut post = target.http().await?;
    let body = timeout(
        STEP_TIMEOUT,
        target.request(
            &mut post,
            Method::GET,
            &query("polling", None),
            Bytes::new(),
        ),
    )
    .await
    .map_err(|_| "handshake timed out")??;
    let first = body.split(|&b| b == 0x1e).next().unwrap_or_default();
    let sid = parse_open(first)?.sid;
    let get = target.http().await?;
    let (tx, packets) = mpsc::unbounded_channel();
    let getter = tokio::spawn(get_loop(
        target.clone(),
        get,
        query("polling", Some(&sid)),
        tx,
    ));
    Ok(Session {
        sid,
        post,
        packets,
        getter,
    })
}

/// Keeps one GET parked: every packet of every answer goes to `tx`, until an error (sent on
/// too) or until the session drops its receiver.
async fn get_loop(
    target: Arc<Target>,
    mut http: Http,
    query: String,
    tx: mpsc::UnboundedSender<Result<Bytes>>,
) {
    loop {
        match target
            .request(&mut http, Method::GET, &query, Bytes::new())
            .await
        {
            Ok(body) => {
                for packet in body.split(|&b| b == 0x1e) {
                    if tx.send(Ok(body.slice_ref(packet))).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

async fn echo(target: Arc<Target>, mut s: Session, id: usize, end: Instant) -> Result<Samples> {
    let outcome = echo_loop(&target, &mut s, id, end).await;
    // Close the session (bounded), then stop parking GETs.
    let q = query("polling", Some(&s.sid));
    let close = target.request(&mut s.post, Method::POST, &q, Bytes::from_static(b"1"));
    let _ = timeout(STEP_TIMEOUT, close).await;
    s.getter.abort();
    outcome
}

async fn echo_loop(target: &Target, s: &mut Session, id: usize, end: Instant) -> Result<Samples> {
    let mut samples = Samples::default();
    let q = query("polling", Some(&s.sid));
    let mut seq = 0u64;
    while Instant::now() < end {
        let sent = message(id, seq, 32);
        let sent_at = Instant::now();
        let post = target.request(&mut s.post, Method::POST, &q, Bytes::from(sent.clone()));
        timeout(STEP_TIMEOUT, post)
            .await
            .map_err(|_| "POST timed out")??;
        loop {
            let packet = timeout(STEP_TIMEOUT, s.packets.recv())
                .await
                .map_err(|_| "no echo on the GET in time")?
                .ok_or("GET loop ended")??;
            match packet.first() {
                Some(b'2') => {
                    let pong =
                        target.request(&mut s.post, Method::POST, &q, Bytes::from_static(b"3"));
                    timeout(STEP_TIMEOUT, pong)
                        .await
                        .map_err(|_| "POST timed out")??;
                }
                Some(b'6') => {}
                Some(b'4') if packet == sent.as_bytes() => break,
                _ => {
                    let got = String::from_utf8_lossy(&packet[..packet.len().min(60)]).into_owned();
                    return Err(format!("session {id}: expected echo {seq}, got {got:?}").into());
                }
            }
        }
        let now = Instant::now();
        if now <= end {
            samples.record(now - sent_at);
        }
        seq += 1;
    }
    Ok(samples)
}
