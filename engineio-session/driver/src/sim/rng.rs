//! The run's randomness: one seeded ChaCha stream.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Every random choice of a run (which task runs next, each segment's latency, when and where
/// a fault strikes, the server's session ids) is drawn from this, in an order fixed by the
/// run itself, so a seed replays exactly.
pub(crate) struct SimRng(ChaCha8Rng);

impl SimRng {
    pub(crate) fn new(seed: u64) -> SimRng {
        SimRng(ChaCha8Rng::seed_from_u64(seed))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`, to the microsecond (`lo` when `hi <= lo`).
    pub(crate) fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (micros(lo), micros(hi));
        if hi <= lo {
            return Duration::from_micros(lo);
        }
        let span = hi - lo + 1;
        let r = ((u128::from(self.u64()) * u128::from(span)) >> 64) as u64;
        Duration::from_micros(lo + r)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
