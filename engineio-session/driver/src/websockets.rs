//! The WebSockets a driver task reads and writes itself (no reader task, no channel per
//! frame): a server session's, or a client connection's.
//!
//! Writes are coalesced: frames are fed to each socket's write buffer as the machine emits
//! them, and each socket is flushed once per turn of the loop.

use std::task::{Context, Poll};

use async_tungstenite::tungstenite::{Error, Message};
use async_tungstenite::WebSocketStream;

use crate::deflate::DeflateIo;
use engineio_session::ReqId;
use futures_util::io::{AsyncRead, AsyncWrite};
use futures_util::{FutureExt, SinkExt, StreamExt};

/// Most messages a loop takes from one socket in one turn (those already read or readable
/// without waiting), before it writes what they caused: answers to a burst go out in one
/// write.
pub(crate) const BURST: usize = 64;

/// Most bytes of frames queued for a WebSocket still opening before the loop stops taking
/// transmits from its machine (which then holds them, within its own send bound, and makes
/// the application's `send` wait): a fast application cannot grow the queue while the socket
/// opens.
const QUEUE_LIMIT: usize = 128 * 1024;

/// What a read of a WebSocket gave: a message, an error, or the end.
pub(crate) type Read = Option<Result<Message, Error>>;

/// A WebSocket over a runtime's stream `T`, with permessage-deflate if agreed.
pub(crate) type Stream<T> = WebSocketStream<DeflateIo<T>>;

/// One WebSocket: frames wait in `queue` (with their `compress` flags) until its handshake
/// completes.
struct Socket<T> {
    id: ReqId,
    stream: Option<Box<Stream<T>>>,
    queue: Vec<(Message, bool)>,
    /// Bytes of the frames in `queue`.
    queued: usize,
    close: bool,
    dirty: bool,
}

/// The WebSockets of one machine (rarely more than two: the one in use and one probing).
pub(crate) struct WebSockets<T> {
    sockets: Vec<Socket<T>>,
}

impl<T> Default for WebSockets<T> {
    fn default() -> Self {
        WebSockets {
            sockets: Vec::new(),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> WebSockets<T> {
    fn get(&mut self, id: ReqId) -> Option<&mut Socket<T>> {
        self.sockets.iter_mut().find(|s| s.id == id)
    }

    fn entry(&mut self, id: ReqId) -> &mut Socket<T> {
        let at = match self.sockets.iter().position(|s| s.id == id) {
            Some(at) => at,
            None => {
                // Rarely more than one at a time: no room reserved for more.
                self.sockets.reserve_exact(1);
                self.sockets.push(Socket {
                    id,
                    stream: None,
                    queue: Vec::new(),
                    queued: 0,
                    close: false,
                    dirty: false,
                });
                self.sockets.len() - 1
            }
        };
        &mut self.sockets[at]
    }

    /// A WebSocket is being opened as `id`: frames for it wait until it is [`ready`](Self::ready).
    pub(crate) fn opening(&mut self, id: ReqId) {
        self.entry(id);
    }

    /// The WebSocket `id` is open: what waited for it goes out at the next flush.
    pub(crate) fn ready(&mut self, id: ReqId, stream: Box<Stream<T>>) {
        let s = self.entry(id);
        s.stream = Some(stream);
        s.dirty = true;
    }

    /// Forgets the WebSocket `id` (closed by the peer, or broken).
    pub(crate) fn remove(&mut self, id: ReqId) {
        self.sockets.retain(|s| s.id != id);
    }

    /// Closes the WebSocket `id` at the next flush, after what is queued.
    pub(crate) fn close(&mut self, id: ReqId) {
        if let Some(s) = self.get(id) {
            s.close = true;
        }
    }

    /// Writes `message` into the write buffer of `id` (or queues it until the socket is open);
    /// `compress` is its permessage-deflate flag. Returns `false` if the socket is broken.
    pub(crate) async fn write(&mut self, id: ReqId, message: Message, compress: bool) -> bool {
        let Some(s) = self.get(id) else { return true };
        match s.stream.as_mut() {
            Some(sink) if s.queue.is_empty() => {
                s.dirty = true;
                feed(sink, message, compress).await
            }
            _ => {
                s.queued += message.len();
                s.queue.push((message, compress));
                true
            }
        }
    }

    /// Writes what each socket has buffered or queued, with one flush per socket, and closes
    /// those asked to. Returns the sockets found broken (forgotten).
    pub(crate) async fn flush(&mut self) -> Vec<ReqId> {
        let mut broken = Vec::new();
        for s in self.sockets.iter_mut() {
            let Some(sink) = s.stream.as_mut() else {
                continue;
            };
            if !s.queue.is_empty() {
                // Only before the socket opened: the queue's memory is not kept.
                s.queued = 0;
                for (m, compress) in std::mem::take(&mut s.queue) {
                    if !feed(sink, m, compress).await {
                        broken.push(s.id);
                        break;
                    }
                    s.dirty = true;
                }
            }
            if s.dirty {
                s.dirty = false;
                if sink.flush().await.is_err() {
                    broken.push(s.id);
                }
            }
            if s.close {
                let _ = SinkExt::close(sink.as_mut()).await;
            }
        }
        // Closed ones are done; one still opening closes once open.
        let done = |s: &Socket<T>| s.close && s.stream.is_some();
        self.sockets
            .retain(|s| !(done(s) || broken.contains(&s.id)));
        broken
    }

    /// Whether a socket still opening holds [`QUEUE_LIMIT`] bytes of frames or more: the loop
    /// takes no more transmits until it has opened (or failed).
    pub(crate) fn backlogged(&self) -> bool {
        self.sockets.iter().any(|s| s.queued >= QUEUE_LIMIT)
    }

    /// The first socket with something to read, and what.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<(ReqId, Read)> {
        for s in self.sockets.iter_mut().filter(|s| !s.close) {
            if let Some(stream) = s.stream.as_mut() {
                if let Poll::Ready(read) = stream.poll_next_unpin(cx) {
                    return Poll::Ready((s.id, read));
                }
            }
        }
        Poll::Pending
    }

    /// What the socket `id` has ready to read, without waiting.
    pub(crate) fn try_read(&mut self, id: ReqId) -> Option<Read> {
        let s = self.get(id).filter(|s| !s.close)?;
        // A no-op waker: the loop polls again with its own before it waits.
        s.stream.as_mut()?.next().now_or_never()
    }

    /// The ids of the sockets, for [`try_read`](Self::try_read).
    pub(crate) fn ids(&self) -> impl Iterator<Item = ReqId> + '_ {
        self.sockets.iter().map(|s| s.id)
    }

    /// Drops every socket without closing it (a peer that stopped reading, past the grace):
    /// their ids.
    pub(crate) fn drop_all(&mut self) -> Vec<ReqId> {
        std::mem::take(&mut self.sockets)
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// Closes every socket (the machine has ended).
    pub(crate) async fn close_all(self) {
        for mut s in self.sockets {
            if let Some(sink) = s.stream.as_mut() {
                let _ = SinkExt::close(sink.as_mut()).await;
            }
        }
    }
}

/// Feeds one message to a socket's write buffer, telling the deflate layer its flag first.
async fn feed<T: AsyncRead + AsyncWrite + Unpin>(
    sink: &mut Stream<T>,
    message: Message,
    compress: bool,
) -> bool {
    if matches!(message, Message::Text(_) | Message::Binary(_)) && sink.get_ref().is_deflating() {
        sink.get_mut().next_message(compress);
    }
    sink.feed(message).await.is_ok()
}
