//! Many client sessions at once, driven together: the protocol of `tests/node/fleet.js`
//! (`engine.io-client` 6.x) and `tests/python/fleet.py` (`python-engineio`), for the tests of
//! several nodes behind a load balancer. A test implements [`Fleet`] for our own client too.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::process::LineProcess;
use crate::{node_bin, node_peers, node_script, python_bin, python_peers, python_script};

/// How long one fleet request may take.
pub const FLEET_TIMEOUT: Duration = Duration::from_secs(40);

/// Sessions of one client implementation, opened, echoed, checked and closed together.
///
/// Requests and answers are JSON, as `tests/node/fleet.js` describes: `open {url, mode,
/// count}`, `echo {count}`, `status`, `reopen {url}`, `close`. Every session has a node (the
/// echo server's answer to `__node`), a mode (`polling`, `websocket`, `upgrade`), whether it
/// is open, and why it closed.
pub trait Fleet: Send {
    /// The client's name in failure messages.
    fn name(&self) -> &str;

    /// Sends one request; panics (with what went wrong) if it failed.
    fn request(&mut self, req: Value) -> Value;

    /// The close reason the client reports when the server closed its session cleanly, as
    /// the reference server does when it shuts down: on polling a close packet, on WebSocket a
    /// close frame (the reference sends no close packet there). `transport` is `polling` or
    /// `websocket`.
    fn clean_close(&self, transport: &str) -> &'static str;
}

/// A fleet in a child process (Node.js or Python).
pub struct ProcessFleet {
    process: LineProcess,
    /// The clean close's reason on polling and on WebSocket.
    clean_close: [&'static str; 2],
}

impl ProcessFleet {
    /// `engine.io-client` 6.x in Node.js (`tests/node/fleet.js`).
    pub fn node() -> ProcessFleet {
        let dir = node_peers();
        let mut cmd = Command::new(node_bin());
        cmd.arg(node_script("fleet.js"))
            .env("NODE_PATH", dir.join("node_modules"));
        ProcessFleet {
            process: LineProcess::spawn(cmd, "engine.io-client 6.x fleet"),
            clean_close: ["transport close", "transport close"],
        }
    }

    /// The `python-engineio` asyncio client (`tests/python/fleet.py`).
    pub fn python() -> ProcessFleet {
        let venv = python_peers();
        let mut cmd = Command::new(python_bin(&venv));
        cmd.arg("-u").arg(python_script("fleet.py"));
        ProcessFleet {
            process: LineProcess::spawn(cmd, "python-engineio fleet"),
            // python-engineio reports a close packet as the server's disconnect, and any end of
            // the WebSocket as a transport error (python-socketio then reconnects).
            clean_close: ["server disconnect", "transport error"],
        }
    }
}

impl Fleet for ProcessFleet {
    fn name(&self) -> &str {
        self.process.name()
    }

    fn request(&mut self, mut req: Value) -> Value {
        req["timeout_ms"] = json!(FLEET_TIMEOUT.as_millis() as u64 - 5000);
        let op = req["op"].clone();
        let answer = self.process.request(&req, FLEET_TIMEOUT);
        if answer.get("error").is_some() {
            let errors: Vec<String> = answer["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(20)
                        .map(|e| e.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let msg = self.process.failure(&format!(
                "{op} failed ({} errors):\n{}",
                answer["errors"].as_array().map_or(0, Vec::len),
                errors.join("\n")
            ));
            panic!("{msg}");
        }
        answer
    }

    fn clean_close(&self, transport: &str) -> &'static str {
        self.clean_close[usize::from(transport == "websocket")]
    }
}

/// Runs `req` on every fleet at once (a thread each); the answers in fleet order.
pub fn on_all<F: ?Sized + Send, T: Send>(
    fleets: &mut [Box<F>],
    req: impl Fn(&mut F) -> T + Sync,
) -> Vec<T> {
    let req = &req;
    std::thread::scope(|scope| {
        let handles: Vec<_> = fleets
            .iter_mut()
            .map(|f| scope.spawn(move || req(f.as_mut())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Checks the fleets' answers to one `echo` round of `per_session` messages: `expected`
/// sessions echoed, every message of each.
pub fn check_echo_round(answers: &[Value], expected: u64, per_session: u64, context: &str) {
    let total = |key: &str| -> u64 { answers.iter().map(|a| a[key].as_u64().unwrap_or(0)).sum() };
    assert_eq!(
        (total("sessions"), total("messages")),
        (expected, expected * per_session),
        "{context}: sessions and messages echoed: {answers:?}"
    );
}
