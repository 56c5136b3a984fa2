//! Servers run as processes: our echo example (on each runtime, see [`Runtime`]), and echo
//! servers on the reference implementations (for tests of our client).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::process::LineProcess;
use crate::runtime::Runtime;
use crate::{node_bin, node_peers, node_script, python_bin, python_peers, python_script};

/// How long a server may take to say `listening on`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `echo` example of runtime `rt` (see [`example_bin`]), unless the environment variable
/// [`Runtime::echo_bin_env`] of `rt` ([`ECHO_BIN_ENV`](crate::ECHO_BIN_ENV) for Tokio,
/// [`SMOL_ECHO_BIN_ENV`](crate::SMOL_ECHO_BIN_ENV) for smol) names a prebuilt one.
pub fn echo_bin(rt: Runtime) -> PathBuf {
    match std::env::var_os(rt.echo_bin_env()) {
        Some(bin) => PathBuf::from(bin),
        None => example_bin(rt.package(), "echo"),
    }
}

/// The `echo-client` example of runtime `rt` (see [`example_bin`]), unless the environment
/// variable [`Runtime::echo_client_bin_env`] of `rt`
/// ([`ECHO_CLIENT_BIN_ENV`](crate::ECHO_CLIENT_BIN_ENV) for Tokio,
/// [`SMOL_ECHO_CLIENT_BIN_ENV`](crate::SMOL_ECHO_CLIENT_BIN_ENV) for smol) names a prebuilt
/// one.
pub fn echo_client_bin(rt: Runtime) -> PathBuf {
    match std::env::var_os(rt.echo_client_bin_env()) {
        Some(bin) => PathBuf::from(bin),
        None => example_bin(rt.package(), "echo-client"),
    }
}

/// The executable of `example` of workspace package `package` (for instance
/// `("engineio-tokio", "echo-client")`), built once per test process with
/// `cargo build -p PACKAGE --example EXAMPLE` (the bindings' with their `cluster` feature;
/// debug profile, in its own target directory
/// `examples-PACKAGE` under the tests' one). Cargo's own lock serializes test processes that
/// build at the same time; after the first build this is a quick up-to-date check. Panics with cargo's
/// output if the build fails (the next caller tries again).
pub fn example_bin(package: &str, example: &str) -> PathBuf {
    type Slot = Arc<Mutex<Option<PathBuf>>>;
    static BUILT: OnceLock<Mutex<HashMap<(String, String), Slot>>> = OnceLock::new();
    // One slot per example: callers of one example wait for its build, while an example that
    // is already built (another runtime's, say) is handed out at once.
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((package.to_owned(), example.to_owned()))
        .or_default()
        .clone();
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = slot.as_ref() {
        return bin.clone();
    }
    let bin = build_example(package, example);
    *slot = Some(bin.clone());
    bin
}

/// Builds `example` of workspace package `package` and returns its executable.
fn build_example(package: &str, example: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    // Both bindings have examples named `echo` and `echo-client`, and cargo puts an example at
    // `TARGET/debug/examples/NAME` whatever its package: one target directory per package,
    // so that one package's build never replaces the other's binary under a running test.
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", package, "--example", example]);
    // The bindings' examples are built with the cluster on Redis (`echo --cluster`).
    if matches!(package, "engineio-tokio" | "engineio-smol") {
        cmd.args(["--features", "cluster"]);
    }
    let out = cmd
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(crate::target_dir().join(format!("examples-{package}")))
        .current_dir(workspace)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{cargo} build -p {package} --example {example}`: {e}")
        });
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
        .unwrap_or_else(|| panic!("cargo built no executable for {package}'s {example} example"))
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

    /// The name of the server in failure messages (`echo server (smol)`, ...).
    pub fn name(&self) -> &str {
        self.process.name()
    }

    /// Our echo example on runtime `rt` (`engineio-tokio/examples/echo.rs`, or the same
    /// example of engineio-smol; see [`echo_bin`]) on a free loopback port, with extra `args`
    /// (`--allow-eio3`, `--ping-interval MS`, ...). It is named `echo server (RUNTIME)` in
    /// failure messages.
    pub fn echo(rt: Runtime, args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(echo_bin(rt));
        cmd.args(["--addr", "127.0.0.1:0"]).args(args);
        ServerProcess::start(cmd, &format!("echo server ({rt})"))
    }

    /// Our echo example on runtime `rt`, like [`echo`](Self::echo), started under a limit of
    /// `nofile` open descriptors (`ulimit -n`) and with `RUST_LOG=warn`, so that running out
    /// of descriptors is logged (`accept failed`).
    pub fn echo_with_nofile(rt: Runtime, nofile: u32, args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(echo_bin(rt))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn");
        ServerProcess::start(cmd, &format!("echo server ({rt}, {nofile} descriptors)"))
    }

    /// The example `example` of workspace package `package`, an echo server that takes
    /// `--addr` and says `listening on`, on a free loopback port with extra `args`.
    pub fn example(package: &str, example: &str, args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(example_bin(package, example));
        cmd.args(["--addr", "127.0.0.1:0"]).args(args);
        ServerProcess::start(cmd, &format!("{example} example"))
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
