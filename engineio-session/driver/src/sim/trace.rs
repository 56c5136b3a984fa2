//! The run's trace: a hash of everything observable that happened, in order.

use std::fmt;
use std::time::Duration;

/// How many of the last trace lines a failure report shows.
const TAIL: usize = 40;

/// FNV-1a over the run's events, and the last few events as text.
///
/// The hash covers, with the virtual time of each: every segment written (connection,
/// direction, length), every connection opened, refused, closed or reset, every fault, every
/// task ended, and what the application records with
/// [`SimRuntime::trace`](super::SimRuntime::trace). Byte contents are left out on purpose:
/// hyper's `Date` header and tungstenite's masking keys differ from run to run, though never
/// in length.
pub(crate) struct Trace {
    hash: u64,
    events: u64,
    tail: std::collections::VecDeque<String>,
    /// Whether every event goes to standard error too (`ENGINEIO_SIM_TRACE`).
    echo: bool,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            events: 0,
            tail: Default::default(),
            echo: std::env::var_os(super::seeds::TRACE_VAR).is_some_and(|v| v != "0"),
        }
    }
}

impl Trace {
    /// Records one event at virtual time `at`.
    pub(crate) fn record(&mut self, at: Duration, event: fmt::Arguments<'_>) {
        let line = format!("{:>12.6}s {event}", at.as_secs_f64());
        for b in line.bytes().chain([b'\n']) {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.events += 1;
        if self.echo {
            eprintln!("{line}");
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// The last events, oldest first.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}
