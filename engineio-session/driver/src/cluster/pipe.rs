//! The owner's end of a relayed WebSocket: a byte stream whose reads are the bytes the client
//! sent (relayed by another node) and whose writes go back to that node through Redis. The
//! session's WebSocket runs over it exactly as over a TCP connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::link::Outgoing;
use super::wire::{self, Message};

pub(crate) struct RelayIo {
    incoming: mpsc::Receiver<Bytes>,
    pending: Bytes,
    out: PollSender<Outgoing>,
    /// The relaying node's channel.
    to: Arc<str>,
    /// This node's name.
    me: Arc<str>,
    id: u64,
    ended: bool,
}

impl RelayIo {
    pub(crate) fn new(
        incoming: mpsc::Receiver<Bytes>,
        out: mpsc::Sender<Outgoing>,
        to: Arc<str>,
        me: Arc<str>,
        id: u64,
    ) -> RelayIo {
        RelayIo {
            incoming,
            pending: Bytes::new(),
            out: PollSender::new(out),
            to,
            me,
            id,
            ended: false,
        }
    }

    fn envelope(&self, message: Message) -> Outgoing {
        (self.to.clone(), wire::encode(&self.me, self.id, &message))
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, message: Message) -> Poll<io::Result<()>> {
        ready!(self.out.poll_reserve(cx)).map_err(|_| io::ErrorKind::BrokenPipe)?;
        let item = self.envelope(message);
        Poll::Ready(
            self.out
                .send_item(item)
                .map_err(|_| io::ErrorKind::BrokenPipe.into()),
        )
    }
}

impl AsyncRead for RelayIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        while self.pending.is_empty() {
            match ready!(self.incoming.poll_recv(cx)) {
                Some(b) => self.pending = b,
                None => return Poll::Ready(Ok(0)),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        let _ = self.pending.split_to(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for RelayIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let bytes = Bytes::copy_from_slice(buf);
        ready!(self.poll_send(
            cx,
            Message::Data {
                to_owner: false,
                bytes
            }
        ))?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.ended {
            ready!(self.poll_send(cx, Message::End { to_owner: false }))?;
            self.ended = true;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for RelayIo {
    fn drop(&mut self) {
        if !self.ended {
            // Best effort: the relaying node also ends the stream when its client goes.
            if let Some(tx) = self.out.get_ref() {
                let _ = tx.try_send(self.envelope(Message::End { to_owner: false }));
            }
        }
    }
}
