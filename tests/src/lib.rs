//! Helpers shared by the cross-crate tests.
//!
//! # Reference peers from npm
//!
//! Interop tests run the reference implementation (`engine.io-parser`, `engine.io`,
//! `engine.io-client`) under Node.js. [`npm_peer_dir`] installs the npm packages a test needs
//! into a cache under the cargo target directory (once; later runs reuse it), and
//! [`NodeProcess`] runs one of the scripts in `tests/node/` against them, speaking JSON lines.
//!
//! Node.js and npm must be installed. When they are missing, or the install fails, the helpers
//! panic with a message that says so: an interop test never passes without its peer.
//!
//! # Python peers from PyPI
//!
//! [`python_venv`] creates a virtual environment under the target directory with the PyPI
//! packages a test needs (once), for the scripts in `tests/python/`.
//!
//! # Processes
//!
//! [`LineProcess`] runs a peer or server with every wait bounded; [`ServerProcess`] starts our
//! echo example ([`ServerProcess::echo`]) or an echo server on a reference implementation
//! ([`ServerProcess::node_engineio`], [`ServerProcess::python_engineio`]) on a free port;
//! [`ClientPeer`] drives a reference client and [`run_echo_session`] runs the echo session of
//! the interop tests, checked with [`check_echoes`].
//!
//! # Runtimes
//!
//! Our examples `echo` and `echo-client` exist once per runtime binding ([`Runtime`]:
//! `engineio-tokio`, `engineio-smol`), with the same command lines and behaviour. Every test
//! that runs one of them is written once, as `fn name(rt: Runtime)`, and run on each runtime
//! by [`runtime_tests!`] as `on_tokio::name` and `on_smol::name`:
//!
//! ```text
//! cargo test -p engineio-tests -- on_tokio    # the Tokio half (and nothing else)
//! cargo test -p engineio-tests -- on_smol     # the smol half
//! ```
//!
//! The examples are built on first use ([`echo_bin`], [`echo_client_bin`], with
//! `cargo build -p PACKAGE --example NAME`). Prebuilt ones can be named instead:
//!
//! | example | Tokio | smol |
//! |---|---|---|
//! | `echo` | `ENGINEIO_ECHO_BIN` ([`ECHO_BIN_ENV`]) | `ENGINEIO_SMOL_ECHO_BIN` ([`SMOL_ECHO_BIN_ENV`]) |
//! | `echo-client` | `ENGINEIO_ECHO_CLIENT_BIN` ([`ECHO_CLIENT_BIN_ENV`]) | `ENGINEIO_SMOL_ECHO_CLIENT_BIN` ([`SMOL_ECHO_CLIENT_BIN_ENV`]) |

mod balancer;
mod clients;
mod fleet;
mod install;
mod messages;
mod process;
mod python;
mod redis_server;
mod runtime;
mod servers;

pub use balancer::{Balancer, Recipe, HAPROXY_ENV, NGINX_ENV};
pub use clients::{run_echo_session, ClientPeer, EchoSession, Expect, SessionReport, PEER_TIMEOUT};
pub use fleet::{check_echo_round, on_all, Fleet, ProcessFleet, FLEET_TIMEOUT};
pub use messages::{check_echoes, generate_messages, EchoRules, EchoStats, MessageRules, Msg};
pub use process::{LineProcess, PEER_STDERR_ENV};
pub use python::{
    py_peers_root, python_bin, python_package_version, python_script, python_venv, PYTHON_ENV,
    PY_PEERS_DIR_ENV,
};
pub use redis_server::{RedisServer, REDIS_SERVER_ENV};
pub use runtime::{
    Runtime, ECHO_BIN_ENV, ECHO_CLIENT_BIN_ENV, SMOL_ECHO_BIN_ENV, SMOL_ECHO_CLIENT_BIN_ENV,
};
pub use servers::{echo_bin, echo_client_bin, example_bin, ServerProcess};

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the directory that holds the npm peer installs (default:
/// `<cargo target dir>/npm-peers`).
pub const PEERS_DIR_ENV: &str = "ENGINEIO_NPM_PEERS_DIR";

/// Environment variable naming the `node` binary (default: `node` on the `PATH`).
pub const NODE_ENV: &str = "ENGINEIO_NODE";

/// Environment variable naming the `npm` binary (default: `npm` on the `PATH`).
pub const NPM_ENV: &str = "ENGINEIO_NPM";

/// The directory of the committed Node.js scripts (`tests/node/`).
pub fn node_scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// The path of the committed Node.js script `name` (e.g. `parser_crosscheck.js`).
pub fn node_script(name: &str) -> PathBuf {
    node_scripts_dir().join(name)
}

pub(crate) fn node_bin() -> String {
    std::env::var(NODE_ENV).unwrap_or_else(|_| "node".to_owned())
}

fn npm_bin() -> String {
    std::env::var(NPM_ENV).unwrap_or_else(|_| "npm".to_owned())
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else the one holding the running test
/// binary (`<target>/debug/deps/<test>` → `<target>`), else `target` in the workspace.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|exe| {
        exe.ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "deps"))
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map(Path::to_path_buf)
    });
    target.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Where npm peers are installed: `$ENGINEIO_NPM_PEERS_DIR`, else `npm-peers` in the cargo
/// target directory ([`target_dir`]).
pub fn npm_peers_root() -> PathBuf {
    if let Some(dir) = std::env::var_os(PEERS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    target_dir().join("npm-peers")
}

/// The npm packages of the client and server interop tests: `engine.io-client` 6.x, 3.x
/// (under the alias `eioc3`) and the `engine.io` 6.x server.
pub const NODE_PEERS: &[&str] = &[
    "engine.io-client@6",
    "eioc3@npm:engine.io-client@3",
    "engine.io@6",
];

/// [`NODE_PEERS`] installed (see [`npm_peer_dir`]).
pub fn node_peers() -> PathBuf {
    npm_peer_dir("engineio", NODE_PEERS)
}

/// The PyPI packages of the Python interop tests: the `python-engineio` client (with
/// `requests` and `websocket-client`) and server (on `aiohttp`).
pub const PYTHON_PEERS: &[&str] = &[
    "python-engineio>=4.12,<5",
    "requests>=2.28,<3",
    "websocket-client>=1.6,<2",
    "aiohttp>=3.9,<4",
];

/// [`PYTHON_PEERS`] installed in a virtual environment (see [`python_venv`]).
pub fn python_peers() -> PathBuf {
    python_venv("engineio", PYTHON_PEERS)
}

/// Panics unless `tool --version` runs; returns its version line.
fn require_tool(tool: &str, what: &str) -> String {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => panic!(
            "`{tool} --version` failed ({}): {what} is required by this interop test.\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{tool}` ({e}): {what} is required by this interop test. Install it \
             (e.g. `apt-get install nodejs npm`) or point {} / {} at it.",
            NODE_ENV, NPM_ENV
        ),
    }
}

/// The package name a spec installs as: `alias@npm:real@1` → `alias`, `@scope/x@1` →
/// `@scope/x`, `name@1` → `name`.
fn spec_package_name(spec: &str) -> &str {
    let from = usize::from(spec.starts_with('@'));
    match spec[from..].find('@') {
        Some(i) => &spec[..from + i],
        None => spec,
    }
}

/// FNV-1a: a hash that stays the same across Rust releases, for naming cache directories.
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Installs the npm `packages` (specs as `npm install` takes them, aliases included, e.g.
/// `parser5@npm:engine.io-parser@5`) into a cache directory and returns it; the packages are
/// in its `node_modules`. `name` names the directory (`<root>/<name>-<hash of the specs>`).
///
/// An install that is already complete is reused. Concurrent callers (threads or test
/// processes) are safe: each installs into its own temporary directory, which is renamed into
/// place whole; a caller that loses the race uses the winner's directory.
///
/// Panics with a clear message if node or npm is missing or the install fails.
pub fn npm_peer_dir(name: &str, packages: &[&str]) -> PathBuf {
    install::install_once(&npm_peers_root(), name, packages, |tmp| {
        require_tool(&node_bin(), "Node.js (`node`)");
        require_tool(&npm_bin(), "npm");
        // A package.json of its own keeps npm from looking for a project further up.
        fs::write(
            tmp.join("package.json"),
            format!("{{\"name\":\"engineio-npm-peer-{name}\",\"private\":true}}\n"),
        )
        .map_err(|e| format!("cannot write package.json in {}: {e}", tmp.display()))?;
        let log = tmp.join("npm-install.log");
        let what = format!("`npm install {}`", packages.join(" "));
        install::run_logged(
            Command::new(npm_bin())
                .arg("install")
                .args([
                    "--no-package-lock",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(tmp)
                .args(packages)
                .current_dir(tmp),
            &log,
            &what,
        )
        .map_err(|e| format!("{e}\nthe reference packages are required by this test"))?;
        for spec in packages {
            let pkg = tmp
                .join("node_modules")
                .join(spec_package_name(spec))
                .join("package.json");
            if !pkg.is_file() {
                return Err(format!(
                    "{what} succeeded but {} is missing. npm said:\n{}",
                    pkg.display(),
                    fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        }
        Ok(())
    })
}

/// Reads one package's `version` from an install made by [`npm_peer_dir`].
pub fn npm_peer_version(dir: &Path, package: &str) -> String {
    let path = dir.join("node_modules").join(package).join("package.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    json["version"].as_str().unwrap_or("?").to_owned()
}

/// A long-running Node.js script speaking JSON lines: one request line on its stdin, one
/// answer line on its stdout. Its stderr goes to the test's. The process is ended when this
/// is dropped.
pub struct NodeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    script: PathBuf,
}

impl NodeProcess {
    /// Starts `node <script>` with `NODE_PATH` set to the `node_modules` of `peer_dir` (from
    /// [`npm_peer_dir`]), so the script can `require` the installed packages (aliases too).
    pub fn spawn(script: &Path, peer_dir: &Path) -> NodeProcess {
        require_tool(&node_bin(), "Node.js (`node`)");
        let mut child = Command::new(node_bin())
            .arg(script)
            .env("NODE_PATH", peer_dir.join("node_modules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        NodeProcess {
            child,
            stdin,
            stdout,
            script: script.to_path_buf(),
        }
    }

    /// Sends one line (a newline is added) and returns the answer line, without its newline.
    /// Panics if the process has died.
    pub fn request_line(&mut self, line: &str) -> String {
        assert!(!line.contains('\n'), "a request must be a single line");
        let stdin = self.stdin.as_mut().expect("stdin open");
        let sent = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush());
        if let Err(e) = sent {
            panic!("{} died (write failed: {e})", self.script.display());
        }
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer) {
            Ok(0) => panic!(
                "{} exited without answering ({:?})",
                self.script.display(),
                self.child.try_wait()
            ),
            Ok(_) => {
                answer.pop();
                answer
            }
            Err(e) => panic!("reading from {}: {e}", self.script.display()),
        }
    }

    /// Sends a JSON request and parses the JSON answer.
    pub fn request(&mut self, request: &serde_json::Value) -> serde_json::Value {
        let answer = self.request_line(&request.to_string());
        serde_json::from_str(&answer).unwrap_or_else(|e| {
            panic!(
                "{} answered with invalid JSON ({e}): {}",
                self.script.display(),
                truncate(&answer, 2000)
            )
        })
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // Closing stdin asks the script to exit; kill it if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), with a note of what was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes more)", &s[..end], s.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_specs() {
        assert_eq!(
            spec_package_name("parser5@npm:engine.io-parser@5"),
            "parser5"
        );
        assert_eq!(spec_package_name("engine.io@6.6"), "engine.io");
        assert_eq!(spec_package_name("@scope/pkg@1"), "@scope/pkg");
        assert_eq!(spec_package_name("@scope/pkg"), "@scope/pkg");
        assert_eq!(spec_package_name("ws"), "ws");
    }

    #[test]
    fn runtimes() {
        assert_eq!(Runtime::ALL, [Runtime::Tokio, Runtime::Smol]);
        let packages: Vec<_> = Runtime::ALL.iter().map(|rt| rt.package()).collect();
        assert_eq!(packages, ["engineio-tokio", "engineio-smol"]);
        assert_eq!(Runtime::Smol.to_string(), "smol");
        assert_eq!(Runtime::Tokio.name(), "tokio");
        assert_eq!(Runtime::Tokio.echo_bin_env(), "ENGINEIO_ECHO_BIN");
        assert_eq!(Runtime::Smol.echo_bin_env(), "ENGINEIO_SMOL_ECHO_BIN");
        assert_eq!(
            Runtime::Tokio.echo_client_bin_env(),
            "ENGINEIO_ECHO_CLIENT_BIN"
        );
        assert_eq!(
            Runtime::Smol.echo_client_bin_env(),
            "ENGINEIO_SMOL_ECHO_CLIENT_BIN"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert!(truncate("€€€", 4).starts_with('€'));
    }
}
