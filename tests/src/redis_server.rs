//! A Redis server as a process, for the cluster tests: Debian's `redis-server` on a free
//! loopback port, without persistence, that a test can stop (as a crash: SIGKILL) and start
//! again on the same port. It proves nothing by itself; the tests in `tests/tests/cluster/`
//! run our echo nodes against it (`echo --cluster redis://HOST:PORT`).

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::process::LineProcess;
use crate::target_dir;

/// Environment variable naming the `redis-server` binary (default: `redis-server` on the
/// `PATH`, then `/usr/bin/redis-server`, then `/usr/sbin/redis-server`).
pub const REDIS_SERVER_ENV: &str = "ENGINEIO_REDIS_SERVER";

/// How long Redis may take to answer its first `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How much of Redis's log goes into a failure message.
const LOG_KEEP: usize = 8 * 1024;

/// A `redis-server` on a loopback port, with no persistence (`--save "" --appendonly no`) and
/// its working directory and log under the cargo target directory. Killed when dropped; its
/// directory is removed then, unless the test is failing.
pub struct RedisServer {
    process: Option<LineProcess>,
    addr: SocketAddr,
    dir: PathBuf,
    bin: PathBuf,
}

/// The `redis-server` to run: [`REDIS_SERVER_ENV`], else on the `PATH` or in the system's
/// directories; panics saying how to install it.
fn redis_server_bin() -> PathBuf {
    crate::balancer::find_binary(REDIS_SERVER_ENV, "redis-server", "redis-server")
}

/// Whether a Redis server answers `PING` with `+PONG` on `addr` (within a second).
fn answers_ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 64];
    while !answer.ends_with(b"\r\n") && answer.len() < 256 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    answer.starts_with(b"+PONG")
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it answers `PING`;
    /// panics (with its log) if it does not within 15 s.
    pub fn start() -> RedisServer {
        let bin = redis_server_bin();
        // A free port: bound, then released (another process could take it in between, which
        // the start then reports).
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let dir =
            target_dir()
                .join("redis")
                .join(format!("{}-{}", std::process::id(), addr.port()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let mut redis = RedisServer {
            process: None,
            addr,
            dir,
            bin,
        };
        redis.launch();
        redis
    }

    /// Runs the server on [`addr`](Self::addr) and waits for its `+PONG`.
    fn launch(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--port")
            .arg(self.addr.port().to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"));
        let name = format!("redis-server ({})", self.addr);
        let mut process = LineProcess::spawn(cmd, &name);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers_ping(self.addr) {
                break;
            }
            if process.wait_exit(Duration::from_millis(20)).is_some() || Instant::now() > deadline {
                let msg = process.failure(&format!(
                    "did not answer PING on {} within {START_TIMEOUT:?}\n--- redis log ---\n{}",
                    self.addr,
                    self.log()
                ));
                panic!("{msg}");
            }
        }
        self.process = Some(process);
    }

    /// `redis://127.0.0.1:PORT`, for `echo --cluster`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Where it listens (the same after [`restart`](Self::restart)).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is running (started, not stopped, and has not exited).
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| p.wait_exit(Duration::ZERO).is_none())
    }

    /// Kills the server (SIGKILL, as a crash: no clean shutdown, no save) and waits for it to
    /// exit; its clients' connections break. Returns its exit status; panics if it does not
    /// exit within 10 s. Does nothing (and returns `None`) if it is not running.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut process = self.process.take()?;
        if let Some(status) = process.wait_exit(Duration::ZERO) {
            return Some(status);
        }
        let killed = Command::new("kill")
            .arg("-KILL")
            .arg(process.pid().to_string())
            .status();
        assert!(
            killed.as_ref().is_ok_and(ExitStatus::success),
            "{}: `kill -KILL` failed: {killed:?}",
            process.name()
        );
        match process.wait_exit(Duration::from_secs(10)) {
            Some(status) => Some(status),
            None => {
                let msg = process.failure("still running 10 s after SIGKILL");
                panic!("{msg}");
            }
        }
    }

    /// Stops the server if it runs, then starts a new one on the same port (empty: nothing was
    /// persisted) and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The end of the server's log (all of its runs).
    pub fn log(&self) -> String {
        let text = fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let mut cut = text.len().saturating_sub(LOG_KEEP);
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text[cut..].to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The LineProcess kills it when dropped.
        drop(self.process.take());
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
