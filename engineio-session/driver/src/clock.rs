//! The runtime's clock, turned into the machines' [`Instant`].

use engineio_session::Instant;

use crate::Runtime;

/// Converts between the runtime's clock and the machines' time, from a fixed epoch.
#[derive(Clone, Debug)]
pub(crate) struct Clock<R> {
    rt: R,
    epoch: std::time::Instant,
}

impl<R: Runtime> Clock<R> {
    pub(crate) fn new(rt: R) -> Clock<R> {
        let epoch = rt.now();
        Clock { rt, epoch }
    }

    /// The runtime.
    pub(crate) fn runtime(&self) -> &R {
        &self.rt
    }

    /// Now, as the machines count it.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_epoch(self.rt.now().saturating_duration_since(self.epoch))
    }

    /// The runtime's instant for a machine deadline.
    pub(crate) fn deadline(&self, at: Instant) -> std::time::Instant {
        self.epoch + at.since_epoch()
    }

    /// Resolves at the machine deadline `at`, or never if there is none.
    pub(crate) async fn sleep_until(&self, at: Option<Instant>) {
        match at {
            Some(t) => self.rt.sleep_until(self.deadline(t)).await,
            None => std::future::pending().await,
        }
    }
}
