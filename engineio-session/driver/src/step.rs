//! What wakes a driver loop (the server's session task and the client's driver alike).

use std::future::Future;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// What woke the loop.
pub(crate) enum Step<E, C, W = ()> {
    /// Room for the application's next event (`None`: the application is gone).
    Permit(Option<mpsc::OwnedPermit<E>>),
    /// A command from the application or the server (`None`: every sender is gone).
    Ctl(Option<C>),
    /// An input from the network (`None`: every sender is gone).
    Net(Option<C>),
    /// An input from a socket the loop reads itself (the server's WebSockets).
    Socket(W),
    /// The machine's deadline.
    Timeout,
}

/// Waits for what comes first, in this order of priority: room for the application's next
/// event (only with `permit`, while events wait), a command, a wake-up of the loop's own
/// (`wake`), a network input from the loop's own sockets (`sockets`, only while no event
/// waits: a slow application slows its peer down instead of growing memory), a network input
/// from the channel (not while `net_paused`), `sleep`.
pub(crate) async fn next_step<E, C, W>(
    permit: Option<&mpsc::Sender<E>>,
    net_paused: bool,
    mut ctl: Option<&mut mpsc::Receiver<C>>,
    net: &mut mpsc::Receiver<C>,
    mut wake: impl FnMut(&mut Context<'_>) -> Poll<W>,
    mut sockets: impl FnMut(&mut Context<'_>) -> Poll<W>,
    sleep: impl Future<Output = ()>,
) -> Step<E, C, W> {
    let lagging = permit.is_some();
    let mut sleep = std::pin::pin!(sleep);
    let mut reserve = permit.map(|app| Box::pin(app.clone().reserve_owned()));
    std::future::poll_fn(|cx| {
        if let Some(reserve) = reserve.as_mut() {
            if let Poll::Ready(p) = reserve.as_mut().poll(cx) {
                return Poll::Ready(Step::Permit(p.ok()));
            }
        }
        if let Some(ctl) = ctl.as_mut() {
            if let Poll::Ready(cmd) = ctl.poll_recv(cx) {
                return Poll::Ready(Step::Ctl(cmd));
            }
        }
        if let Poll::Ready(w) = wake(cx) {
            return Poll::Ready(Step::Socket(w));
        }
        if !lagging {
            if let Poll::Ready(w) = sockets(cx) {
                return Poll::Ready(Step::Socket(w));
            }
        }
        if !net_paused {
            if let Poll::Ready(cmd) = net.poll_recv(cx) {
                return Poll::Ready(Step::Net(cmd));
            }
        }
        sleep.as_mut().poll(cx).map(|()| Step::Timeout)
    })
    .await
}
