//! The chat of `common/chat.rs`, simulated whole: our server and 100 of our clients (over
//! polling, WebSocket, polling upgraded to WebSocket, and that over protocol v3) on
//! simulated hosts, one thread, one seed, with latency, partitions, reset connections and
//! clock jumps, checked against what a chat's author would require:
//!
//! - every member receives each other member's messages once and in order, with no gap;
//! - one that was in the room when it started misses none of them;
//! - a member that did not get everything, and a client that did not finish, is explained:
//!   a session closed or a connection failed on a host a fault struck;
//! - every client either finishes or ends so explained (the run ends; nothing hangs);
//! - no session is left open on the server a heartbeat after the last fault.
//!
//! ```text
//! cargo run -p engineio-driver --features sim --example sim_chat -- [FIRST_SEED] [SEEDS]
//! cargo test -p engineio-driver --features sim --example sim_chat    # 1,000 seeds
//! ENGINEIO_SIM_SEED=17 cargo test -p engineio-driver --features sim --example sim_chat
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion, Transport};
use engineio_driver::sim::{Fault, Faults, Report, Sim, SimRuntime};
use engineio_driver::{serve, Client, ClientConfig, ClientSocketEvent, EngineIo, ServerConfig};

#[path = "common/chat.rs"]
mod chat;

/// Simulated clients, their rooms, and what each sends.
const CLIENTS: usize = 100;
const ROOM_SIZE: usize = 10;
const MESSAGES: usize = 5;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// What goes wrong: a WAN's latency, and about 35 faults in the first 20 s of each run (the
/// users are done within 4 to 20 s of virtual time).
fn faults() -> Faults {
    Faults::none()
        .latency(ms(1)..=ms(60))
        .partitions(secs(1), ms(200)..=secs(12))
        .resets(secs(1))
        .clock_jumps(secs(3), ms(100)..=secs(10))
        .until(secs(20))
}

/// What one simulated user saw.
#[derive(Debug, Default)]
struct Log {
    name: String,
    room: String,
    /// Why connecting failed, if it did.
    connect_error: Option<String>,
    /// Whether the room had started when it joined.
    late: bool,
    members: BTreeSet<String>,
    /// The numbers of each member's messages, as they arrived.
    got: BTreeMap<String, Vec<usize>>,
    /// Members announced gone, and why.
    left: BTreeMap<String, String>,
    /// Why the session closed, if it closed before the user was done.
    closed: Option<String>,
    finished: bool,
}

/// The transports of client `i`: polling only, WebSocket only, polling then upgrading, or
/// that last over protocol v3.
fn config(i: usize) -> ClientConfig {
    let mut c = ClientConfig::new("http://server:80".parse().expect("a valid URL"));
    match i % 4 {
        0 => {
            c.transports = vec![Transport::Polling];
            c.upgrade = false;
        }
        1 => c.transports = vec![Transport::Websocket],
        2 => c.transports = vec![Transport::Polling, Transport::Websocket],
        _ => c.version = ProtocolVersion::V3,
    }
    c
}

/// One user: connects (retrying twice), joins its room, sends its messages once the room
/// starts, and leaves once it has every member's messages (or knows they left).
async fn user(rt: SimRuntime, i: usize) -> Log {
    let mut log = Log {
        name: format!("u{i}"),
        room: format!("r{}", i % (CLIENTS / ROOM_SIZE)),
        ..Log::default()
    };
    rt.sleep(ms(rt.random() % 2000)).await;
    let mut client = None;
    for attempt in 0..3 {
        match Client::connect_on(rt.clone(), config(i)).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(e) => {
                log.connect_error = Some(e.to_string());
                rt.sleep(secs(1 + attempt)).await;
            }
        }
    }
    let Some(mut client) = client else {
        return log;
    };
    log.connect_error = None;
    let _ = client.send(format!("join {} {}", log.room, log.name)).await;
    let mut started = false;
    while let Some(event) = client.recv().await {
        let text = match event {
            ClientSocketEvent::Message(Message::Text(t)) => t,
            ClientSocketEvent::Closed { reason, .. } => {
                log.closed = Some(reason.to_string());
                return log;
            }
            _ => continue,
        };
        rt.trace(format_args!("{} got {text:?}", log.name));
        if let Some(names) = text.strip_prefix("members") {
            log.members
                .extend(names.split_whitespace().map(str::to_owned));
        } else if let Some(name) = text.strip_prefix("joined ") {
            log.members.insert(name.to_owned());
        } else if text == "start" || text == "start late" {
            log.late = text == "start late";
            if !started {
                started = true;
                let (rt2, sender) = (rt.clone(), client.sender());
                rt.spawn_task(async move {
                    for k in 0..MESSAGES {
                        rt2.sleep(ms(rt2.random() % 400)).await;
                        let _ = sender.send(k.to_string()).await;
                    }
                });
            }
        } else if let Some(rest) = text.strip_prefix("left ") {
            let (name, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            log.left.insert(name.to_owned(), reason.to_owned());
        } else if let Some((name, k)) = text.split_once(": ") {
            let k = k.parse().unwrap_or(usize::MAX);
            log.got.entry(name.to_owned()).or_default().push(k);
        }
        let mine = log.got.get(&log.name).map_or(0, Vec::len);
        let heard_all = log
            .members
            .iter()
            .all(|m| log.left.contains_key(m) || log.got.get(m).map_or(0, Vec::len) == MESSAGES);
        if started && mine == MESSAGES && heard_all {
            log.finished = true;
            client.close().await;
            return log;
        }
    }
    log.closed = Some("event stream ended".to_owned());
    log
}

/// Whether a fault struck user `name` or the server it depends on (a reset of another
/// user's connection touches the server's host too, but not this user).
fn struck(report: &Report, name: &str) -> bool {
    report.faults.iter().any(|(_, f)| match f {
        Fault::Partition { host, .. } | Fault::ClockJump { host, .. } => {
            host == name || host == "server"
        }
        Fault::Reset { client, .. } => client == name,
        other => other.touches(name),
    })
}

/// The chat's invariants over every user's log.
fn check(logs: &[Log], report: &Report) -> Result<Stats, String> {
    let mut stats = Stats::default();
    for log in logs {
        let who = &log.name;
        let explained = struck(report, who);
        if let Some(e) = &log.connect_error {
            if !explained {
                return Err(format!(
                    "{who} could not connect ({e}) though no fault struck it"
                ));
            }
            stats.never_connected += 1;
            continue;
        }
        if let Some(reason) = &log.closed {
            if !explained {
                return Err(format!(
                    "{who}'s session closed ({reason}) though no fault struck it"
                ));
            }
            stats.closed += 1;
        } else if !log.finished {
            return Err(format!("{who} neither finished nor closed"));
        } else {
            stats.finished += 1;
        }
        for (from, ks) in &log.got {
            // Once each, in order, no gap; from the first one unless it joined late.
            let first = if log.late { ks[0] } else { 0 };
            if ks.iter().copied().ne(first..first + ks.len()) || first + ks.len() > MESSAGES {
                return Err(format!("{who} got {from}'s messages as {ks:?}"));
            }
            let complete = first + ks.len() == MESSAGES;
            if !complete && log.finished {
                match log.left.get(from) {
                    Some(_) if struck(report, from) => stats.cut_short += 1,
                    Some(why) => {
                        return Err(format!(
                        "{who} got {ks:?} of {from}, which left ({why}) though no fault struck it"
                    ))
                    }
                    None => return Err(format!("{who} finished with {ks:?} of {from}")),
                }
            }
            stats.delivered += ks.len();
        }
    }
    Ok(stats)
}

/// What a run exercised.
#[derive(Debug, Default)]
struct Stats {
    finished: usize,
    closed: usize,
    never_connected: usize,
    cut_short: usize,
    delivered: usize,
}

/// One seed: the chat's server, 100 users, their logs checked.
fn run(seed: u64) -> Result<(Stats, Report), String> {
    let sim = Sim::new(seed).faults(faults());
    let server = sim.host("server");
    let users: Vec<SimRuntime> = (0..CLIENTS).map(|i| sim.host(&format!("u{i}"))).collect();
    let (logs, report) = sim
        .run(secs(600), async move {
            let config = ServerConfig {
                ping_interval: secs(5),
                ping_timeout: secs(3),
                allow_eio3: true,
                ..ServerConfig::default()
            };
            let (engine, connections) = EngineIo::builder(config).runtime(server.clone()).build();
            let listener = server.bind(80).expect("port 80 is free");
            server.spawn_task(serve(listener, engine.clone()));
            let rooms = chat::ChatConfig {
                room_size: ROOM_SIZE,
                start_after: secs(5),
            };
            server.spawn_task(chat::serve_chat(server.clone(), connections, rooms));
            let handles: Vec<_> = (users.iter().enumerate())
                .map(|(i, rt)| rt.spawn_task(user(rt.clone(), i)))
                .collect();
            let mut logs = Vec::new();
            for h in handles {
                logs.extend(h.await);
            }
            // Every session ends on the server too, within a heartbeat of the last fault.
            server.sleep(secs(40)).await;
            (logs, engine.clients_count())
        })
        .map_err(|e| e.to_string())?;
    let (logs, sessions_left) = logs;
    if logs.len() != CLIENTS {
        return Err(format!("{} of {CLIENTS} users returned", logs.len()));
    }
    if sessions_left > 0 {
        return Err(format!(
            "seed {seed}: {sessions_left} sessions still open on the server 40 s after every user ended"
        ));
    }
    let stats = check(&logs, &report).map_err(|e| {
        format!(
            "seed {seed}: {e}\nfaults: {:?}\nlast events:\n{}",
            report.faults,
            report.tail.join("\n")
        )
    })?;
    Ok((stats, report))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    for seed in first..first + count {
        match run(seed) {
            Ok((s, r)) => println!(
                "seed {seed}: trace {:016x}, {} events, {:.1} s virtual, {} faults; finished {}, closed {}, never connected {}, cut short {}, delivered {}",
                r.trace_hash, r.events, r.elapsed.as_secs_f64(), r.faults.len(),
                s.finished, s.closed, s.never_connected, s.cut_short, s.delivered
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engineio_driver::sim::check_seeds;
    use std::sync::{Arc, Mutex};

    /// 1,000 seeds, each checked; the run as a whole must have exercised every fault.
    #[test]
    fn a_thousand_seeds() {
        let totals = Arc::new(Mutex::new((Stats::default(), [0usize; 3])));
        check_seeds(0..1000, |seed| {
            let (s, r) = run(seed)?;
            let mut t = totals.lock().unwrap();
            t.0.finished += s.finished;
            t.0.closed += s.closed;
            t.0.never_connected += s.never_connected;
            t.0.delivered += s.delivered;
            for (_, f) in &r.faults {
                let kind = match f {
                    Fault::Partition { .. } => 0,
                    Fault::Reset { .. } => 1,
                    Fault::ClockJump { .. } => 2,
                    _ => continue,
                };
                t.1[kind] += 1;
            }
            Ok(())
        });
        let t = totals.lock().unwrap();
        println!("{:?}, faults (partitions, resets, jumps) {:?}", t.0, t.1);
        if std::env::var(engineio_driver::sim::SEED_VAR).is_err() {
            assert!(
                t.1.iter().all(|n| *n > 0),
                "every kind of fault struck: {:?}",
                t.1
            );
            assert!(t.0.closed > 0, "faults closed some sessions");
            assert!(t.0.finished > t.0.closed, "most users finished");
        }
    }

    /// The same seed replays the same run; another seed does not.
    #[test]
    fn a_seed_replays_exactly() {
        let (_, a) = run(3).unwrap();
        let (_, b) = run(3).unwrap();
        let (_, c) = run(4).unwrap();
        assert_eq!((a.trace_hash, a.events), (b.trace_hash, b.events));
        assert_ne!(a.trace_hash, c.trace_hash);
    }
}
