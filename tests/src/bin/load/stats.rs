//! What the sessions count: counters, errors by kind, and latency histograms.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

/// How many error messages are kept as samples.
const ERROR_SAMPLES: usize = 30;

/// A counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// Takes one away.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Relaxed);
    }

    /// The count now.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The sessions' counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions whose handshake completed.
    pub opened: Counter,
    /// Sessions whose handshake failed.
    pub connect_failed: Counter,
    /// Sessions open now.
    pub alive: Counter,
    /// Sessions that ended by our own close, as expected.
    pub closed_clean: Counter,
    /// Text messages sent.
    pub sent_text: Counter,
    /// Binary messages sent.
    pub sent_binary: Counter,
    /// Bytes of message data sent.
    pub sent_bytes: Counter,
    /// Echoes received intact and in order.
    pub echoed: Counter,
    /// Messages whose echo never came.
    pub lost: Counter,
    /// Echoes of a message already echoed (or never sent).
    pub duplicated: Counter,
    /// Echoes that overtook an earlier message's.
    pub reordered: Counter,
    /// Echoes that are not the load's messages (altered, or another session's).
    pub bad: Counter,
    /// Heartbeats seen by the sessions.
    pub heartbeats: Counter,
    /// Sessions that upgraded to WebSocket.
    pub upgraded: Counter,
    /// Sessions closed by anything but our own close.
    pub unexpected_closes: Counter,
}

impl Counters {
    /// Messages sent.
    pub fn sent(&self) -> u64 {
        self.sent_text.get() + self.sent_binary.get()
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "sessions_opened": self.opened.get(),
            "connect_failed": self.connect_failed.get(),
            "sessions_closed_clean": self.closed_clean.get(),
            "messages_sent": self.sent(),
            "text_sent": self.sent_text.get(),
            "binary_sent": self.sent_binary.get(),
            "bytes_sent": self.sent_bytes.get(),
            "echoes_received": self.echoed.get(),
            "lost": self.lost.get(),
            "duplicated": self.duplicated.get(),
            "reordered": self.reordered.get(),
            "bad": self.bad.get(),
            "heartbeats": self.heartbeats.get(),
            "upgraded": self.upgraded.get(),
            "unexpected_closes": self.unexpected_closes.get(),
        })
    }
}

/// Errors by kind, with the first few messages.
#[derive(Debug, Default)]
pub struct Errors {
    inner: Mutex<(BTreeMap<&'static str, u64>, Vec<String>)>,
}

impl Errors {
    /// Counts an error of `kind`; `detail` is kept if few were.
    pub fn add(&self, kind: &'static str, detail: String) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *inner.0.entry(kind).or_default() += 1;
        if inner.1.len() < ERROR_SAMPLES {
            eprintln!("error: {kind}: {detail}");
            inner.1.push(format!("{kind}: {detail}"));
        }
    }

    /// How many errors there were.
    pub fn total(&self) -> u64 {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.values().sum()
    }

    /// The counts by kind and the samples, as JSON.
    pub fn to_json(&self) -> (Value, Value) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (json!(inner.0), json!(inner.1))
    }
}

/// Sub-buckets per power of two: values are kept to about 1.6%.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS + 1) as usize) * SUB as usize;

/// A histogram of durations in microseconds, log-linear (values within about 1.6%), and the
/// exact largest.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let shift = e - SUB_BITS;
    let m = (v >> shift) & (SUB - 1);
    ((shift + 1) as usize) * SUB as usize + m as usize
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    let sub = SUB as usize;
    if i < 2 * sub {
        return i as u64;
    }
    let shift = (i / sub - 1) as u32;
    let m = (i % sub) as u64;
    let end = (u128::from(SUB + m + 1) << shift) - 1;
    u64::try_from(end).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(us, Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The `p`-th percentile (0 to 100) in microseconds: the upper end of its bucket (0 when
    /// empty).
    pub fn percentile(&self, p: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return upper(i).min(self.max());
            }
        }
        self.max()
    }

    /// The largest value, in microseconds.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Count, p50, p90, p99, p99.9 and max in microseconds, as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count(),
            "p50_us": self.percentile(50.0),
            "p90_us": self.percentile(90.0),
            "p99_us": self.percentile(99.0),
            "p999_us": self.percentile(99.9),
            "max_us": self.max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_hold_their_values() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i >= last && i < BUCKETS, "{v} -> {i}");
            assert!(upper(i) >= v, "{v} above its bucket's end {}", upper(i));
            assert!(i == 0 || upper(i - 1) < v, "{v} belongs below {i}");
            last = i;
        }
    }

    #[test]
    fn percentiles() {
        let h = Histogram::default();
        for us in 1..=1000 {
            h.record(Duration::from_micros(us));
        }
        assert!((500..=516).contains(&h.percentile(50.0)));
        assert!((990..=1000).contains(&h.percentile(99.0)));
        assert_eq!(h.max(), 1000);
    }
}
