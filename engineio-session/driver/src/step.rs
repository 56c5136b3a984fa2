//! What wakes a driver loop (the server's session task and the client's driver alike).

use std::future::Future;
use std::task::Poll;

use engineio_session::ReqId;
use futures_util::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use crate::websockets::{Read, WebSockets};

/// What woke the loop.
pub(crate) enum Step {
    /// The application handed the machine a message, took events, or asked for something; or
    /// the network's other tasks delivered an input to the inbox.
    Woken,
    /// One of the loop's WebSockets delivered something.
    Socket(ReqId, Read),
    /// The machine's deadline.
    Timeout,
}

/// Waits for what comes first, in this order of priority: a wake-up (`wake`: the application,
/// or an input in the inbox), a read on one of the loop's `sockets` (`None` while the
/// application lags: a slow application slows its peer down instead of growing memory), the
/// deadline (`sleep`).
pub(crate) async fn next_step<T: AsyncRead + AsyncWrite + Unpin>(
    wake: &Notify,
    mut sockets: Option<&mut WebSockets<T>>,
    sleep: impl Future<Output = ()>,
) -> Step {
    let mut sleep = std::pin::pin!(sleep);
    let mut woken = std::pin::pin!(wake.notified());
    std::future::poll_fn(|cx| {
        if woken.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Step::Woken);
        }
        if let Some(sockets) = sockets.as_mut() {
            if let Poll::Ready((id, read)) = sockets.poll_read(cx) {
                return Poll::Ready(Step::Socket(id, read));
            }
        }
        sleep.as_mut().poll(cx).map(|()| Step::Timeout)
    })
    .await
}
