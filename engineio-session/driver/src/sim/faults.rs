//! The faults a run injects: latency, partitions, reset connections and clock jumps.

use std::ops::RangeInclusive;
use std::task::Waker;
use std::time::Duration;

use super::world::{HostId, State};

/// What goes wrong in a run, and how often. Every draw comes from the run's seed.
///
/// Latency applies to every segment for the whole run; the other faults strike at random
/// times, each kind on average once per its `every`, until [`until`](Faults::until), after
/// which the network heals so that the application can finish.
///
/// ```
/// use std::time::Duration;
/// use engineio_driver::sim::Faults;
/// let ms = Duration::from_millis;
/// let faults = Faults::none()
///     .latency(ms(1)..=ms(40))
///     .partitions(Duration::from_secs(5), ms(500)..=Duration::from_secs(20))
///     .resets(Duration::from_secs(3))
///     .clock_jumps(Duration::from_secs(10), ms(100)..=Duration::from_secs(30))
///     .until(Duration::from_secs(60));
/// # let _ = faults;
/// ```
#[derive(Clone, Debug)]
pub struct Faults {
    pub(crate) latency: (Duration, Duration),
    partitions: Option<(Duration, Duration, Duration)>,
    resets: Option<Duration>,
    jumps: Option<(Duration, Duration, Duration)>,
    until: Duration,
}

impl Default for Faults {
    /// A LAN: 0.1 to 2 ms per segment, nothing else.
    fn default() -> Self {
        Faults {
            latency: (Duration::from_micros(100), Duration::from_millis(2)),
            partitions: None,
            resets: None,
            jumps: None,
            until: Duration::MAX,
        }
    }
}

impl Faults {
    /// No latency and no faults.
    pub fn none() -> Faults {
        Faults {
            latency: (Duration::ZERO, Duration::ZERO),
            ..Faults::default()
        }
    }

    /// Each segment takes between these (in order: a connection never reorders).
    pub fn latency(mut self, range: RangeInclusive<Duration>) -> Faults {
        self.latency = (*range.start(), *range.end());
        self
    }

    /// About once per `every`, one host (not the main task's) is cut off from every other
    /// for a time in `lasting`: what it sends meanwhile arrives after the partition heals,
    /// as TCP would retransmit it, and new connections to or from it time out.
    pub fn partitions(mut self, every: Duration, lasting: RangeInclusive<Duration>) -> Faults {
        self.partitions = Some((every, *lasting.start(), *lasting.end()));
        self
    }

    /// About once per `every`, one open connection is reset: both ends fail their reads
    /// and writes, and what was in flight is lost.
    pub fn resets(mut self, every: Duration) -> Faults {
        self.resets = Some(every);
        self
    }

    /// About once per `every`, one host's clock jumps ahead by a time in `by` (as after a
    /// virtual machine was paused): its timers fire that much sooner than the world's.
    pub fn clock_jumps(mut self, every: Duration, by: RangeInclusive<Duration>) -> Faults {
        self.jumps = Some((every, *by.start(), *by.end()));
        self
    }

    /// No fault strikes after this virtual time (latency stays).
    pub fn until(mut self, at: Duration) -> Faults {
        self.until = at;
        self
    }
}

/// One fault, as the run injected it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `host` was cut off from every other host for `lasting`.
    Partition {
        /// The host cut off.
        host: String,
        /// For how long.
        lasting: Duration,
    },
    /// `a` and `b` could not reach each other for `lasting` (each still reached the others).
    Split {
        /// One side.
        a: String,
        /// The other.
        b: String,
        /// For how long.
        lasting: Duration,
    },
    /// The connection between `client` and `server` was reset.
    Reset {
        /// The end that connected.
        client: String,
        /// The end that accepted.
        server: String,
    },
    /// `host` crashed: `tasks` of its tasks were dropped (its connections were reset,
    /// each logged as a [`Reset`](Fault::Reset)).
    Crash {
        /// The host.
        host: String,
        /// How many tasks were dropped.
        tasks: usize,
    },
    /// `host`'s clock jumped ahead by `by`.
    ClockJump {
        /// The host.
        host: String,
        /// How far.
        by: Duration,
    },
}

impl Fault {
    /// Whether this fault touched `host`.
    pub fn touches(&self, host: &str) -> bool {
        match self {
            Fault::Partition { host: h, .. }
            | Fault::ClockJump { host: h, .. }
            | Fault::Crash { host: h, .. } => h == host,
            Fault::Reset { client, server } => client == host || server == host,
            Fault::Split { a, b, .. } => a == host || b == host,
        }
    }
}

/// The faults injected so far, with their virtual times, and when each kind strikes next.
#[derive(Default)]
pub(crate) struct FaultLog {
    pub(crate) injected: Vec<(Duration, Fault)>,
    next: [Option<Duration>; 3],
    started: bool,
}

impl State {
    /// When the next fault strikes, if one will.
    pub(crate) fn next_fault_at(&mut self) -> Option<Duration> {
        if !self.fault_log.started {
            self.fault_log.started = true;
            (0..3).for_each(|kind| self.schedule(kind));
        }
        let until = self.faults.until;
        self.fault_log
            .next
            .iter()
            .flatten()
            .copied()
            .filter(|at| *at <= until)
            .min()
    }

    /// Draws when fault `kind` (partition, reset, clock jump) next strikes: once per its
    /// `every` on average.
    fn schedule(&mut self, kind: usize) {
        let every = [
            self.faults.partitions.map(|p| p.0),
            self.faults.resets,
            self.faults.jumps.map(|j| j.0),
        ][kind];
        let now = self.now;
        self.fault_log.next[kind] = every.map(|e| now + self.rng.duration(Duration::ZERO, e * 2));
    }

    /// Injects every fault due by now; wakers of what it broke go to `wake`.
    pub(crate) fn inject_fault(&mut self, wake: &mut Vec<Waker>) {
        for kind in 0..3 {
            if self.fault_log.next[kind].is_none_or(|at| at > self.now) {
                continue;
            }
            let fault = match kind {
                0 => self.random_partition(),
                1 => self.random_reset(wake),
                _ => self.random_clock_jump(),
            };
            if let Some(fault) = fault {
                self.log_fault(fault);
            }
            self.schedule(kind);
        }
    }

    /// A random host other than the main task's (host 0), if there is one.
    fn victim(&mut self) -> Option<usize> {
        let n = self.hosts.len();
        (n > 1).then(|| 1 + self.rng.below(n - 1))
    }

    /// Records an injected fault in the log and the trace.
    pub(crate) fn log_fault(&mut self, fault: Fault) {
        self.trace(format_args!("fault {fault:?}"));
        let now = self.now;
        self.fault_log.injected.push((now, fault));
    }

    fn random_partition(&mut self) -> Option<Fault> {
        let (_, lo, hi) = self.faults.partitions?;
        let host = self.victim()?;
        let lasting = self.rng.duration(lo, hi);
        Some(self.isolate(host, lasting))
    }

    fn random_reset(&mut self, wake: &mut Vec<Waker>) -> Option<Fault> {
        let open = self.net.open_connections(None);
        if open.is_empty() {
            return None;
        }
        let conn = open[self.rng.below(open.len())];
        self.reset(conn, wake)
    }

    fn random_clock_jump(&mut self) -> Option<Fault> {
        let (_, lo, hi) = self.faults.jumps?;
        let host = self.victim()?;
        let by = self.rng.duration(lo, hi);
        Some(self.jump_clock(host, by))
    }

    /// Cuts `host` off from every other host for `lasting`.
    pub(crate) fn isolate(&mut self, host: HostId, lasting: Duration) -> Fault {
        let until = self.now + lasting;
        self.net.cut(host, None, until);
        Fault::Partition {
            host: self.hosts[host].name.clone(),
            lasting,
        }
    }

    /// Cuts `a` and `b` off from each other for `lasting`.
    pub(crate) fn split(&mut self, a: HostId, b: HostId, lasting: Duration) -> Fault {
        let until = self.now + lasting;
        self.net.cut(a, Some(b), until);
        Fault::Split {
            a: self.hosts[a].name.clone(),
            b: self.hosts[b].name.clone(),
            lasting,
        }
    }

    /// Resets connection `conn`.
    pub(crate) fn reset(&mut self, conn: usize, wake: &mut Vec<Waker>) -> Option<Fault> {
        let (client, server) = self.net.reset(conn, wake)?;
        Some(Fault::Reset {
            client: self.hosts[client].name.clone(),
            server: self.hosts[server].name.clone(),
        })
    }

    /// Moves `host`'s clock ahead by `by`.
    pub(crate) fn jump_clock(&mut self, host: HostId, by: Duration) -> Fault {
        self.jump(host, by);
        Fault::ClockJump {
            host: self.hosts[host].name.clone(),
            by,
        }
    }
}
