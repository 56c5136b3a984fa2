//! I/O adapters between hyper's `rt` traits and `futures-io`.
//!
//! Streams from the runtime are `futures-io`; hyper reads them through [`FuturesIo`]. The
//! other way (hyper's upgraded connection, read by async-tungstenite) is [`HyperIo`].

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{ReadBuf, ReadBufCursor};

/// The most one read takes from a stream into hyper's buffer.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    /// Where [`FuturesIo`] reads before copying into hyper's buffer: zeroed once per thread.
    static SCRATCH_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads once from `io` into `dst` (at most [`SCRATCH`] bytes, through the per-thread
/// buffer): the bytes read, 0 at the end of the stream.
pub(crate) fn read_into<T: AsyncRead + Unpin>(
    io: &mut T,
    cx: &mut Context<'_>,
    dst: &mut bytes::BytesMut,
) -> Poll<io::Result<usize>> {
    let mut read = |scratch: &mut Vec<u8>| {
        if scratch.len() < SCRATCH {
            scratch.resize(SCRATCH, 0);
        }
        let n = std::task::ready!(Pin::new(&mut *io).poll_read(cx, &mut scratch[..]))?;
        dst.extend_from_slice(&scratch[..n]);
        Poll::Ready(Ok(n))
    };
    SCRATCH_BUF.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => read(&mut scratch),
        Err(_) => read(&mut Vec::new()),
    })
}

/// hyper's I/O traits over a `futures-io` stream.
///
/// hyper hands out its read buffer uninitialized, and `futures-io` reads only into
/// initialized memory. Zeroing hyper's whole buffer (8 KiB and more) before every read, as
/// the usual adapter does, cost a tenth of the server's time on polling; this one reads
/// into a per-thread buffer zeroed once and copies only the bytes read.
#[derive(Debug)]
pub(crate) struct FuturesIo<T>(T);

impl<T> FuturesIo<T> {
    pub(crate) fn new(io: T) -> FuturesIo<T> {
        FuturesIo(io)
    }

    #[cfg(test)]
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for FuturesIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(SCRATCH);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut read = |scratch: &mut Vec<u8>| {
            if scratch.len() < want {
                scratch.resize(SCRATCH, 0);
            }
            let n = std::task::ready!(Pin::new(&mut self.0).poll_read(cx, &mut scratch[..want]))?;
            buf.put_slice(&scratch[..n]);
            Poll::Ready(Ok(()))
        };
        SCRATCH_BUF.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => read(&mut scratch),
            // Not reached (a stream's read does not read another stream); stay correct anyway.
            Err(_) => read(&mut Vec::new()),
        })
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for FuturesIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

/// `futures-io` over a hyper I/O object (such as [`hyper::upgrade::Upgraded`]).
pub(crate) struct HyperIo<T>(pub(crate) T);

impl<T: hyper::rt::Read + Unpin> AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, rb.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: hyper::rt::Write + Unpin> AsyncWrite for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::io::{AsyncReadExt, AsyncWriteExt, Cursor};

    #[test]
    fn both_adapters_round_trip_bytes() {
        // futures-io -> hyper (FuturesIo) -> futures-io (HyperIo): what goes in comes out.
        let inner = Cursor::new(b"hello engine.io".to_vec());
        let mut io = HyperIo(FuturesIo::new(inner));
        let mut out = Vec::new();
        futures_executor::block_on(io.read_to_end(&mut out)).unwrap();
        assert_eq!(out, b"hello engine.io");

        let mut io = HyperIo(FuturesIo::new(Cursor::new(Vec::new())));
        futures_executor::block_on(async {
            io.write_all(b"abc").await.unwrap();
            io.flush().await.unwrap();
        });
        assert_eq!(io.0.into_inner().into_inner(), b"abc");
    }
}
