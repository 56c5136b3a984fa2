//! Our client (the `echo-client` example of each runtime binding, engineio-tokio and
//! engineio-smol) against real servers: the Node reference server `engine.io` 6.x (with
//! `allowEIO3`, protocols 4 and 3), the `python-engineio` server (protocol 4), and our own echo
//! server on the same runtime; every transport mode. Every test runs once per runtime, as
//! `on_tokio::NAME` and `on_smol::NAME` (see [`engineio_tests::runtime_tests!`]).

use std::process::Command;
use std::time::{Duration, Instant};

use engineio_tests::{echo_client_bin, Runtime, ServerProcess};

engineio_tests::runtime_tests!(
    against_the_node_reference_server,
    against_the_python_engineio_server,
    against_our_server
);

/// Runs the `echo-client` of `rt` against `url` and checks it reports every echo passed.
fn echo_client(rt: Runtime, url: &str, transport: &str, eio: &str, count: usize) {
    echo_client_sized(rt, url, transport, eio, count, None);
}

fn echo_client_sized(
    rt: Runtime,
    url: &str,
    transport: &str,
    eio: &str,
    count: usize,
    max: Option<u64>,
) {
    let bin = echo_client_bin(rt);
    let start = Instant::now();
    let out = Command::new(bin)
        .args([
            "--url",
            &format!("{url}/engine.io/"),
            "--transport",
            transport,
        ])
        .args(["--eio", eio, "--count", &count.to_string()])
        .args(
            max.map(|m| ["--max-size".to_owned(), m.to_string()])
                .into_iter()
                .flatten(),
        )
        .output()
        .unwrap_or_else(|e| panic!("run echo-client ({rt}): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == format!("{count} passed, 0 failed"),
        "echo-client ({rt}): {url} {transport} EIO={eio}: {stdout} {stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "echo-client ({rt}): {url} {transport} EIO={eio}: too slow"
    );
}

fn against_the_node_reference_server(rt: Runtime) {
    let server =
        ServerProcess::node_engineio(&["--ping-interval", "1000", "--ping-timeout", "2000"]);
    for eio in ["4", "3"] {
        for transport in ["polling", "websocket", "upgrade"] {
            echo_client(rt, &server.url(), transport, eio, 200);
        }
    }
}

/// python-engineio's server reads a POST body with one `read(length)` of aiohttp's stream,
/// which returns what has arrived so far: a body that comes in several TCP reads is cut
/// short, and its last message with it (python-engineio 4.15.1; its own client sends small
/// bodies). Messages that go over polling stay small here so each POST (at most 16 of them,
/// about 1 KB) arrives in one piece; WebSocket carries the large ones.
fn against_the_python_engineio_server(rt: Runtime) {
    let server =
        ServerProcess::python_engineio(&["--ping-interval", "1000", "--ping-timeout", "2000"]);
    for transport in ["polling", "upgrade"] {
        echo_client_sized(rt, &server.url(), transport, "4", 200, Some(20));
    }
    echo_client(rt, &server.url(), "websocket", "4", 200);
}

fn against_our_server(rt: Runtime) {
    let server = ServerProcess::echo(
        rt,
        &[
            "--allow-eio3",
            "--ping-interval",
            "500",
            "--ping-timeout",
            "1000",
        ],
    );
    for eio in ["4", "3"] {
        for transport in ["polling", "websocket", "upgrade"] {
            echo_client(rt, &server.url(), transport, eio, 200);
        }
    }
}
