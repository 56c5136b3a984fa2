//! A child process spoken to in lines, with every wait bounded.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::truncate;

/// Environment variable: when set (to anything), the stderr of peer processes is copied to the
/// test's stderr as it comes (it is always kept, and shown when a test fails on the peer).
pub const PEER_STDERR_ENV: &str = "ENGINEIO_PEER_STDERR";

/// How much of a peer's stderr is kept for failure messages.
const STDERR_KEEP: usize = 16 * 1024;

/// A child process with piped stdin and stdout, read line by line with timeouts. Its stderr is
/// collected (see [`stderr_tail`](Self::stderr_tail)). The process is killed when this is
/// dropped.
pub struct LineProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    name: String,
}

impl LineProcess {
    /// Starts `cmd` (its stdin, stdout and stderr are replaced by pipes). `name` names the
    /// process in failure messages.
    pub fn spawn(mut cmd: Command, name: &str) -> LineProcess {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if line.ends_with('\n') {
                            line.pop();
                        }
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let keep = stderr.clone();
        let echo = std::env::var_os(PEER_STDERR_ENV).is_some();
        let label = name.to_owned();
        std::thread::spawn(move || {
            let mut pipe = stderr_pipe;
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if echo {
                            eprint!("[{label}] {text}");
                        }
                        let mut k = keep.lock().unwrap_or_else(|e| e.into_inner());
                        k.push_str(&text);
                        if k.len() > 2 * STDERR_KEEP {
                            let mut cut = k.len() - STDERR_KEEP;
                            while !k.is_char_boundary(cut) {
                                cut += 1;
                            }
                            k.replace_range(..cut, "…");
                        }
                    }
                }
            }
        });
        LineProcess {
            child,
            stdin,
            lines,
            stderr,
            name: name.to_owned(),
        }
    }

    /// The name of the process in failure messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the process in failure messages (from now on).
    pub fn set_name(&mut self, name: &str) {
        name.clone_into(&mut self.name);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr lately (the last 16 KiB or so).
    pub fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A failure message about this process: `what`, its exit status if it has exited, and
    /// its stderr.
    pub fn failure(&mut self, what: &str) -> String {
        let mut msg = format!("{}: {what}", self.name);
        if let Ok(Some(status)) = self.child.try_wait() {
            let _ = write!(msg, " (it exited: {status})");
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            let _ = write!(msg, "\n--- {} stderr ---\n{tail}", self.name);
        }
        msg
    }

    /// Writes one line (a newline is added).
    pub fn send_line(&mut self, line: &str) {
        assert!(!line.contains('\n'), "a request must be a single line");
        let Some(stdin) = self.stdin.as_mut() else {
            panic!("{}: stdin already closed", self.name);
        };
        let sent = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush());
        if let Err(e) = sent {
            let msg = self.failure(&format!("write failed: {e}"));
            panic!("{msg}");
        }
    }

    /// The next stdout line, or `None` if none came within `timeout` or the process closed its
    /// stdout.
    pub fn try_read_line(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line; panics (with the process's stderr) if none comes within `timeout`.
    pub fn read_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                let msg = self.failure(&format!("no answer within {timeout:?}"));
                panic!("{msg}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let msg = self.failure("closed its stdout without answering");
                panic!("{msg}")
            }
        }
    }

    /// Reads stdout lines until one starts with `prefix`, and returns the rest of it; panics
    /// if none comes within `timeout`. Other lines are skipped.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.read_line(left);
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    /// Sends a JSON request line and parses the JSON answer line (bounded by `timeout`).
    pub fn request(&mut self, request: &serde_json::Value, timeout: Duration) -> serde_json::Value {
        self.send_line(&request.to_string());
        let answer = self.read_line(timeout);
        serde_json::from_str(&answer).unwrap_or_else(|e| {
            let msg = self.failure(&format!(
                "answered with invalid JSON ({e}): {}",
                truncate(&answer, 2000)
            ));
            panic!("{msg}")
        })
    }

    /// Closes the process's stdin (scripts take that as the signal to exit).
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Sends SIGTERM (through `kill`, Unix only).
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => panic!("{}: `kill -TERM` failed: {other:?}", self.name),
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("{}: waiting failed: {e}", self.name),
            }
        }
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
