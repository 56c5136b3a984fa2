//! Latency samples (microseconds) and their percentiles.

use std::time::Duration;

/// Latency samples of one run, in microseconds, and a count of the operations measured.
#[derive(Debug, Default)]
pub struct Samples {
    micros: Vec<u32>,
}

impl Samples {
    /// Records one operation that took `d`.
    pub fn record(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    /// Adds another set's samples to this one.
    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    /// How many operations were recorded.
    pub fn count(&self) -> u64 {
        self.micros.len() as u64
    }

    /// Sorts the samples; call once before [`Samples::percentile`].
    pub fn sort(&mut self) {
        self.micros.sort_unstable();
    }

    /// The `p`-th percentile (0-100) in microseconds of sorted samples (0 when empty).
    pub fn percentile(&self, p: f64) -> u32 {
        if self.micros.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        self.micros[rank.clamp(1, self.micros.len()) - 1]
    }
}
