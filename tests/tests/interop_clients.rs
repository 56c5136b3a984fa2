//! Real clients against our server: the reference client `engine.io-client` 6.x and 3.x (npm)
//! under Node.js, and the `python-engineio` client (PyPI), each talking to the `echo` example
//! of each runtime binding (engineio-tokio, engineio-smol) over loopback. Every test runs once
//! per runtime, as `on_tokio::NAME` and `on_smol::NAME` (see
//! [`engineio_tests::runtime_tests!`]).
//!
//! Every test starts its own echo server and client process, opens one socket with the
//! transport options under test, and echoes a few hundred messages in batches: text with
//! multibyte and non-BMP characters, empty text, protocol-looking text, and binary from 0 to
//! 64 KiB. Every echo must come back byte for byte, in order, as the same kind (text or
//! binary); see [`engineio_tests::check_echoes`] for the only form difference tolerated. The
//! test also checks the transports the client actually used (polling throughout, WebSocket
//! throughout, or polling then WebSocket). The server pings every 250 ms, and halfway through
//! every session waits for two heartbeats (protocol 4: the server's pings, answered by the
//! client; protocol 3: the client's pings, answered by the server) between batches.
//!
//! The peers are installed on first use under the target directory (npm packages, and a Python
//! virtual environment); later runs reuse them. `ENGINEIO_PEER_STDERR=1` shows the peers'
//! stderr as they run.

use engineio_tests::{
    generate_messages, node_peers, npm_peer_version, python_package_version, python_peers,
    run_echo_session, ClientPeer, EchoRules, EchoSession, Expect, MessageRules, Runtime,
    ServerProcess,
};
use serde_json::{json, Value};

/// Messages per session.
const MESSAGES: usize = 300;
/// Batches per session (a batch is sent at once, then its echoes awaited).
const BATCHES: usize = 6;

fn node_versions() {
    let dir = node_peers();
    println!(
        "peers: engine.io-client {} and {} (as eioc3)",
        npm_peer_version(&dir, "engine.io-client"),
        npm_peer_version(&dir, "eioc3")
    );
}

/// Our echo server on runtime `rt`, with the short heartbeats of every session and extra
/// `server_args`.
fn echo_server(rt: Runtime, server_args: &[&str]) -> ServerProcess {
    // Short heartbeats, so that pings and pongs (v4: server to client; v3: client to server)
    // mix with the traffic of every session.
    let mut args = vec!["--ping-interval", "250", "--ping-timeout", "2000"];
    args.extend_from_slice(server_args);
    ServerProcess::echo(rt, &args)
}

fn session(
    rt: Runtime,
    peer: ClientPeer,
    server_args: &[&str],
    opts: Value,
    rules: MessageRules,
    expect: Expect,
    seed: u64,
) {
    let server = echo_server(rt, server_args);
    session_in(&server, peer, opts, rules, expect, seed, BATCHES);
}

fn session_in(
    server: &ServerProcess,
    mut peer: ClientPeer,
    opts: Value,
    rules: MessageRules,
    expect: Expect,
    seed: u64,
    batches: usize,
) {
    peer.against(server.name());
    let messages = generate_messages(seed, MESSAGES, &rules);
    let echo_rules = EchoRules {
        undefined_is_empty_text: true,
    };
    let report = run_echo_session(
        &mut peer,
        &server.url(),
        &EchoSession {
            opts: opts.clone(),
            messages: &messages,
            batches,
            expect,
            rules: echo_rules,
            heartbeats: 2,
        },
    );
    println!(
        "{} {opts}: {} messages, {} bytes echoed in {:?}; transports per batch {:?}; echoes \
         received on {:?}; binary delivered as {:?}; empty text as undefined: {}; heartbeats: \
         {:?}",
        peer.name(),
        report.stats.messages,
        report.stats.bytes,
        report.elapsed,
        report.transports,
        report.stats.via,
        report.stats.binary_kinds,
        report.stats.undefined_as_empty,
        report.heartbeats,
    );
    assert!(
        report.heartbeats.unwrap_or(0) >= 2,
        "{}: heartbeats {:?}",
        peer.name(),
        report.heartbeats
    );
}

engineio_tests::runtime_tests!(
    eio6_polling,
    eio6_polling_fetch_force_base64,
    eio6_websocket,
    eio6_upgrade,
    eio6_fetch_upgrade,
    eio3_polling,
    eio3_polling_force_base64,
    eio3_websocket,
    eio3_websocket_force_base64,
    eio3_upgrade,
    eio3_jsonp,
    python_polling,
    python_websocket,
    python_upgrade
);

fn v4_rules() -> MessageRules {
    MessageRules::default()
}

fn python_rules() -> MessageRules {
    MessageRules {
        json_text: false,
        ..MessageRules::default()
    }
}

fn v3_rules() -> MessageRules {
    MessageRules {
        record_separator: true,
        ..MessageRules::default()
    }
}

// ---- engine.io-client 6.x -------------------------------------------------------------------

fn eio6_polling(rt: Runtime) {
    node_versions();
    session(
        rt,
        ClientPeer::node("6"),
        &[],
        json!({ "transports": ["polling"] }),
        v4_rules(),
        Expect::Polling,
        61,
    );
}

fn eio6_polling_fetch_force_base64(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("6"),
        &[],
        json!({ "transports": ["fetch"], "forceBase64": true }),
        v4_rules(),
        Expect::Polling,
        62,
    );
}

fn eio6_websocket(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("6"),
        &[],
        json!({ "transports": ["websocket"] }),
        v4_rules(),
        Expect::Websocket,
        63,
    );
}

fn eio6_upgrade(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("6"),
        &[],
        json!({ "transports": ["polling", "websocket"] }),
        v4_rules(),
        Expect::Upgrade,
        64,
    );
}

fn eio6_fetch_upgrade(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("6"),
        &[],
        json!({ "transports": ["fetch", "websocket"] }),
        v4_rules(),
        Expect::Upgrade,
        65,
    );
}

// ---- engine.io-client 3.x (protocol 3) ------------------------------------------------------

const EIO3: &[&str] = &["--allow-eio3"];

fn eio3_polling(rt: Runtime) {
    node_versions();
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["polling"] }),
        v3_rules(),
        Expect::Polling,
        31,
    );
}

fn eio3_polling_force_base64(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["polling"], "forceBase64": true }),
        v3_rules(),
        Expect::Polling,
        32,
    );
}

fn eio3_websocket(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["websocket"] }),
        v3_rules(),
        Expect::Websocket,
        33,
    );
}

fn eio3_websocket_force_base64(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["websocket"], "forceBase64": true }),
        v3_rules(),
        Expect::Websocket,
        34,
    );
}

fn eio3_upgrade(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["polling", "websocket"] }),
        v3_rules(),
        Expect::Upgrade,
        35,
    );
}

/// JSONP polling (`forceJSONP`): the client's JSONP transport needs a DOM, which the script
/// emulates (see `installDomShim` in `tests/node/engineio_client.js`): `<script>` GETs and
/// form POSTs go over Node's http module, and the client's own code does the rest.
fn eio3_jsonp(rt: Runtime) {
    session(
        rt,
        ClientPeer::node("3"),
        EIO3,
        json!({ "transports": ["polling"], "forceJSONP": true }),
        MessageRules {
            backslash_newline: false,
            ..v3_rules()
        },
        Expect::Polling,
        36,
    );
}

// ---- python-engineio ------------------------------------------------------------------------

fn python_versions() {
    let venv = python_peers();
    println!(
        "peers: python-engineio {}, requests {}, websocket-client {}",
        python_package_version(&venv, "python-engineio"),
        python_package_version(&venv, "requests"),
        python_package_version(&venv, "websocket-client"),
    );
}

/// The python-engineio client refuses a polling response of more than 16 packets
/// (`Payload.max_decode_packets`, "Unexpected packet from server, aborting", then a
/// `transport error` close), which a server that has more queued (ours, and the reference
/// `engine.io`, which sends its whole buffer) will send. So at most 15 messages are in flight
/// here: 300 messages in 20 batches.
fn python_polling(rt: Runtime) {
    python_versions();
    session_in(
        &echo_server(rt, &[]),
        ClientPeer::python(),
        json!({ "transports": ["polling"] }),
        python_rules(),
        Expect::Polling,
        71,
        MESSAGES.div_ceil(15),
    );
}

fn python_websocket(rt: Runtime) {
    session(
        rt,
        ClientPeer::python(),
        &[],
        json!({ "transports": ["websocket"] }),
        python_rules(),
        Expect::Websocket,
        72,
    );
}

/// python-engineio upgrades inside `connect` (probe and `5` before it returns), so every
/// batch goes over WebSocket; the open itself is on polling.
fn python_upgrade(rt: Runtime) {
    session(
        rt,
        ClientPeer::python(),
        &[],
        json!({ "transports": ["polling", "websocket"] }),
        python_rules(),
        Expect::Upgrade,
        73,
    );
}
