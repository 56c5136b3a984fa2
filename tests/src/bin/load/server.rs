//! The server seen from outside: its resident memory and descriptors (`/proc/PID`), and its
//! open sessions (the echo server's answer to `__stats`).

use std::time::{Duration, Instant};

use engineio_tokio::proto::Message;
use engineio_tokio::{Client, ClientConfig, ClientSocketEvent};
use serde_json::Value;

use crate::args::Mode;

/// How long one `__stats` question may wait for its answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's memory and descriptors at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Resident set size (`VmRSS`), KiB.
    pub rss_kb: u64,
    /// Peak resident set size so far (`VmHWM`), KiB.
    pub hwm_kb: u64,
    /// Of the RSS, anonymous memory (the heap, stacks; `RssAnon`), KiB.
    pub anon_kb: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fds: u64,
    /// CPU time used so far, user and system, in milliseconds.
    pub cpu_ms: u64,
}

/// Linux reports CPU times in `/proc` in ticks of `USER_HZ`, 100 a second on every
/// architecture it runs on (the kernel's own HZ is hidden behind it).
const USER_HZ: u64 = 100;

/// The CPU time (user and system) process `pid` (or `self`) has used, in milliseconds; 0 if
/// unreadable.
pub fn cpu_ms(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name (field 2) may hold spaces: count the fields after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * 1000 / USER_HZ
}

/// Samples process `pid`; an error if it is gone.
pub fn sample(pid: u32) -> Result<Sample, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("the server (pid {pid}) cannot be read: {e}"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("the server's descriptors (pid {pid}) cannot be read: {e}"))?
        .count() as u64;
    Ok(Sample {
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
        anon_kb: kb("RssAnon:"),
        fds,
        cpu_ms: cpu_ms(&pid.to_string()),
    })
}

/// Samples `pid` until its descriptors are at most `fds` (they go as the server sees its
/// last connections close), for up to `within`; the last sample.
pub async fn sample_until_fds(pid: u32, fds: u64, within: Duration) -> Result<Sample, String> {
    let deadline = Instant::now() + within;
    loop {
        let s = sample(pid)?;
        if s.fds <= fds || Instant::now() >= deadline {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens a WebSocket session and asks `__stats` until the server counts at most `open`
/// sessions (this one included), for up to `within`; then closes it. The last answer (a
/// JSON object, see the echo example), or why there is none.
pub async fn stats_until(
    base: &ClientConfig,
    open: u64,
    within: Duration,
) -> Result<Value, String> {
    let deadline = Instant::now() + within;
    let config = Mode::Websocket.config(base);
    let mut client = tokio::time::timeout(ANSWER_TIMEOUT, Client::connect(config))
        .await
        .map_err(|_| "the __stats session did not open in time".to_owned())?
        .map_err(|e| format!("the __stats session did not open: {e}"))?;
    let result = async {
        loop {
            let stats = ask(&mut client).await?;
            let now_open = stats["sessions_open"]
                .as_u64()
                .ok_or_else(|| format!("__stats answered without sessions_open: {stats}"))?;
            if now_open <= open || Instant::now() >= deadline {
                return Ok(stats);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    client.close().await;
    // Until the close went through (so the server's count is down again).
    let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(e) = client.recv().await {
            if matches!(e, ClientSocketEvent::Closed { .. }) {
                break;
            }
        }
    })
    .await;
    result
}

/// Sends `__stats` and returns the answer.
async fn ask(client: &mut Client) -> Result<Value, String> {
    client
        .send("__stats")
        .await
        .map_err(|e| format!("cannot send __stats: {e}"))?;
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match client.recv().await {
                Some(ClientSocketEvent::Message(m)) => return Ok(m),
                Some(ClientSocketEvent::Closed { reason, .. }) => {
                    return Err(format!("the __stats session closed: {reason}"))
                }
                Some(_) => {}
                None => return Err("the __stats session ended".to_owned()),
            }
        }
    })
    .await
    .map_err(|_| "no answer to __stats in time".to_owned())??;
    match answer {
        Message::Text(t) => serde_json::from_str(t.as_str()).map_err(|e| {
            format!(
                "__stats answered {:?}, not JSON ({e}): is the server our echo example?",
                t.as_str()
            )
        }),
        Message::Binary(_) => Err("__stats answered with binary".to_owned()),
    }
}
