//! The application's `send`, the same for server sessions and client connections.

use engineio_session::proto::Message;
use engineio_session::SendError;
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
