//! The demo (`cargo run -p engineio-tokio --example demo`, and the same on smol) in a real
//! browser: Debian's Chromium, headless, driven by `playwright-core` (from the npm registry,
//! no browser download) with `tests/node/browser_demo.js`. Pages chat and draw together (text
//! and binary messages both ways) over the upgrade to WebSocket, over polling only and over
//! WebSocket only; a reloaded page's old session closes on the server; closing every page
//! closes every session. Any page error, console error, failed request or HTTP error fails
//! the test. Screenshots go to `<cargo target dir>/browser-demo/<runtime>/`.
//!
//! Chromium must be installed (`apt-get install chromium`, as `.ci/run` does); the test fails,
//! saying so, when it is missing. `ENGINEIO_CHROMIUM` names another Chromium binary.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use engineio_tests::{
    example_bin, node_script, npm_peer_dir, target_dir, Balancer, LineProcess, RedisServer,
    Runtime, ServerProcess, NODE_ENV,
};

engineio_tests::runtime_tests!(demo_in_chromium, demo_on_three_nodes_in_chromium);

/// The browser driver, pinned.
const PLAYWRIGHT: &str = "playwright-core@1.65.2";

/// Environment variable naming the Chromium binary (default `/usr/bin/chromium`).
const CHROMIUM_ENV: &str = "ENGINEIO_CHROMIUM";

/// How long the demo may take to say where it listens (its first run fetches the browser
/// client from the npm registry).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the whole browser run may take (the script gives up after 150 s by itself).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// The Chromium binary; panics, saying how to install it, if it is missing.
fn chromium() -> PathBuf {
    let path = std::env::var_os(CHROMIUM_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no Chromium at {}: the browser test needs it. Install Debian's package \
         (`sudo apt-get install chromium`, which .ci/run does) or point {CHROMIUM_ENV} at a \
         Chromium binary.",
        path.display()
    );
    path
}

fn demo_in_chromium(rt: Runtime) {
    let (mut server, url) = start_demo(rt, &[]);
    let echo = ServerProcess::echo(rt, &["--deflate", "--max-payload", "3000000"]);
    let echo_url = format!("{}/engine.io/", echo.url().replacen("http://", "ws://", 1));

    let out = target_dir().join("browser-demo").join(rt.name());
    run_browser(rt, &url, &out, &[&echo_url], &server);
    for shot in ["two-pages", "polling-only", "after-reloads"] {
        let png = out.join(format!("{shot}.png"));
        assert!(png.is_file(), "no screenshot at {}", png.display());
    }

    // The server is still up, and shuts down gracefully.
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        server.failure("did not shut down cleanly on SIGTERM")
    );
}

/// Starts the `demo` example of `rt` with `args` on a free port; returns it and its URL.
fn start_demo(rt: Runtime, args: &[&str]) -> (LineProcess, String) {
    let mut cmd = Command::new(example_bin(rt.package(), "demo"));
    cmd.args(["--addr", "127.0.0.1:0"]).args(args);
    let mut server = LineProcess::spawn(cmd, &format!("demo server ({rt}) {}", args.join(" ")));
    let announced = server.wait_for_line("demo on ", START_TIMEOUT);
    let url = announced
        .split_whitespace()
        .next()
        .filter(|u| u.starts_with("http://127.0.0.1:") && u.ends_with('/'))
        .unwrap_or_else(|| panic!("the demo announced an unexpected address: {announced:?}"))
        .to_owned();
    (server, url)
}

/// Runs `tests/node/browser_demo.js` on `url` with its extra `args` until it says `done`
/// (screenshots into `out`); panics with what it and the demo `server` said otherwise.
fn run_browser(rt: Runtime, url: &str, out: &std::path::Path, args: &[&str], server: &LineProcess) {
    let browser = chromium();
    let peers = npm_peer_dir("browser", &[PLAYWRIGHT]);
    let node = std::env::var(NODE_ENV).unwrap_or_else(|_| "node".to_owned());
    let mut cmd = Command::new(node);
    cmd.arg(node_script("browser_demo.js"))
        .arg(url)
        .arg(out)
        .arg(rt.package())
        .args(args)
        .env("NODE_PATH", peers.join("node_modules"))
        .env(CHROMIUM_ENV, &browser);
    let mut driver = LineProcess::spawn(cmd, &format!("browser driver ({rt})"));
    let start = Instant::now();
    let deadline = start + RUN_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = driver.try_read_line(left) else {
            let why = if Instant::now() >= deadline {
                format!("did not finish within {RUN_TIMEOUT:?}")
            } else {
                "stopped before `done`".to_owned()
            };
            let msg = driver.failure(&why);
            panic!(
                "{msg}\n--- demo server stderr ---\n{}",
                server.stderr_tail()
            );
        };
        println!("[{rt}] {line}");
        if line == "done" {
            break;
        }
    }
    let status = driver.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        driver.failure("did not exit cleanly after `done`")
    );
    println!(
        "[{rt}] browser run took {:.1} s; screenshots in {}",
        start.elapsed().as_secs_f64(),
        out.display()
    );
}

/// The demo as three nodes of a cluster on Redis behind HAProxy balancing every request
/// round-robin (`docs/several-nodes/haproxy-round-robin.cfg`, no stickiness): pages open
/// until two of them live on different nodes, which then see each other's chat lines
/// (text) and strokes and cursors (binary) both ways, through Redis; each page's requests
/// land on every node and are relayed to the one that owns its session.
fn demo_on_three_nodes_in_chromium(rt: Runtime) {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut nodes: Vec<(LineProcess, String)> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| start_demo(rt, &["--node", name, "--cluster", &url]))
        .collect();
    let addr = |u: &str| -> std::net::SocketAddr {
        u.trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the demo's address")
    };
    let addrs = [addr(&nodes[0].1), addr(&nodes[1].1), addr(&nodes[2].1)];
    let balancer = Balancer::start_file("haproxy-round-robin.cfg", &addrs);
    let front = format!("http://{}/", balancer.addr);
    let out = target_dir()
        .join("browser-demo")
        .join(format!("{}-cluster", rt.name()));
    run_browser(rt, &front, &out, &["-", "cluster"], &nodes[0].0);
    let png = out.join("cluster.png");
    assert!(png.is_file(), "no screenshot at {}", png.display());
    for (node, _) in &mut nodes {
        node.terminate();
        let status = node.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{}",
            node.failure("did not shut down cleanly on SIGTERM")
        );
    }
}
