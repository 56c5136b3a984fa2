//! The measured server's CPU time (`/proc/PID/stat`), resident memory (`/proc/PID/status`)
//! and the bytes through the loopback interface (`/proc/net/dev`).

use std::time::Duration;

/// User and system CPU time of a process, since it started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// User time.
    pub user: Duration,
    /// System (kernel) time.
    pub system: Duration,
}

/// The CPU times of `pid` (all its threads), or zero when unreadable.
pub fn cpu(pid: u32) -> Cpu {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Cpu::default();
    };
    // The command name (field 2) may hold spaces: the fields after it start past the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let to_duration = |ticks: u64| Duration::from_micros(ticks * 1_000_000 / hz);
    Cpu {
        user: to_duration(tick(11)),
        system: to_duration(tick(12)),
    }
}

impl Cpu {
    /// The time spent between `earlier` and `self`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// The resident set size of `pid` in KiB (`VmRSS`), or 0 when unreadable.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Bytes through the loopback interface since boot (`/proc/net/dev`, `lo` receive bytes: on
/// loopback every byte sent is received once), TCP/IP headers included. On a machine whose
/// only loopback traffic is the benchmark's, the difference over a run is its bytes on the
/// wire, both directions.
pub fn loopback_bytes() -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    dev.lines()
        .find_map(|l| l.trim_start().strip_prefix("lo:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
