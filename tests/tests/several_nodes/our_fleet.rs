//! Our own client (engineio-tokio) as a [`Fleet`]: the protocol of `tests/node/fleet.js`, in
//! process, each session a task on a Tokio runtime of its own that keeps running between
//! requests (so heartbeats are answered while the test does something else).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_tests::{Fleet, FLEET_TIMEOUT};
use engineio_tokio::proto::{Message, Transport};
use engineio_tokio::{Client, ClientConfig, ClientSender, ClientSocketEvent};
use serde_json::{json, Value};

#[derive(Default)]
struct State {
    mode: String,
    generation: u32,
    node: Option<String>,
    open: bool,
    reason: Option<String>,
    inbox: VecDeque<Message>,
    sender: Option<ClientSender>,
    errors: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sessions of `engineio_tokio::Client`.
pub struct OurFleet {
    rt: tokio::runtime::Runtime,
    sessions: Vec<Shared>,
}

impl OurFleet {
    pub fn new() -> OurFleet {
        // `RUST_LOG=engineio_driver=debug` shows why a session of ours failed.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        OurFleet {
            rt,
            sessions: Vec::new(),
        }
    }
}

/// The message `seq` of session `i`, generation `g`: text and binary in turn, naming its
/// session and sequence number and ending with a checksum of the rest.
fn message(i: usize, g: u32, seq: usize) -> Message {
    let body = format!("{i}:{g}:{seq}:{}", "x".repeat((seq * 37) % 300));
    let sum = body
        .bytes()
        .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    let text = format!("{body}:{sum}");
    if seq % 2 == 0 {
        Message::from(text)
    } else {
        Message::Binary(Bytes::from(text.into_bytes()))
    }
}

async fn until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

fn fail(s: &mut State, i: usize, what: String) {
    let e = format!("session {i} ({}, node {:?}): {what}", s.mode, s.node);
    s.errors.push(e);
}

async fn open_one(i: usize, shared: Shared, url: String, deadline: Instant) {
    let (mode, generation) = {
        let mut s = lock(&shared);
        s.generation += 1;
        s.node = None;
        s.open = false;
        s.reason = None;
        s.inbox.clear();
        (s.mode.clone(), s.generation)
    };
    let mut config = ClientConfig::new(url.parse().expect("a URL"));
    config.path = "/engine.io/".to_owned();
    match mode.as_str() {
        "polling" => {
            config.transports = vec![Transport::Polling];
            config.upgrade = false;
        }
        "websocket" => config.transports = vec![Transport::Websocket],
        _ => {}
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let mut client = match tokio::time::timeout(left, Client::connect(config)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return fail(&mut lock(&shared), i, format!("connect failed: {e}")),
        Err(_) => return fail(&mut lock(&shared), i, "connect timed out".to_owned()),
    };
    let sender = client.sender();
    {
        let mut s = lock(&shared);
        s.open = true;
        s.sender = Some(sender.clone());
    }
    if sender.send("__node").await.is_err() {
        fail(&mut lock(&shared), i, "could not send __node".to_owned());
    }
    let task_state = shared.clone();
    tokio::spawn(async move {
        while let Some(event) = client.recv().await {
            let mut s = lock(&task_state);
            if s.generation != generation {
                return;
            }
            match event {
                ClientSocketEvent::Message(m) => {
                    if s.node.is_none() {
                        s.node = Some(match &m {
                            Message::Text(t) => t.as_str().to_owned(),
                            other => format!("{other:?}"),
                        });
                    } else {
                        s.inbox.push_back(m);
                    }
                }
                ClientSocketEvent::Closed { reason, .. } => {
                    s.open = false;
                    s.reason = Some(reason.to_string());
                }
                _ => {}
            }
        }
    });
    let ready = until(deadline, || {
        let s = lock(&shared);
        s.reason.is_some()
            || (s.node.is_some()
                && (mode != "upgrade" || sender.transport() == Transport::Websocket))
    })
    .await;
    let mut s = lock(&shared);
    if !ready {
        fail(
            &mut s,
            i,
            format!("did not open (transport {:?})", sender.transport()),
        );
    } else if let Some(r) = s.reason.clone() {
        fail(&mut s, i, format!("closed while opening: {r}"));
    }
}

async fn echo_one(i: usize, shared: Shared, count: usize, deadline: Instant) -> usize {
    let (sender, generation) = {
        let s = lock(&shared);
        (s.sender.clone(), s.generation)
    };
    let Some(sender) = sender else { return 0 };
    let sent: Vec<Message> = (0..count).map(|seq| message(i, generation, seq)).collect();
    for m in &sent {
        if sender.send(m.clone()).await.is_err() {
            break;
        }
    }
    until(deadline, || {
        let s = lock(&shared);
        s.inbox.len() >= count || s.reason.is_some()
    })
    .await;
    let mut s = lock(&shared);
    let n = s.inbox.len().min(count);
    let got: Vec<Message> = s.inbox.drain(..n).collect();
    if got.len() < count {
        let r = s.reason.clone();
        fail(
            &mut s,
            i,
            format!("{} of {count} echoes, then {r:?}", got.len()),
        );
    }
    if let Some(k) = got.iter().zip(&sent).position(|(a, b)| a != b) {
        fail(&mut s, i, format!("echo {k} differs: {:?}", got[k]));
    }
    got.len()
}

impl OurFleet {
    fn summary(&self, i: usize) -> Value {
        let s = lock(&self.sessions[i]);
        json!({
            "i": i,
            "node": s.node,
            "mode": s.mode,
            "open": s.open,
            "reason": s.reason,
            "description": null,
            "transport": s.sender.as_ref().map(|c| c.transport().to_string()),
        })
    }

    fn open_all(&mut self, which: &[usize], url: &str) {
        let deadline = Instant::now() + FLEET_TIMEOUT - Duration::from_secs(5);
        let tasks: Vec<_> = which
            .iter()
            .map(|&i| open_one(i, self.sessions[i].clone(), url.to_owned(), deadline))
            .collect();
        self.rt.block_on(futures_util::future::join_all(tasks));
    }
}

impl Fleet for OurFleet {
    fn name(&self) -> &str {
        "engineio-tokio client fleet"
    }

    fn request(&mut self, req: Value) -> Value {
        let deadline = Instant::now() + FLEET_TIMEOUT - Duration::from_secs(5);
        let url = req["url"].as_str().unwrap_or_default().to_owned();
        let answer = match req["op"].as_str().unwrap_or_default() {
            "open" => {
                let start = self.sessions.len();
                let count = req["count"].as_u64().unwrap_or(0) as usize;
                for _ in 0..count {
                    self.sessions.push(Arc::new(Mutex::new(State {
                        mode: req["mode"].as_str().unwrap_or_default().to_owned(),
                        ..State::default()
                    })));
                }
                let fresh: Vec<usize> = (start..start + count).collect();
                self.open_all(&fresh, &url);
                json!({ "sessions": fresh.iter().map(|&i| self.summary(i)).collect::<Vec<_>>() })
            }
            "echo" => {
                let count = req["count"].as_u64().unwrap_or(0) as usize;
                let live: Vec<usize> = (0..self.sessions.len())
                    .filter(|&i| lock(&self.sessions[i]).open)
                    .collect();
                let tasks: Vec<_> = live
                    .iter()
                    .map(|&i| echo_one(i, self.sessions[i].clone(), count, deadline))
                    .collect();
                let counts = self.rt.block_on(futures_util::future::join_all(tasks));
                json!({ "sessions": live.len(), "messages": counts.iter().sum::<usize>() })
            }
            "status" => {
                json!({ "sessions": (0..self.sessions.len()).map(|i| self.summary(i)).collect::<Vec<_>>() })
            }
            "reopen" => {
                let closed: Vec<usize> = (0..self.sessions.len())
                    .filter(|&i| !lock(&self.sessions[i]).open)
                    .collect();
                self.open_all(&closed, &url);
                json!({ "sessions": closed.iter().map(|&i| self.summary(i)).collect::<Vec<_>>() })
            }
            "close" => {
                let live: Vec<Shared> = self
                    .sessions
                    .iter()
                    .filter(|s| lock(s).open)
                    .cloned()
                    .collect();
                self.rt.block_on(async {
                    for s in &live {
                        let sender = lock(s).sender.clone();
                        if let Some(sender) = sender {
                            sender.close().await;
                        }
                    }
                    until(deadline, || live.iter().all(|s| !lock(s).open)).await
                });
                json!({ "closed": live.len() })
            }
            other => panic!("unknown fleet op {other}"),
        };
        let errors: Vec<String> = self
            .sessions
            .iter()
            .flat_map(|s| std::mem::take(&mut lock(s).errors))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {} failed ({} errors):\n{}",
            self.name(),
            req["op"],
            errors.len(),
            errors
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        answer
    }

    fn clean_close(&self, _transport: &str) -> &'static str {
        "transport close"
    }
}
