//! The session machine, shared by its task and the application's senders.
//!
//! As quinn shares a connection's machine between its driver task and the application's
//! handles, a `send` locks the machine, hands it the message and wakes the task to write it:
//! no channel hop and no reply per message. Only while the machine's send buffer is full does
//! a sender wait, for the task to report a flush.

use std::sync::{Arc, Mutex, MutexGuard};

use engineio_session::proto::Message;
use engineio_session::{SendError, Session};
use tokio::sync::Notify;

use crate::metrics::Metrics;

pub(crate) struct Core {
    session: Mutex<Session>,
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
}
