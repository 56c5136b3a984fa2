//! I/O adapters between hyper's `rt` traits and `futures-io`.
//!
//! Streams from the runtime are `futures-io`; hyper reads them through smol-hyper's
//! [`FuturesIo`]. The other way (hyper's upgraded connection, read by async-tungstenite) is
//! this module's [`HyperIo`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::ReadBuf;

pub(crate) use smol_hyper::rt::FuturesIo;

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
