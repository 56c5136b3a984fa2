//! Several nodes behind a load balancer, end to end on loopback: three of our echo servers
//! (`--node n1` to `n3`, so a session can ask which node serves it) behind HAProxy or nginx,
//! each run from its configuration in `docs/several-nodes/`, and three clients through it:
//! `engine.io-client` 6.x (npm), `python-engineio` (PyPI) and our own, each with sessions on
//! polling only, WebSocket only and upgrading. Every test runs once per runtime of the nodes.
//!
//! Each test:
//! 1. opens the sessions (each client's at the same time), and checks they spread over all
//!    three nodes (but behind the address hash, which sends one address to one node);
//! 2. echoes messages on every session (text and binary in turn, each carrying its session,
//!    sequence number and a checksum; every echo must come back equal and in order), with
//!    heartbeats running through the balancer: zero errors, so zero "Session ID unknown";
//! 3. shuts one node down gracefully (SIGTERM): every session it served sees a clean close
//!    (the client's reason for a server's close packet), every other session stays open and
//!    echoes on untouched;
//! 4. reopens the closed sessions through the balancer, which sends them to the other nodes,
//!    echoes on every session again, and closes all.
//!
//! HAProxy and nginx come from Debian's packages (`.ci/run` installs them); `ENGINEIO_HAPROXY`
//! and `ENGINEIO_NGINX` name other binaries.

mod our_fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use engineio_tests::{
    check_echo_round, on_all, Balancer, Fleet, ProcessFleet, Recipe, Runtime, ServerProcess,
};
use serde_json::{json, Value};

use our_fleet::OurFleet;

/// Sessions per client and mode.
const PER_MODE: u64 = 20;
/// Messages per session and echo round.
const MESSAGES: u64 = 6;
const MODES: [&str; 3] = ["polling", "websocket", "upgrade"];
const NODES: [&str; 3] = ["n1", "n2", "n3"];

engineio_tests::runtime_tests!(
    haproxy_cookie_insert,
    haproxy_cookie_prefix,
    haproxy_sid,
    nginx_sid,
    nginx_ip_hash
);

fn haproxy_cookie_insert(rt: Runtime) {
    several_nodes(rt, Recipe::HaproxyCookieInsert);
}

fn haproxy_cookie_prefix(rt: Runtime) {
    several_nodes(rt, Recipe::HaproxyCookiePrefix);
}

fn haproxy_sid(rt: Runtime) {
    several_nodes(rt, Recipe::HaproxySid);
}

fn nginx_sid(rt: Runtime) {
    several_nodes(rt, Recipe::NginxSid);
}

fn nginx_ip_hash(rt: Runtime) {
    several_nodes(rt, Recipe::NginxIpHash);
}

/// Sends `req(fleet)` to every fleet at once (a thread each); the answers in fleet order.
fn all(fleets: &mut [Box<dyn Fleet>], req: impl Fn(&dyn Fleet) -> Value + Sync) -> Vec<Value> {
    on_all(fleets, |f| {
        let r = req(f);
        f.request(r)
    })
}

fn sessions(answer: &Value) -> &[Value] {
    answer["sessions"].as_array().map_or(&[], Vec::as_slice)
}

fn node_of(s: &Value) -> &str {
    s["node"].as_str().unwrap_or("?")
}

fn several_nodes(rt: Runtime, recipe: Recipe) {
    let mut nodes: Vec<ServerProcess> = NODES
        .iter()
        .map(|name| {
            let mut args: Vec<String> = ["--ping-interval", "500", "--ping-timeout", "5000"]
                .map(String::from)
                .to_vec();
            args.extend(recipe.node_args(name));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut node = ServerProcess::echo(rt, &args);
            let named = format!("{} {name}", node.name());
            node.process.set_name(&named);
            node
        })
        .collect();
    let addrs = [nodes[0].addr, nodes[1].addr, nodes[2].addr];
    let balancer = Balancer::start(recipe, &addrs);
    let url = balancer.url();
    let context = format!("{} in front of three {rt} nodes", recipe.file());

    let mut fleets: Vec<Box<dyn Fleet>> = vec![
        Box::new(ProcessFleet::node()),
        Box::new(ProcessFleet::python()),
        Box::new(OurFleet::new()),
    ];

    // 1. Open, on every transport.
    for mode in MODES {
        let answers = all(
            &mut fleets,
            |_| json!({ "op": "open", "url": url, "mode": mode, "count": PER_MODE }),
        );
        for (fleet, answer) in fleets.iter().zip(&answers) {
            let opened = sessions(answer);
            assert_eq!(opened.len() as u64, PER_MODE, "{context}: {}", fleet.name());
            for s in opened {
                assert!(
                    NODES.contains(&node_of(s)),
                    "{context}: {} session on an unknown node: {s}",
                    fleet.name()
                );
            }
        }
    }
    let placement = status(&mut fleets);
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, s) in placement
        .iter()
        .flat_map(|(f, a)| sessions(a).iter().map(move |s| (f, s)))
    {
        *per_node.entry(node_of(s)).or_default() += 1;
    }
    println!("{context}: sessions per node {per_node:?}");
    if recipe.spreads() {
        for (name, answer) in &placement {
            let used: BTreeSet<&str> = sessions(answer).iter().map(node_of).collect();
            assert_eq!(
                used.len(),
                3,
                "{context}: {name}'s sessions did not reach every node: {used:?}"
            );
        }
    } else {
        // One client address, one node.
        assert_eq!(per_node.len(), 1, "{context}: {per_node:?}");
    }

    // 2. Echo on every session; heartbeats (every 500 ms) run through the balancer meanwhile.
    let total = 3 * 3 * PER_MODE;
    echo_round(&mut fleets, &context, total);
    std::thread::sleep(Duration::from_millis(1200));
    echo_round(&mut fleets, &context, total);

    // 3. Shut down the node with the most sessions gracefully.
    let (victim, _) = per_node
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(n, c)| (n.to_string(), *c))
        .expect("sessions somewhere");
    let victim_index = NODES.iter().position(|n| *n == victim).expect("a node");
    let node = &mut nodes[victim_index];
    node.process.terminate();
    let exit = node.process.wait_exit(Duration::from_secs(15));
    assert!(
        exit.is_some_and(|s| s.success()),
        "{context}: node {victim} did not shut down cleanly: {exit:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let now = status(&mut fleets);
        let victims_closed = now.iter().all(|(_, a)| {
            sessions(a)
                .iter()
                .filter(|s| node_of(s) == victim)
                .all(|s| s["open"] == false)
        });
        if victims_closed || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut closed = 0;
    for ((name, answer), fleet) in after.iter().zip(&fleets) {
        for s in sessions(answer) {
            if node_of(s) == victim {
                closed += 1;
                assert_eq!(
                    (s["open"].as_bool(), s["reason"].as_str()),
                    (
                        Some(false),
                        Some(fleet.clean_close(s["transport"].as_str().unwrap_or("?")))
                    ),
                    "{context}: {name}: a session of the node shut down did not close cleanly: {s}"
                );
            } else {
                assert_eq!(
                    s["open"].as_bool(),
                    Some(true),
                    "{context}: {name}: a session of another node closed: {s}"
                );
            }
        }
    }
    println!("{context}: node {victim} shut down, {closed} sessions closed cleanly");
    // The others go on untouched.
    echo_round(&mut fleets, &context, total - closed as u64);

    // 4. The closed sessions come back on the other nodes.
    let answers = all(&mut fleets, |_| json!({ "op": "reopen", "url": url }));
    let mut reopened = 0;
    for (fleet, answer) in fleets.iter().zip(&answers) {
        for s in sessions(answer) {
            reopened += 1;
            assert!(
                NODES.contains(&node_of(s)) && node_of(s) != victim,
                "{context}: {} reopened on {}: {s}",
                fleet.name(),
                node_of(s)
            );
        }
    }
    assert_eq!(reopened, closed, "{context}: reopened sessions");
    echo_round(&mut fleets, &context, total);
    let answers = all(&mut fleets, |_| json!({ "op": "close" }));
    let closed_at_end: u64 = answers
        .iter()
        .map(|a| a["closed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        closed_at_end, total,
        "{context}: sessions closed at the end"
    );
    drop(balancer);
}

fn status(fleets: &mut [Box<dyn Fleet>]) -> Vec<(String, Value)> {
    let answers = all(fleets, |_| json!({ "op": "status" }));
    fleets
        .iter()
        .map(|f| f.name().to_owned())
        .zip(answers)
        .collect()
}

/// Every open session echoes [`MESSAGES`] messages; `expected` sessions in all must have.
fn echo_round(fleets: &mut [Box<dyn Fleet>], context: &str, expected: u64) {
    let answers = all(fleets, |_| json!({ "op": "echo", "count": MESSAGES }));
    check_echo_round(&answers, expected, MESSAGES, context);
}
