//! Servers run as processes: our echo example, and echo servers on the reference
//! implementations (for tests of our client).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::process::LineProcess;
use crate::{node_bin, node_peers, node_script, python_bin, python_peers, python_script};

/// Environment variable naming a prebuilt `echo` example binary to use instead of building
/// it (`cargo build -p engineio-tokio --example echo`).
pub const ECHO_BIN_ENV: &str = "ENGINEIO_ECHO_BIN";

/// How long a server may take to say `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `echo` example of engineio-tokio (see [`example_bin`]), unless [`ECHO_BIN_ENV`] names
/// a prebuilt one.
pub fn echo_bin() -> PathBuf {
    match std::env::var_os(ECHO_BIN_ENV) {
        Some(bin) => PathBuf::from(bin),
        None => example_bin("engineio-tokio", "echo"),
    }
}

/// The executable of `example` of workspace package `package` (for instance
/// `("engineio-tokio", "echo-client")`), built once per test process with
/// `cargo build -p PACKAGE --example EXAMPLE` (debug profile, in the tests' target directory).
/// Cargo's own lock serializes test processes that build at the same time; when `cargo test`
/// has already built the examples this is a quick up-to-date check.
pub fn example_bin(package: &str, example: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    // One build at a time in this process; a failed build is retried by the next caller.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = (package.to_owned(), example.to_owned());
    if let Some(bin) = built.get(&key) {
        return bin.clone();
    }
    let bin = build_example(package, example);
    built.insert(key, bin.clone());
    bin
}

/// Builds `example` of workspace package `package` and returns its executable.
fn build_example(package: &str, example: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    let out = Command::new(&cargo)
        .args(["build", "--quiet", "-p", package, "--example", example])
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(crate::target_dir())
        .current_dir(workspace)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{cargo} build` for the {example} example: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`cargo build -p {package} --example {example}` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == example)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo built no executable for the {example} example"))
}

/// Parses `http://ADDR` (the rest of a `listening on ` line).
fn parse_listening(name: &str, rest: &str) -> SocketAddr {
    rest.trim()
        .strip_prefix("http://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("{name} printed an unexpected address: {rest:?}"))
}

/// A server process that announced `listening on http://ADDR`; killed when dropped.
pub struct ServerProcess {
    /// The process (for SIGTERM, exit status, stderr).
    pub process: LineProcess,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ServerProcess {
    fn start(cmd: Command, name: &str) -> ServerProcess {
        let mut process = LineProcess::spawn(cmd, name);
        let rest = process.wait_for_line("listening on ", START_TIMEOUT);
        let addr = parse_listening(name, &rest);
        ServerProcess { process, addr }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Our echo example (`engineio-tokio/examples/echo.rs`) on a free loopback port, with
    /// extra `args` (`--allow-eio3`, `--ping-interval MS`, ...).
    pub fn echo(args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(echo_bin());
        cmd.args(["--addr", "127.0.0.1:0"]).args(args);
        ServerProcess::start(cmd, "echo server")
    }

    /// The reference server, `engine.io` 6.x under Node.js (`tests/node/engineio_server.js`:
    /// echo, `allowEIO3: true`), with extra `args` (`--ping-interval MS`, `--ping-timeout MS`,
    /// `--max-payload BYTES`).
    pub fn node_engineio(args: &[&str]) -> ServerProcess {
        let dir = node_peers();
        let mut cmd = Command::new(node_bin());
        cmd.arg(node_script("engineio_server.js"))
            .args(args)
            .env("NODE_PATH", dir.join("node_modules"));
        ServerProcess::start(cmd, "node engine.io server")
    }

    /// The `python-engineio` server (asyncio/aiohttp, `tests/python/engineio_server.py`:
    /// echo, protocol 4 only), with the same extra `args` as [`node_engineio`](Self::node_engineio).
    pub fn python_engineio(args: &[&str]) -> ServerProcess {
        let venv = python_peers();
        let mut cmd = Command::new(python_bin(&venv));
        cmd.arg("-u")
            .arg(python_script("engineio_server.py"))
            .args(args);
        ServerProcess::start(cmd, "python-engineio server")
    }
}
