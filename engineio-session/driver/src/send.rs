//! The client's `send`: a command to its driver loop with a reply. (A server session's `send`
//! hands the message to the machine directly: `server/core.rs`.)

use std::collections::VecDeque;

use engineio_session::proto::Message;
use engineio_session::{SendError, SendId};
use tokio::sync::{mpsc, oneshot};

/// Where a driver loop answers a `send`: once the machine took the message, or refused it.
pub(crate) type Reply = oneshot::Sender<Result<(), SendError>>;

/// Hands `message` to a driver loop as `cmd(message, reply)` and waits for the machine's
/// answer (while its send buffer is full, the loop holds the reply back).
pub(crate) async fn send<C>(
    cmds: &mpsc::Sender<C>,
    message: Message,
    cmd: fn(Message, Reply) -> C,
) -> Result<(), SendError> {
    let (tx, rx) = oneshot::channel();
    if cmds.send(cmd(message, tx)).await.is_err() {
        return Err(SendError::Closed);
    }
    rx.await.unwrap_or(Err(SendError::Closed))
}

/// Sends waiting for room in the client machine's send buffer, in order.
#[derive(Default)]
pub(crate) struct Waiting(VecDeque<(Message, Reply)>);

impl Waiting {
    /// Offers `message` to the machine through `send`, unless earlier sends wait (order is
    /// kept); answers `reply` once the machine took or refused it. Returns whether the
    /// machine took it now.
    pub(crate) fn offer(
        &mut self,
        message: Message,
        reply: Reply,
        send: impl FnMut(Message) -> Result<SendId, SendError>,
    ) -> bool {
        self.0.push_back((message, reply));
        self.retry(send) == 1
    }

    /// Offers the waiting sends again, in order, until the machine's buffer is full (after it
    /// reported a flush). Returns how many the machine took.
    pub(crate) fn retry(
        &mut self,
        mut send: impl FnMut(Message) -> Result<SendId, SendError>,
    ) -> usize {
        let mut taken = 0;
        while let Some((message, reply)) = self.0.pop_front() {
            match send(message.clone()) {
                Err(SendError::Full) => {
                    self.0.push_front((message, reply));
                    break;
                }
                r => {
                    taken += usize::from(r.is_ok());
                    let _ = reply.send(r.map(|_| ()));
                }
            }
        }
        taken
    }

    /// Answers every waiting send with [`SendError::Closed`].
    pub(crate) fn close(&mut self) {
        for (_, reply) in self.0.drain(..) {
            let _ = reply.send(Err(SendError::Closed));
        }
    }
}
