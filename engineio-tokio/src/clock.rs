//! The runtime's clock, turned into the machines' [`Instant`].

use engineio_session::Instant;

/// Converts between Tokio's clock and the machines' time, from a fixed epoch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Now, as the machines count it.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_epoch(tokio::time::Instant::now() - self.epoch)
    }

    /// The Tokio instant for a machine deadline.
    pub(crate) fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + at.since_epoch()
    }
}
