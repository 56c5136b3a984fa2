//! A machine shared by its driver task and the application's handles (a server session's, or
//! a client connection's).
//!
//! As quinn shares a connection's machine between its driver task and the application's
//! handles, a `send` locks the machine, hands it the message and wakes the task to write it:
//! no channel hop and no reply per message. Only while the machine's send buffer is full does
//! a sender wait, for the task to report a flush. Events reach the application through a
//! bounded queue the task fills and the application's `recv` empties; the network's other
//! tasks (HTTP handlers, body readers, WebSocket handshakes) hand the task their inputs
//! through another, the inbox. Both wake the task through the same `Notify`, and an idle
//! machine's queues hold no memory (a channel would keep a block of slots per session).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use engineio_session::proto::Message;
use engineio_session::{ClientSession, Instant, SendError, SendId, SendOptions, Session};
use tokio::sync::Notify;

/// Events the application has not taken yet, beyond which the task stops reading the
/// network (a slow application slows its peer down instead of growing memory).
pub(crate) const APP_QUEUE: usize = 256;

/// A machine the application sends on: the server's [`Session`] or the [`ClientSession`].
pub(crate) trait Machine: Send + 'static {
    /// Queues `message` with `options`, or says why not.
    fn send(&mut self, message: Message, options: SendOptions) -> Result<SendId, SendError>;
    /// The machine's next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The deadline has passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The machine has closed.
    fn is_closed(&self) -> bool;
}

impl Machine for Session {
    fn send(&mut self, message: Message, options: SendOptions) -> Result<SendId, SendError> {
        Session::send_with(self, message, options)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now)
    }
    fn is_closed(&self) -> bool {
        Session::is_closed(self)
    }
}

impl Machine for ClientSession {
    fn send(&mut self, message: Message, options: SendOptions) -> Result<SendId, SendError> {
        ClientSession::send_with(self, message, options)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ClientSession::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        ClientSession::handle_timeout(self, now)
    }
    fn is_closed(&self) -> bool {
        ClientSession::is_closed(self)
    }
}

/// The application's events, handed over without a channel.
struct AppQueue<E> {
    events: VecDeque<E>,
    /// The application's `recv`, waiting.
    waker: Option<Waker>,
    /// The task has ended: nothing comes after what is queued.
    ended: bool,
    /// The application's receiving handle is gone: nobody takes events.
    dropped: bool,
}

impl<E> Default for AppQueue<E> {
    fn default() -> Self {
        AppQueue {
            events: VecDeque::new(),
            waker: None,
            ended: false,
            dropped: false,
        }
    }
}

/// What the application or the server asked of the machine, for the task to do.
pub(crate) const CLOSE: u8 = 1;
/// See [`CLOSE`].
pub(crate) const SHUTDOWN: u8 = 2;

/// Inputs the inbox holds before its senders wait.
pub(crate) const INBOX: usize = 64;

/// The network's inputs for the task.
struct Inbox<N> {
    items: VecDeque<N>,
    /// The task has ended: inputs are refused.
    closed: bool,
}

/// A machine `M`, the queue of its events `E` for the application, and the inbox of the
/// network's inputs `N` for its task.
pub(crate) struct Core<M, E, N> {
    machine: Mutex<M>,
    app: Mutex<AppQueue<E>>,
    inbox: Mutex<Inbox<N>>,
    /// Wakes senders waiting for room in the inbox.
    inbox_room: Notify,
    /// [`CLOSE`] and [`SHUTDOWN`] requests not yet done.
    requests: AtomicU8,
    /// One past the last message written to the network (0: none yet).
    flushed: AtomicU64,
    /// The machine is closed: no message will be flushed any more.
    closed: AtomicBool,
    /// Wakes the task: the machine has something new to transmit, or a request came.
    pub(crate) wake: Notify,
    /// Wakes senders waiting for room or for a flush: a flush, or the close.
    room: Notify,
}

impl<M, E, N> std::fmt::Debug for Core<M, E, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").finish_non_exhaustive()
    }
}

impl<M: Machine, E, N> Core<M, E, N> {
    pub(crate) fn new(machine: M) -> Core<M, E, N> {
        Core {
            machine: Mutex::new(machine),
            app: Mutex::default(),
            inbox: Mutex::new(Inbox {
                items: VecDeque::new(),
                closed: false,
            }),
            inbox_room: Notify::new(),
            requests: AtomicU8::new(0),
            flushed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            room: Notify::new(),
        }
    }

    /// The machine. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, M> {
        crate::lock(&self.machine)
    }

    /// Hands `message` to the machine if it has room, without waiting.
    pub(crate) fn try_send(&self, message: Message) -> Result<SendId, SendError> {
        self.try_send_with(message, SendOptions::default())
    }

    fn try_send_with(&self, message: Message, options: SendOptions) -> Result<SendId, SendError> {
        let id = self.lock().send(message, options)?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Hands `message` to the machine, waiting while its send buffer is full.
    pub(crate) async fn send(&self, message: Message) -> Result<SendId, SendError> {
        self.send_with(message, SendOptions::default()).await
    }

    /// [`send`](Self::send) with options.
    pub(crate) async fn send_with(
        &self,
        message: Message,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        // The common case: room at once, without registering for a wake-up. (A clone is a
        // reference count: messages hold `Bytes`.)
        match self.try_send_with(message.clone(), options) {
            Err(SendError::Full) => {}
            r => return r,
        }
        loop {
            // Registered before trying again, so a flush between the try and the wait is not
            // missed.
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self.try_send_with(message.clone(), options) {
                Err(SendError::Full) => room.await,
                r => return r,
            }
        }
    }

    /// Hands `messages` to the machine in order, as many at a time as its send buffer takes
    /// (one lock and one wake-up for them), waiting while it is full. Returns the last one's
    /// id and how many were taken; on an error, those before it were taken.
    pub(crate) async fn send_all<I>(
        &self,
        messages: I,
    ) -> (Option<SendId>, usize, Result<(), SendError>)
    where
        I: Iterator<Item = Message>,
    {
        let mut messages = messages.peekable();
        let (mut last, mut taken) = (None, 0);
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            let mut failed = None;
            {
                let mut machine = self.lock();
                while let Some(message) = messages.peek() {
                    match machine.send(message.clone(), SendOptions::default()) {
                        Ok(id) => {
                            last = Some(id);
                            taken += 1;
                            messages.next();
                        }
                        Err(SendError::Full) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            if taken > 0 {
                self.wake.notify_one();
            }
            if let Some(e) = failed {
                return (last, taken, Err(e));
            }
            if messages.peek().is_none() {
                return (last, taken, Ok(()));
            }
            room.await;
        }
    }

    /// Waits until the message `id` (and every one before it) was written to the network, or
    /// fails with [`SendError::Closed`] if the machine closed before.
    pub(crate) async fn flushed(&self, id: SendId) -> Result<(), SendError> {
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            if self.flushed.load(Ordering::Acquire) > id.0 {
                return Ok(());
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(SendError::Closed);
            }
            room.await;
        }
    }

    /// The task wrote every message up to `last` to the network: wakes senders.
    pub(crate) fn report_flushed(&self, last: Option<SendId>) {
        if let Some(last) = last {
            self.flushed.fetch_max(last.0 + 1, Ordering::AcqRel);
        }
        self.room.notify_waiters();
    }

    /// The machine closed: senders waiting for room or a flush give up.
    pub(crate) fn report_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.room.notify_waiters();
    }

    /// Resolves once the machine is closed ([`report_closed`](Self::report_closed)).
    pub(crate) async fn closed(&self) {
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            room.await;
        }
    }
}

impl<M, E, N> Core<M, E, N> {
    fn inbox(&self) -> MutexGuard<'_, Inbox<N>> {
        crate::lock(&self.inbox)
    }

    /// Hands the task a network input, waiting while [`INBOX`] wait; gives it back if the
    /// task has ended.
    pub(crate) async fn deliver(&self, mut input: N) -> Result<(), N> {
        loop {
            let room = self.inbox_room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self.try_deliver(input) {
                Ok(()) => return Ok(()),
                Err((back, true)) => input = back,
                Err((back, false)) => return Err(back),
            }
            room.await;
        }
    }

    /// Hands the task a network input if the inbox has room; otherwise gives it back, with
    /// whether it is only full (`true`) or the task has ended (`false`).
    pub(crate) fn try_deliver(&self, input: N) -> Result<(), (N, bool)> {
        {
            let mut inbox = self.inbox();
            if inbox.closed {
                return Err((input, false));
            }
            if inbox.items.len() >= INBOX {
                return Err((input, true));
            }
            inbox.items.push_back(input);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// The task's next network input.
    pub(crate) fn next_input(&self) -> Option<N> {
        let mut inbox = self.inbox();
        let input = inbox.items.pop_front()?;
        if inbox.items.len() + 1 == INBOX {
            self.inbox_room.notify_waiters();
        }
        if inbox.items.is_empty() && inbox.items.capacity() > 8 {
            // Keep little memory once a burst is over.
            inbox.items = VecDeque::new();
        }
        Some(input)
    }

    /// The task has ended: inputs still queued are dropped, later ones refused.
    pub(crate) fn close_inbox(&self) {
        let dropped = {
            let mut inbox = self.inbox();
            inbox.closed = true;
            std::mem::take(&mut inbox.items)
        };
        drop(dropped);
        self.inbox_room.notify_waiters();
    }

    fn app(&self) -> MutexGuard<'_, AppQueue<E>> {
        crate::lock(&self.app)
    }

    /// Asks the task to close the machine ([`CLOSE`]) or shut it down ([`SHUTDOWN`]).
    pub(crate) fn request(&self, what: u8) {
        self.requests.fetch_or(what, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Whether a close or shutdown was asked for and not done yet.
    pub(crate) fn close_requested(&self) -> bool {
        self.requests.load(Ordering::Acquire) != 0
    }

    /// The requests not yet done, taken.
    pub(crate) fn take_requests(&self) -> u8 {
        if self.requests.load(Ordering::Acquire) == 0 {
            return 0;
        }
        self.requests.swap(0, Ordering::AcqRel)
    }

    /// Queues an event for the application (dropped if its handle is gone).
    pub(crate) fn push_event(&self, event: E) {
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

    /// Whether the application dropped its receiving handle.
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
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let mut app = self.app();
        if let Some(event) = app.events.pop_front() {
            if app.events.len() + 1 == APP_QUEUE {
                // The task may have stopped reading the network.
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

    /// The receiving handle is dropped: its events are discarded and the task told.
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
