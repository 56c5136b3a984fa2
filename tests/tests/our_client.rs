//! Our client (the `echo-client` example of engineio-tokio) against real servers: the Node
//! reference server `engine.io` 6.x (with `allowEIO3`, protocols 4 and 3), the
//! `python-engineio` server (protocol 4), and our own echo server; every transport mode.

use std::process::Command;
use std::time::{Duration, Instant};

use engineio_tests::{example_bin, ServerProcess};

/// Runs `echo-client` against `url` and checks it reports every echo passed.
fn echo_client(url: &str, transport: &str, eio: &str, count: usize) {
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

#[test]
fn against_the_python_engineio_server() {
    let server =
        ServerProcess::python_engineio(&["--ping-interval", "1000", "--ping-timeout", "2000"]);
    for transport in ["polling", "websocket", "upgrade"] {
        echo_client(&server.url(), transport, "4", 200);
    }
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
