//! What wakes a driver loop (the server's session task and the client's driver alike).

use std::future::Future;
use std::task::Poll;

use engineio_session::ReqId;
use futures_util::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};

use crate::websockets::{Read, WebSockets};

/// What woke the loop.
pub(crate) enum Step<C> {
    /// The application handed the machine a message, took events, or asked for something.
    Machine,
    /// One of the loop's WebSockets delivered something.
    Socket(ReqId, Read),
    /// An input from the network's other tasks (`None`: every sender is gone).
    Net(Option<C>),
    /// The machine's deadline.
    Timeout,
}

/// Waits for what comes first, in this order of priority: a wake-up from the application
/// (`wake`), a read on one of the loop's `sockets` (`None` while the application lags: a slow
/// application slows its peer down instead of growing memory), an input from `net` (`None`:
/// not now), the deadline (`sleep`).
pub(crate) async fn next_step<C, T: AsyncRead + AsyncWrite + Unpin>(
    wake: &Notify,
    mut sockets: Option<&mut WebSockets<T>>,
    mut net: Option<&mut mpsc::Receiver<C>>,
    sleep: impl Future<Output = ()>,
) -> Step<C> {
    let mut sleep = std::pin::pin!(sleep);
    let mut woken = std::pin::pin!(wake.notified());
    std::future::poll_fn(|cx| {
        if woken.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Step::Machine);
        }
        if let Some(sockets) = sockets.as_mut() {
            if let Poll::Ready((id, read)) = sockets.poll_read(cx) {
                return Poll::Ready(Step::Socket(id, read));
            }
        }
        if let Some(net) = net.as_mut() {
            if let Poll::Ready(cmd) = net.poll_recv(cx) {
                return Poll::Ready(Step::Net(cmd));
            }
        }
        sleep.as_mut().poll(cx).map(|()| Step::Timeout)
    })
    .await
}
