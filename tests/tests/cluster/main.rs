//! A cluster of nodes behind a balancer without any stickiness, end to end on loopback: three
//! of our echo servers (`--node n1` to `n3 --cluster redis://…`) sharing one Redis
//! (Debian's `redis-server`, [`RedisServer`]), behind HAProxy balancing every request
//! round-robin (`docs/several-nodes/haproxy-round-robin.cfg`), and three clients through it:
//! `engine.io-client` 6.x (npm), `python-engineio` (PyPI) and our own, each with sessions on
//! polling only, WebSocket only and upgrading. Most requests of a session land on a node that
//! does not own it, which relays them through Redis to the owner. Every test runs once per
//! runtime of the nodes.
//!
//! - `round_robin_without_stickiness`: sessions spread over the three nodes; every session id
//!   starts with its owner's name (`n1-`); two echo rounds (text and binary, each message
//!   naming its session and carrying a checksum; every echo equal and in order), with
//!   heartbeats every 500 ms going through the relays in between, with zero errors on any
//!   client (so zero "Session ID unknown"); all close.
//! - `a_node_that_dies`: one node is killed (SIGKILL, no goodbye). Within the clients' own
//!   heartbeat bound every session it owned is closed on its client (any reason). A session
//!   owned by a live node may only close right away, because its WebSocket or a request in
//!   flight ran through the killed node (round-robin gives no way to avoid that; on
//!   python-engineio's polling, which notices a failed POST only when its server drops the
//!   session for the lost pong, one heartbeat later); one that closes later (a broken relay,
//!   a lost heartbeat) fails the test, and so does a client error on a session that stays
//!   open. The rest echo; the closed sessions reopen on the live nodes and echo; all close.
//! - `redis_restarts`: Redis is killed and, a second later, started again on the same port
//!   (empty). Within 10 s probe sessions on both transports open, echo and close through the
//!   balancer; how many of the earlier sessions survived is printed, not required. The
//!   survivors are closed, and a fresh batch per client opens on all three nodes, echoes
//!   twice with zero errors and closes.
//!
//! The nodes are our `echo` example ([`ServerProcess::echo`], which builds the bindings'
//! examples with their `cluster` feature). HAProxy and Redis come from Debian's packages
//! (`.ci/run` installs them); `ENGINEIO_HAPROXY` and `ENGINEIO_REDIS_SERVER` name other
//! binaries.
//!
//! ```text
//! cargo test -p engineio-tests --test cluster -- --nocapture
//! ```

#[path = "../several_nodes/our_fleet.rs"]
mod our_fleet;
mod probe;
mod script_fleet;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use engineio_tests::{
    check_echo_round, on_all, Balancer, Fleet, RedisServer, Runtime, ServerProcess,
};
use serde_json::{json, Value};

use our_fleet::OurFleet;
use script_fleet::{ScriptFleet, TolerantFleet};

/// Sessions per client and mode.
const PER_MODE: u64 = 20;
/// Sessions per client and mode of the batch opened after Redis restarted.
const FRESH_PER_MODE: u64 = 10;
/// Messages per session and echo round.
const MESSAGES: u64 = 6;
const MODES: [&str; 3] = ["polling", "websocket", "upgrade"];
const NODES: [&str; 3] = ["n1", "n2", "n3"];
/// The balancer's configuration under `docs/several-nodes/`.
const BALANCER: &str = "haproxy-round-robin.cfg";
const PING_INTERVAL_MS: u64 = 500;
const PING_TIMEOUT_MS: u64 = 5000;
/// pingInterval + pingTimeout: a session whose server is gone hears no ping for that long.
const HEARTBEAT: Duration = Duration::from_millis(PING_INTERVAL_MS + PING_TIMEOUT_MS);
/// How long after its server is gone a session has closed on every client: engine.io-client
/// and ours give up after [`HEARTBEAT`] without a ping; python-engineio's long-polling GET
/// gives up after max(pingInterval, pingTimeout) + 5 s (10 s here); and a margin.
const CLOSE_BOUND: Duration = Duration::from_millis(PING_INTERVAL_MS + PING_TIMEOUT_MS + 6000);
/// A session of a live node whose connection ran through the killed node closes at once
/// (the balancer answers 502 or drops the tunnel); this is how soon that is seen. Except on
/// python-engineio's polling, which notices a failed POST only when its server closes the
/// session for the lost pong: [`HEARTBEAT`] later (see
/// [`TolerantFleet::closes_late_after_failed_post`]).
const COLLATERAL_WINDOW: Duration = Duration::from_secs(3);
/// How long the sessions are watched after a node is killed: every late collateral close
/// (python-engineio's polling) is over by then.
const WATCH: Duration = Duration::from_millis(PING_INTERVAL_MS + PING_TIMEOUT_MS + 3000);
/// How soon after Redis is back new sessions must go through.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

engineio_tests::runtime_tests!(
    round_robin_without_stickiness,
    a_node_that_dies,
    redis_restarts
);

impl TolerantFleet for OurFleet {
    /// Our client only reports errors of `open` and `echo`, which are never expected.
    fn try_request(&mut self, req: Value) -> Result<Value, Vec<String>> {
        Ok(self.request(req))
    }
}

/// A session: its fleet's index and its index in the fleet.
type Key = (usize, u64);

/// Redis, three nodes, the balancer and the three fleets.
struct Cluster {
    // Dropped in this order: the clients first, Redis last.
    fleets: Vec<Box<dyn TolerantFleet>>,
    balancer: Balancer,
    nodes: Vec<ServerProcess>,
    redis: RedisServer,
    probes: tokio::runtime::Runtime,
    url: String,
    context: String,
}

fn sessions(answer: &Value) -> &[Value] {
    answer["sessions"].as_array().map_or(&[], Vec::as_slice)
}

fn node_of(s: &Value) -> &str {
    s["node"].as_str().unwrap_or("?")
}

fn index_of(s: &Value) -> u64 {
    s["i"].as_u64().unwrap_or(u64::MAX)
}

fn is_open(s: &Value) -> bool {
    s["open"].as_bool() == Some(true)
}

/// The session a fleet's error is about (`session I (MODE, node NODE): ...`).
fn error_session(error: &str) -> Option<u64> {
    let rest = error.strip_prefix("session ")?;
    rest[..rest.find(' ')?].parse().ok()
}

/// The last `max` bytes of `s`.
fn tail(s: &str, max: usize) -> &str {
    let mut cut = s.len().saturating_sub(max);
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    &s[cut..]
}

/// Runs `req` on every fleet at once; the answers in fleet order.
fn all<T: Send>(
    fleets: &mut [Box<dyn TolerantFleet>],
    req: impl Fn(&mut (dyn TolerantFleet + 'static)) -> T + Sync,
) -> Vec<T> {
    on_all(fleets, req)
}

/// Sessions per node, over every fleet's `status` answer (only the open ones if `open_only`).
fn per_node(answers: &[Value], open_only: bool) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in answers.iter().flat_map(sessions) {
        if !open_only || is_open(s) {
            *counts.entry(node_of(s).to_owned()).or_default() += 1;
        }
    }
    counts
}

impl Cluster {
    fn start(rt: Runtime) -> Cluster {
        let redis = RedisServer::start();
        let cluster = redis.url();
        let (interval, timeout) = (PING_INTERVAL_MS.to_string(), PING_TIMEOUT_MS.to_string());
        let args = ["--ping-interval", &interval, "--ping-timeout", &timeout];
        let nodes: Vec<ServerProcess> = NODES
            .iter()
            .map(|name| {
                let mut args = args.to_vec();
                args.extend(["--node", name, "--cluster", &cluster]);
                let mut node = ServerProcess::echo(rt, &args);
                let named = format!("{} {name}", node.name());
                node.process.set_name(&named);
                node
            })
            .collect();
        let addrs = [nodes[0].addr, nodes[1].addr, nodes[2].addr];
        let balancer = Balancer::start_file(BALANCER, &addrs);
        let url = balancer.url();
        let fleets: Vec<Box<dyn TolerantFleet>> = vec![
            Box::new(ScriptFleet::node()),
            Box::new(ScriptFleet::python()),
            Box::new(OurFleet::new()),
        ];
        let probes = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        Cluster {
            fleets,
            balancer,
            nodes,
            redis,
            probes,
            url,
            context: format!("{BALANCER} in front of a cluster of three {rt} nodes"),
        }
    }

    /// Opens `per_mode` sessions per client on every transport; each must learn its node.
    fn open(&mut self, per_mode: u64) {
        let url = self.url.clone();
        for mode in MODES {
            let req = json!({ "op": "open", "url": url, "mode": mode, "count": per_mode });
            let answers = all(&mut self.fleets, |f| f.request(req.clone()));
            for (fleet, answer) in self.fleets.iter().zip(&answers) {
                let opened = sessions(answer);
                assert_eq!(
                    opened.len() as u64,
                    per_mode,
                    "{}: {}",
                    self.context,
                    fleet.name()
                );
                for s in opened {
                    assert!(
                        NODES.contains(&node_of(s)),
                        "{}: {} session on an unknown node: {s}",
                        self.context,
                        fleet.name()
                    );
                }
            }
        }
    }

    /// Every fleet's `status`, with zero errors.
    fn status(&mut self) -> Vec<Value> {
        all(&mut self.fleets, |f| f.request(json!({ "op": "status" })))
    }

    /// Every fleet's `status` and the errors its fleet reported since the last request (a
    /// fleet that reports errors is asked again, so the status is never lost).
    fn status_tolerant(&mut self) -> Vec<(Value, Vec<String>)> {
        all(&mut self.fleets, |f| {
            let mut errors = Vec::new();
            for _ in 0..5 {
                match f.try_request(json!({ "op": "status" })) {
                    Ok(answer) => return (answer, errors),
                    Err(e) => errors.extend(e),
                }
            }
            panic!(
                "{}: status keeps failing: {:?}",
                f.name(),
                &errors[..errors.len().min(20)]
            )
        })
    }

    /// Each fleet reached every node with its open sessions (round-robin spreads them).
    fn check_spread(&self, answers: &[Value]) {
        for (fleet, answer) in self.fleets.iter().zip(answers) {
            let used: BTreeSet<&str> = sessions(answer)
                .iter()
                .filter(|s| is_open(s))
                .map(node_of)
                .collect();
            assert_eq!(
                used.len(),
                3,
                "{}: {}'s sessions did not reach every node: {used:?}",
                self.context,
                fleet.name()
            );
        }
    }

    /// Every open session echoes [`MESSAGES`] messages; `expected` sessions in all must have.
    fn echo_round(&mut self, expected: u64) {
        let answers = all(&mut self.fleets, |f| {
            f.request(json!({ "op": "echo", "count": MESSAGES }))
        });
        check_echo_round(&answers, expected, MESSAGES, &self.context);
    }

    fn close_all(&mut self, expected: u64) {
        let answers = all(&mut self.fleets, |f| f.request(json!({ "op": "close" })));
        let closed: u64 = answers
            .iter()
            .map(|a| a["closed"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(
            closed, expected,
            "{}: sessions closed at the end",
            self.context
        );
    }

    /// Probe sessions of our client (three per transport) through the balancer.
    fn probe(&self, timeout: Duration) -> Result<Vec<probe::Probed>, String> {
        probe::probe(&self.probes, &self.url, 3, timeout)
    }

    /// Kills node `index` (SIGKILL) and waits for it to be gone.
    fn kill(&mut self, index: usize) {
        let process = &mut self.nodes[index].process;
        let status = Command::new("kill")
            .arg("-KILL")
            .arg(process.pid().to_string())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "{}: `kill -KILL` failed: {status:?}",
            process.name()
        );
        if process.wait_exit(Duration::from_secs(10)).is_none() {
            let msg = process.failure("still running 10 s after SIGKILL");
            panic!("{msg}");
        }
    }

    /// Panics (with `what`) unless every node still runs.
    fn check_nodes_running(&mut self, what: &str) {
        for node in &mut self.nodes {
            if node.process.wait_exit(Duration::ZERO).is_some() {
                let msg = node.process.failure(&format!("exited {what}"));
                panic!("{}: {msg}", self.context);
            }
        }
    }
}

impl Drop for Cluster {
    /// When the test fails, what the nodes, the balancer and Redis said.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for node in &self.nodes {
            let text = node.process.stderr_tail();
            eprintln!(
                "--- {} stderr (end) ---\n{}",
                node.name(),
                tail(&text, 4096)
            );
        }
        let text = self.balancer.process.stderr_tail();
        eprintln!(
            "--- {} stderr (end) ---\n{}",
            self.balancer.process.name(),
            tail(&text, 4096)
        );
        eprintln!("--- redis log (end) ---\n{}", tail(&self.redis.log(), 4096));
    }
}

/// Opens the first batch, checks and prints where it went; the `status` answers.
fn open_first_batch(c: &mut Cluster) -> Vec<Value> {
    c.open(PER_MODE);
    let placement = c.status();
    println!(
        "{}: sessions per node {:?}",
        c.context,
        per_node(&placement, false)
    );
    c.check_spread(&placement);
    placement
}

fn round_robin_without_stickiness(rt: Runtime) {
    let mut c = Cluster::start(rt);
    open_first_batch(&mut c);
    let probed = c
        .probe(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{}: {e}", c.context));
    for p in &probed {
        assert!(
            NODES.contains(&p.node.as_str()),
            "{}: a probe session on an unknown node: {p:?}",
            c.context
        );
    }
    println!(
        "{}: session ids carry their owner's name, e.g. {}",
        c.context,
        probed
            .iter()
            .map(|p| format!("{} {}", p.transport, p.sid))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Echo on every session; heartbeats (every 500 ms) run through the relays meanwhile.
    let total = 3 * 3 * PER_MODE;
    c.echo_round(total);
    std::thread::sleep(Duration::from_millis(1200));
    c.echo_round(total);
    c.close_all(total);
}

fn a_node_that_dies(rt: Runtime) {
    let mut c = Cluster::start(rt);
    let placement = open_first_batch(&mut c);
    let total = 3 * 3 * PER_MODE;
    c.echo_round(total);

    // Who owns what, then kill the node with the most sessions.
    let mut owner: HashMap<Key, String> = HashMap::new();
    for (f, answer) in placement.iter().enumerate() {
        for s in sessions(answer) {
            owner.insert((f, index_of(s)), node_of(s).to_owned());
        }
    }
    let counts = per_node(&placement, false);
    let victim = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(n, _)| n.clone())
        .expect("sessions somewhere");
    let victim_index = NODES.iter().position(|n| *n == victim).expect("a node");
    c.kill(victim_index);
    let killed = Instant::now();

    // Watch every session: when each is first seen closed, and the clients' errors.
    let mut closed_at: HashMap<Key, Duration> = HashMap::new();
    let mut errors: Vec<(usize, String)> = Vec::new();
    let last = loop {
        let now = c.status_tolerant();
        let elapsed = killed.elapsed();
        for (f, (answer, errs)) in now.iter().enumerate() {
            errors.extend(errs.iter().map(|e| (f, e.clone())));
            for s in sessions(answer).iter().filter(|s| !is_open(s)) {
                closed_at.entry((f, index_of(s))).or_insert(elapsed);
            }
        }
        let victims_closed = owner
            .iter()
            .filter(|(_, n)| **n == victim)
            .all(|(k, _)| closed_at.contains_key(k));
        // Watch on past the heartbeat, so that a live session that loses it is seen.
        if (victims_closed && elapsed >= WATCH) || elapsed >= CLOSE_BOUND {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let mut failures = Vec::new();
    let mut victim_last = Duration::ZERO;
    let (mut victim_closed, mut collateral, mut collateral_late) = (0, 0, 0);
    for (f, (answer, _)) in last.iter().enumerate() {
        let name = c.fleets[f].name();
        let late_on_polling = c.fleets[f].closes_late_after_failed_post();
        for s in sessions(answer) {
            let window = if late_on_polling && s["transport"] == "polling" {
                HEARTBEAT + COLLATERAL_WINDOW
            } else {
                COLLATERAL_WINDOW
            };
            let key = (f, index_of(s));
            let owned_by_victim = owner.get(&key) == Some(&victim);
            match (owned_by_victim, closed_at.get(&key)) {
                (true, Some(t)) => {
                    victim_closed += 1;
                    victim_last = victim_last.max(*t);
                }
                (true, None) => failures.push(format!(
                    "{name}: a session of the killed node {victim} still open after \
                     {CLOSE_BOUND:?}: {s}"
                )),
                (false, Some(t)) if *t <= COLLATERAL_WINDOW => collateral += 1,
                (false, Some(t)) if *t <= window => collateral_late += 1,
                (false, Some(t)) => failures.push(format!(
                    "{name}: a session of a live node closed {t:?} after the kill (allowed: \
                     within {window:?}, for a connection through the killed node): {s}"
                )),
                (false, None) => {}
            }
        }
    }
    for (f, e) in &errors {
        let closed = error_session(e).is_some_and(|i| closed_at.contains_key(&(*f, i)));
        if !closed {
            failures.push(format!(
                "{}: an error on a session that did not close: {e}",
                c.fleets[*f].name()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}: node {victim} killed; {} failures:\n{}",
        c.context,
        failures.len(),
        failures.join("\n")
    );
    println!(
        "{}: node {victim} killed: its {victim_closed} sessions closed, the last {victim_last:?} \
         after; {collateral} sessions of live nodes lost their connection through it at once \
         (and {collateral_late} python-engineio polling sessions a heartbeat later); {} client \
         errors, all on closed sessions",
        c.context,
        errors.len()
    );

    // The others go on untouched.
    let closed = closed_at.len() as u64;
    c.echo_round(total - closed);

    // The closed sessions come back on the live nodes.
    let url = c.url.clone();
    let answers = all(&mut c.fleets, |f| {
        f.request(json!({ "op": "reopen", "url": url }))
    });
    let mut reopened = 0;
    for (fleet, answer) in c.fleets.iter().zip(&answers) {
        for s in sessions(answer) {
            reopened += 1;
            assert!(
                NODES.contains(&node_of(s)) && node_of(s) != victim,
                "{}: {} reopened on {}: {s}",
                c.context,
                fleet.name(),
                node_of(s)
            );
        }
    }
    assert_eq!(reopened, closed, "{}: reopened sessions", c.context);
    let now = per_node(&c.status(), true);
    println!(
        "{}: {reopened} sessions reopened; open sessions per node {now:?}",
        c.context
    );
    c.echo_round(total);
    c.close_all(total);
}

fn redis_restarts(rt: Runtime) {
    let mut c = Cluster::start(rt);
    let placement = open_first_batch(&mut c);
    let total = 3 * 3 * PER_MODE;
    c.echo_round(total);
    let mode_of: HashMap<Key, String> = placement
        .iter()
        .enumerate()
        .flat_map(|(f, a)| {
            sessions(a).iter().map(move |s| {
                (
                    (f, index_of(s)),
                    s["mode"].as_str().unwrap_or("?").to_owned(),
                )
            })
        })
        .collect();

    // Redis goes away for a second, and comes back empty on the same port.
    let stopped = Instant::now();
    c.redis.stop();
    std::thread::sleep(Duration::from_secs(1));
    c.redis.restart();
    let restarted = Instant::now();
    let down = restarted - stopped;

    // New sessions go through again within the bound.
    let mut attempts = 0;
    let probed = loop {
        attempts += 1;
        match c.probe(Duration::from_secs(3)) {
            Ok(p) => break p,
            Err(e) if restarted.elapsed() > RECOVERY_BOUND => panic!(
                "{}: no new session went through within {RECOVERY_BOUND:?} after Redis \
                 restarted ({attempts} attempts); the last failure: {e}",
                c.context
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let recovered = restarted.elapsed();
    c.check_nodes_running("after Redis restarted");
    let probe_nodes: BTreeSet<&str> = probed.iter().map(|p| p.node.as_str()).collect();
    println!(
        "{}: Redis down for {down:?}; probe sessions went through {recovered:?} after the \
         restart ({attempts} attempts), on {probe_nodes:?}",
        c.context
    );

    // What survived: every session that lost its heartbeat has closed by now.
    std::thread::sleep(CLOSE_BOUND.saturating_sub(stopped.elapsed()));
    let after = c.status_tolerant();
    let mut survived: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (f, (answer, errs)) in after.iter().enumerate() {
        let open: BTreeSet<u64> = sessions(answer)
            .iter()
            .filter(|s| is_open(s))
            .map(index_of)
            .collect();
        for s in sessions(answer) {
            let mode = mode_of.get(&(f, index_of(s))).map_or("?", String::as_str);
            let entry = survived.entry(mode).or_default();
            entry.1 += 1;
            entry.0 += usize::from(is_open(s));
        }
        for e in errs {
            if error_session(e).is_none_or(|i| open.contains(&i)) {
                failures.push(format!(
                    "{}: an error on a session that did not close: {e}",
                    c.fleets[f].name()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}: after Redis restarted:\n{}",
        c.context,
        failures.join("\n")
    );
    let alive: usize = survived.values().map(|(open, _)| open).sum();
    println!(
        "{}: {alive} of {total} sessions survived the Redis restart (open {CLOSE_BOUND:?} after \
         it went down; per mode, open of all: {survived:?})",
        c.context
    );

    // Close the survivors (errors of sessions that die meanwhile are tolerated), so that the
    // fresh batch is checked alone.
    let answers = all(&mut c.fleets, |f| f.try_request(json!({ "op": "close" })));
    let close_errors: usize = answers
        .iter()
        .map(|a| a.as_ref().map_or_else(Vec::len, |_| 0))
        .sum();
    let still_open: Vec<String> = c
        .status_tolerant()
        .iter()
        .zip(&c.fleets)
        .flat_map(|((answer, _), fleet)| {
            sessions(answer)
                .iter()
                .filter(|s| is_open(s))
                .map(|s| format!("{}: {s}", fleet.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        still_open.is_empty(),
        "{}: survivors that did not close ({close_errors} close errors):\n{}",
        c.context,
        still_open.join("\n")
    );

    // A fresh batch on every node, with zero errors.
    c.open(FRESH_PER_MODE);
    let placement = c.status();
    println!(
        "{}: fresh sessions per node {:?}",
        c.context,
        per_node(&placement, true)
    );
    c.check_spread(&placement);
    let fresh = 3 * 3 * FRESH_PER_MODE;
    c.echo_round(fresh);
    std::thread::sleep(Duration::from_millis(1200));
    c.echo_round(fresh);
    c.close_all(fresh);
    c.check_nodes_running("at the end");
}
