//! Running out of file descriptors: our echo example (each runtime, as a process) under
//! `ulimit -n 64` is sent more connections than it can hold. Accepting fails (`EMFILE`, logged
//! as `accept failed`), the server does not stop or spin, and once the connections close it
//! accepts again, serves a session, and holds as many descriptors as it started with.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use engineio_tests::{Runtime, ServerProcess};

mod wire;
use wire::*;

engineio_tests::runtime_tests!(accept_errors_do_not_stop_the_server);

/// Open descriptors of process `pid`.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits up to 10 s for `check`; panics with `what` if it never holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn accept_errors_do_not_stop_the_server(rt: Runtime) {
    let mut server = ServerProcess::echo_with_nofile(rt, 64, &[]);
    let addr = server.addr;
    let pid = server.process.pid();
    let at_start = descriptors(pid);
    assert!(
        at_start > 0 && at_start < 64,
        "{at_start} descriptors at start"
    );
    // 200 connections, more than 64 descriptors can hold: the rest wait in the backlog.
    let held: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).expect("the kernel takes the connection"))
        .collect();
    eventually("the server logs `accept failed`", || {
        server.process.stderr_tail().contains("accept failed")
    });
    // Freed: the waiting connections are accepted (and end), then a new client is served.
    drop(held);
    client_runtime().block_on(async {
        let (sid, open) = handshake(addr).await;
        assert!(open["pingInterval"].is_u64(), "{open}");
        let url = sid_url(&sid);
        let posted = post(addr, &url, "4after exhaustion").await;
        assert_eq!(posted.text(), "ok");
        assert_eq!(poll_message(addr, &sid).await, "4after exhaustion");
        let closed = post(addr, &url, "1").await;
        assert_eq!(closed.text(), "ok");
    });
    eventually("the server is back to its descriptors at start", || {
        descriptors(pid) == at_start
    });
    server.process.terminate();
}
