//! The session machine, shared by its task and the application's senders.
//!
//! As quinn shares a connection's machine between its driver task and the application's
//! handles, a `send` locks the machine, hands it the message and wakes the task to write it:
//! no channel hop and no reply per message. Only while the machine's send buffer is full does
//! a sender wait, for the task to report a flush.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use engineio_session::proto::Message;
use engineio_session::{SendError, Session};
use tokio::sync::Notify;

use super::socket::SocketEvent;
use crate::metrics::Metrics;

/// Events the application has not taken yet, beyond which the task stops reading the
/// session's network input (a slow application slows its client down instead of growing
/// memory).
pub(crate) const APP_QUEUE: usize = 256;

/// The application's events, handed over without a channel.
#[derive(Default)]
struct AppQueue {
    events: VecDeque<SocketEvent>,
    /// The application's `recv`, waiting.
    waker: Option<Waker>,
    /// The task has ended: nothing comes after what is queued.
    ended: bool,
    /// The `Socket` is gone: nobody takes events.
    dropped: bool,
}

/// What the application or the server asked of the session, for the task to do.
pub(crate) const CLOSE: u8 = 1;
/// See [`CLOSE`].
pub(crate) const SHUTDOWN: u8 = 2;

pub(crate) struct Core {
    session: Mutex<Session>,
    app: Mutex<AppQueue>,
    /// [`CLOSE`] and [`SHUTDOWN`] requests not yet done.
    requests: AtomicU8,
    /// Wakes the session task: the machine has something new to transmit.
    pub(crate) wake: Notify,
    /// Wakes senders waiting for room: a flush, or the close.
    pub(crate) room: Notify,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(session: Session, metrics: Arc<Metrics>) -> Arc<Core> {
        Arc::new(Core {
            session: Mutex::new(session),
            app: Mutex::default(),
            requests: AtomicU8::new(0),
            wake: Notify::new(),
            room: Notify::new(),
            metrics,
        })
    }

    /// The machine. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `message` to the machine, waiting while its send buffer is full.
    pub(crate) async fn send(&self, message: Message) -> Result<(), SendError> {
        loop {
            // Registered before trying, so a flush between the try and the wait is not missed.
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            let sent = self.lock().send(message.clone());
            match sent {
                Ok(_) => {
                    self.metrics.messages_out(1);
                    self.wake.notify_one();
                    return Ok(());
                }
                Err(SendError::Full) => room.await,
                Err(e) => return Err(e),
            }
        }
    }

    fn app(&self) -> MutexGuard<'_, AppQueue> {
        self.app.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the task to close the session ([`CLOSE`]) or shut it down ([`SHUTDOWN`]).
    pub(crate) fn request(&self, what: u8) {
        self.requests.fetch_or(what, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// The requests not yet done, taken.
    pub(crate) fn take_requests(&self) -> u8 {
        if self.requests.load(Ordering::Acquire) == 0 {
            return 0;
        }
        self.requests.swap(0, Ordering::AcqRel)
    }

    /// Queues an event for the application (dropped if the `Socket` is gone).
    pub(crate) fn push_event(&self, event: SocketEvent) {
        let waker = {
            let mut app = self.app();
            if app.dropped {
                return;
            }
            app.events.push_back(event);
            app.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the application has fallen [`APP_QUEUE`] events behind.
    pub(crate) fn lagging(&self) -> bool {
        self.app().events.len() >= APP_QUEUE
    }

    /// Whether the application dropped its `Socket`.
    pub(crate) fn app_dropped(&self) -> bool {
        self.app().dropped
    }

    /// The task has ended: `recv` returns `None` once the queue is empty.
    pub(crate) fn end(&self) {
        let waker = {
            let mut app = self.app();
            app.ended = true;
            app.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The application's `recv`.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<SocketEvent>> {
        let mut app = self.app();
        if let Some(event) = app.events.pop_front() {
            if app.events.len() + 1 == APP_QUEUE {
                // The task may have stopped reading the network for this session.
                self.wake.notify_one();
            }
            return Poll::Ready(Some(event));
        }
        if app.ended {
            return Poll::Ready(None);
        }
        if !app.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            app.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The `Socket` is dropped: its events are discarded and the task told.
    pub(crate) fn drop_app(&self) {
        {
            let mut app = self.app();
            app.dropped = true;
            app.events.clear();
            app.waker = None;
        }
        self.wake.notify_one();
    }
}
