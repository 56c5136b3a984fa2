//! Our client (the `echo-client` example of engineio-tokio) against real servers: the Node
//! reference server `engine.io` 6.x (with `allowEIO3`, protocols 4 and 3), the
//! `python-engineio` server (protocol 4), and our own echo server; every transport mode.

use std::process::Command;
use std::time::{Duration, Instant};

use engineio_tests::{example_bin, ServerProcess};

/// Runs `echo-client` against `url` and checks it reports every echo passed.
fn echo_client(url: &str, transport: &str, eio: &str, count: usize) {
    echo_client_sized(url, transport, eio, count, None);
}

fn echo_client_sized(url: &str, transport: &str, eio: &str, count: usize, max: Option<u64>) {
    let bin = example_bin("engineio-tokio", "echo-client");
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
        .expect("run echo-client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == format!("{count} passed, 0 failed"),
        "{url} {transport} EIO={eio}: {stdout} {stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(60), "too slow");
}

#[test]
fn against_the_node_reference_server() {
    let server =
        ServerProcess::node_engineio(&["--ping-interval", "1000", "--ping-timeout", "2000"]);
    for eio in ["4", "3"] {
        for transport in ["polling", "websocket", "upgrade"] {
            echo_client(&server.url(), transport, eio, 200);
        }
    }
}

/// python-engineio's server reads a POST body with one `read(length)` of aiohttp's stream,
/// which returns what has arrived so far: a body that comes in several TCP reads is cut
/// short, and its last message with it (python-engineio 4.15.1; its own client sends small
/// bodies). Messages that go over polling stay small here so each POST (at most 16 of them,
/// about 1 KB) arrives in one piece; WebSocket carries the large ones.
#[test]
fn against_the_python_engineio_server() {
    let server =
        ServerProcess::python_engineio(&["--ping-interval", "1000", "--ping-timeout", "2000"]);
    for transport in ["polling", "upgrade"] {
        echo_client_sized(&server.url(), transport, "4", 200, Some(20));
    }
    echo_client(&server.url(), "websocket", "4", 200);
}

#[test]
fn against_our_server() {
    let server = ServerProcess::echo(&[
        "--allow-eio3",
        "--ping-interval",
        "500",
        "--ping-timeout",
        "1000",
    ]);
    for eio in ["4", "3"] {
        for transport in ["polling", "websocket", "upgrade"] {
            echo_client(&server.url(), transport, eio, 200);
        }
    }
}
