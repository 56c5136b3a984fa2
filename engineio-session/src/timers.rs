//! A machine's deadlines: one slot per kind of timer, the earliest is the next wake-up.

use std::time::Duration;

use crate::Instant;

/// Deadlines indexed by a machine's timer enum (`Timer::X as usize`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timers<const N: usize>([Option<Instant>; N]);

impl<const N: usize> Timers<N> {
    pub(crate) const fn new() -> Self {
        Timers([None; N])
    }

    /// Arms `slot` at `now + after`. A zero duration would fire forever at the same instant,
    /// so time always moves on by at least a millisecond.
    pub(crate) fn set(&mut self, slot: usize, now: Instant, after: Duration) {
        self.0[slot] = Some(now + after.max(Duration::from_millis(1)));
    }

    pub(crate) fn clear(&mut self, slot: usize) {
        self.0[slot] = None;
    }

    pub(crate) fn clear_all(&mut self) {
        self.0 = [None; N];
    }

    pub(crate) fn is_armed(&self, slot: usize) -> bool {
        self.0[slot].is_some()
    }

    /// Whether `slot` is due at `now`; a due slot is disarmed.
    pub(crate) fn take_due(&mut self, slot: usize, now: Instant) -> bool {
        if self.0[slot].is_some_and(|t| t <= now) {
            self.0[slot] = None;
            return true;
        }
        false
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}
