//! What wakes a driver loop (the server's session task and the client's driver alike).

use std::future::Future;
use std::task::Poll;

use engineio_session::ReqId;
use futures_util::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use crate::clock::{Alarm, Clock};
use crate::core::{Core, Machine};
use crate::websockets::{Read, WebSockets};
use crate::Runtime;

/// How long writes to a closed machine's WebSockets (its last frames, the close frame) may
/// wait for a peer that does not read before the sockets are dropped.
pub(crate) const CLOSED_WRITE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

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

/// Waits for `io`, a write to the loop's WebSockets, while running the machine's timers: a
/// peer that stops reading cannot stop the heartbeat (which then closes the machine, as the
/// reference's ping timeout does). Once the machine is closed, waits at most
/// [`CLOSED_WRITE_GRACE`] more, then gives up (`None`): the caller drops the sockets.
///
/// `unless_stuck!(alarm, clock, core, io)`: a macro, so that the common case (the write
/// completes without waiting) costs the caller's future nothing, and the waiting state is
/// boxed: a task's future's size is each idle session's memory.
macro_rules! unless_stuck {
    ($alarm:expr, $clock:expr, $core:expr, $io:expr) => {{
        let mut io = std::pin::pin!($io);
        match futures_util::FutureExt::now_or_never(io.as_mut()) {
            Some(out) => Some(out),
            None => Box::pin($crate::step::wait_unless_stuck($alarm, $clock, $core, io)).await,
        }
    }};
}
pub(crate) use unless_stuck;

/// [`unless_stuck!`] once `io` has to wait.
pub(crate) async fn wait_unless_stuck<R: Runtime, M: Machine, E, N, F: Future>(
    alarm: &mut Alarm<R>,
    clock: &Clock<R>,
    core: &Core<M, E, N>,
    mut io: std::pin::Pin<&mut F>,
) -> Option<F::Output> {
    let mut give_up = None;
    loop {
        let deadline = {
            let m = core.lock();
            if m.is_closed() {
                Some(*give_up.get_or_insert(clock.now() + CLOSED_WRITE_GRACE))
            } else {
                m.poll_timeout()
            }
        };
        let sleep = std::future::poll_fn(|cx| alarm.poll(clock, deadline, cx));
        match futures_util::future::select(io.as_mut(), std::pin::pin!(sleep)).await {
            futures_util::future::Either::Left((out, _)) => return Some(out),
            futures_util::future::Either::Right(_) if give_up.is_some() => return None,
            futures_util::future::Either::Right(_) => {
                core.lock().handle_timeout(clock.now());
            }
        }
    }
}
