//! The runtime's clock, turned into the machines' [`Instant`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
}

/// One timer for a machine's deadline, re-armed only when the deadline moves (not on every
/// turn of the loop, which would insert and remove a runtime timer per message).
pub(crate) struct Alarm<R: Runtime> {
    at: Option<Instant>,
    sleep: Option<Pin<Box<R::Sleep>>>,
}

impl<R: Runtime> Default for Alarm<R> {
    fn default() -> Self {
        Alarm {
            at: None,
            sleep: None,
        }
    }
}

impl<R: Runtime> Alarm<R> {
    /// Ready once `deadline` has passed; pending forever without one. After it fired, the next
    /// call arms a new timer.
    pub(crate) fn poll(
        &mut self,
        clock: &Clock<R>,
        deadline: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if deadline != self.at || self.sleep.is_none() {
            self.at = deadline;
            self.sleep = deadline.map(|t| Box::pin(clock.rt.sleep_until(clock.deadline(t))));
        }
        let Some(sleep) = self.sleep.as_mut() else {
            return Poll::Pending;
        };
        let fired = sleep.as_mut().poll(cx);
        if fired.is_ready() {
            self.sleep = None;
        }
        fired
    }
}
