//! The fleets of `tests/node/fleet.js` (`engine.io-client` 6.x) and `tests/python/fleet.py`
//! (`python-engineio`), as [`engineio_tests::ProcessFleet`] runs them, but able to hand back
//! the errors a request reported instead of panicking: when a node is killed or Redis goes
//! away, sessions may close with an error (`engine.io-client` emits `error` for a failed
//! poll), and the test decides which of those were expected. Only sessions that closed may
//! have errors; anything else is still a failure.

use std::process::Command;

use engineio_tests::{
    node_peers, node_script, python_bin, python_peers, python_script, Fleet, LineProcess,
    FLEET_TIMEOUT, NODE_ENV,
};
use serde_json::{json, Value};

/// A fleet that can report its errors: [`Fleet::request`] panics on them, [`try_request`]
/// returns them.
///
/// [`try_request`]: TolerantFleet::try_request
pub trait TolerantFleet: Fleet {
    /// Sends one request; the answer, or the errors it reported (each
    /// `session I (MODE, node NODE): WHAT` when about a session).
    fn try_request(&mut self, req: Value) -> Result<Value, Vec<String>>;

    /// Whether a session of this client on polling whose POST failed (its connection ran
    /// through a node that died) goes on as if open until its server closes it for the lost
    /// pong, one heartbeat (pingInterval + pingTimeout) later: python-engineio's write loop
    /// just stops on a failed POST, while its read loop goes on.
    fn closes_late_after_failed_post(&self) -> bool {
        false
    }
}

/// A fleet in a child process speaking the protocol of `tests/node/fleet.js`.
pub struct ScriptFleet {
    process: LineProcess,
    clean_close: [&'static str; 2],
    closes_late_after_failed_post: bool,
}

impl ScriptFleet {
    /// `engine.io-client` 6.x in Node.js (`tests/node/fleet.js`).
    pub fn node() -> ScriptFleet {
        let dir = node_peers();
        let node = std::env::var(NODE_ENV).unwrap_or_else(|_| "node".to_owned());
        let mut cmd = Command::new(node);
        cmd.arg(node_script("fleet.js"))
            .env("NODE_PATH", dir.join("node_modules"));
        ScriptFleet {
            process: LineProcess::spawn(cmd, "engine.io-client 6.x fleet"),
            clean_close: ["transport close", "transport close"],
            closes_late_after_failed_post: false,
        }
    }

    /// The `python-engineio` asyncio client (`tests/python/fleet.py`).
    pub fn python() -> ScriptFleet {
        let venv = python_peers();
        let mut cmd = Command::new(python_bin(&venv));
        cmd.arg("-u").arg(python_script("fleet.py"));
        ScriptFleet {
            process: LineProcess::spawn(cmd, "python-engineio fleet"),
            clean_close: ["server disconnect", "transport error"],
            closes_late_after_failed_post: true,
        }
    }
}

impl TolerantFleet for ScriptFleet {
    fn try_request(&mut self, mut req: Value) -> Result<Value, Vec<String>> {
        req["timeout_ms"] = json!(FLEET_TIMEOUT.as_millis() as u64 - 5000);
        let answer = self.process.request(&req, FLEET_TIMEOUT);
        if answer.get("error").is_none() {
            return Ok(answer);
        }
        let mut errors: Vec<String> = answer["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() {
            errors.push(answer["error"].to_string());
        }
        Err(errors)
    }

    fn closes_late_after_failed_post(&self) -> bool {
        self.closes_late_after_failed_post
    }
}

impl Fleet for ScriptFleet {
    fn name(&self) -> &str {
        self.process.name()
    }

    fn request(&mut self, req: Value) -> Value {
        let op = req["op"].clone();
        match self.try_request(req) {
            Ok(answer) => answer,
            Err(errors) => {
                let shown: Vec<&str> = errors.iter().take(20).map(String::as_str).collect();
                let msg = self.process.failure(&format!(
                    "{op} failed ({} errors):\n{}",
                    errors.len(),
                    shown.join("\n")
                ));
                panic!("{msg}");
            }
        }
    }

    fn clean_close(&self, transport: &str) -> &'static str {
        self.clean_close[usize::from(transport == "websocket")]
    }
}
