//! Time as the machines see it: a value passed in, never read from a clock.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the driver's clock: the time elapsed since an epoch the driver chose (its start,
/// or zero in a simulation). The machines never read a clock; every input carries `now`.
///
/// ```
/// use std::time::Duration;
/// use engineio_session::Instant;
/// let t = Instant::ZERO + Duration::from_millis(1500);
/// assert_eq!(t - Instant::ZERO, Duration::from_millis(1500));
/// assert_eq!(Instant::ZERO - t, Duration::ZERO); // saturates
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `since` after the epoch.
    pub const fn from_epoch(since: Duration) -> Instant {
        Instant(since)
    }

    /// The time elapsed since the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Milliseconds since the epoch (for traces and logs).
    pub fn as_millis(self) -> u128 {
        self.0.as_millis()
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time instead of overflowing.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `other` is later.
    fn sub(self, other: Instant) -> Duration {
        self.0.saturating_sub(other.0)
    }
}
