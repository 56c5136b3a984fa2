//! The example that drives the sans-IO machines with no async runtime
//! (`engineio-session/examples/std_echo.rs`: `std::net`, threads, one lock, `httparse`),
//! against the reference client `engine.io-client` 6.x and against our own client: every
//! message echoed byte for byte and in order over long-polling, with heartbeats between
//! batches.

use std::process::Command;

use engineio_tests::{
    echo_client_bin, generate_messages, run_echo_session, ClientPeer, EchoRules, EchoSession,
    Expect, MessageRules, Runtime, ServerProcess,
};
use serde_json::json;

fn server() -> ServerProcess {
    let args = ["--ping-interval", "250", "--ping-timeout", "2000"];
    ServerProcess::example("engineio-session", "std_echo", &args)
}

#[test]
fn the_reference_client_over_polling() {
    let server = server();
    let mut peer = ClientPeer::node("6");
    peer.against(server.name());
    let messages = generate_messages(81, 300, &MessageRules::default());
    let report = run_echo_session(
        &mut peer,
        &server.url(),
        &EchoSession {
            opts: json!({ "transports": ["polling"] }),
            messages: &messages,
            batches: 6,
            expect: Expect::Polling,
            rules: EchoRules {
                undefined_is_empty_text: true,
            },
            heartbeats: 2,
        },
    );
    println!(
        "{} messages, {} bytes echoed in {:?}; heartbeats {:?}",
        report.stats.messages, report.stats.bytes, report.elapsed, report.heartbeats
    );
    assert_eq!(report.stats.messages, 300);
    assert!(
        report.heartbeats.unwrap_or(0) >= 2,
        "{:?}",
        report.heartbeats
    );
}

#[test]
fn our_client_over_polling() {
    let server = server();
    let url = format!("{}/engine.io/", server.url());
    let out = Command::new(echo_client_bin(Runtime::Tokio))
        .args(["--url", &url, "--transport", "polling", "--eio", "4"])
        .args(["--count", "500", "--max-size", "10"])
        .output()
        .expect("echo-client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("500 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
