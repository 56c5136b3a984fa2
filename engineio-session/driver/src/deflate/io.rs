//! [`DeflateIo`]: permessage-deflate under tungstenite, as a layer on the WebSocket's byte
//! stream. Bytes read from the network go through an [`Inflater`] before tungstenite reads
//! them (a compressed message comes out as one plain frame); the frames tungstenite writes go
//! through a [`Deflater`] before the network. Without the extension the layer is a plain
//! pass-through that holds nothing.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use engineio_proto::ws_deflate::{close_frame, DeflateError, Deflater, Inflater, Role};
use engineio_session::DeflateConfig;
use futures_io::{AsyncRead, AsyncWrite};

use super::negotiate::{self, Agreed};

/// Bytes waiting for the network before a write waits.
const HIGH_WATER: usize = 64 * 1024;
/// Largest HTTP response head a client scans for the server's answer to its offer.
const MAX_HEAD: usize = 16 * 1024;

/// A WebSocket's byte stream, with permessage-deflate when it was agreed.
pub(crate) struct DeflateIo<T> {
    inner: T,
    /// `None`: no extension, every call goes straight to `inner`.
    state: Option<Box<State>>,
}

struct State {
    role: Role,
    /// A client still reading the `101`: its offer, and how far the head was searched.
    awaiting_head: Option<(DeflateConfig, usize)>,
    /// Set once agreed (for a client: once the `101` was read and accepted it).
    codec: Option<(Inflater, Deflater)>,
    /// Read from the network, not yet through the inflater (a partial frame).
    raw_in: BytesMut,
    /// Ready for tungstenite to read.
    ready_in: BytesMut,
    /// Written by tungstenite, not yet through the deflater (a partial frame).
    raw_out: BytesMut,
    /// Ready for the network.
    ready_out: BytesMut,
    /// Why reading failed (after what was ready has been read).
    failed: Option<(io::ErrorKind, String)>,
    eof: bool,
    max_message: usize,
}

impl<T> DeflateIo<T> {
    /// A stream without the extension.
    pub(crate) fn plain(inner: T) -> DeflateIo<T> {
        DeflateIo { inner, state: None }
    }

    /// A server's stream after it agreed to `agreed` with its `config`.
    pub(crate) fn server(
        inner: T,
        config: &DeflateConfig,
        agreed: Agreed,
        max_message: usize,
    ) -> DeflateIo<T> {
        let mut state = State::new(Role::Server, max_message);
        state.codec = Some(codec(Role::Server, config, agreed, max_message));
        DeflateIo {
            inner,
            state: Some(Box::new(state)),
        }
    }

    /// A client's stream, before its handshake: the request goes out as written, and the
    /// server's `101` is read here too, to learn what it agreed to.
    pub(crate) fn client(inner: T, offer: Option<DeflateConfig>, max_message: usize) -> Self {
        let Some(config) = offer else {
            return DeflateIo::plain(inner);
        };
        let mut state = State::new(Role::Client, max_message);
        state.awaiting_head = Some((config, 0));
        DeflateIo {
            inner,
            state: Some(Box::new(state)),
        }
    }

    /// Whether the extension is on (for a client, once the `101` has been read).
    pub(crate) fn is_deflating(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.codec.is_some())
    }

    /// The `compress` flag of the next data message written (only counted while deflating).
    pub(crate) fn next_message(&mut self, compress: bool) {
        if let Some((_, deflater)) = self.state.as_mut().and_then(|s| s.codec.as_mut()) {
            deflater.push_flag(compress);
        }
    }

    /// Whether enough waits for the network that a write must wait.
    fn waiting(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.ready_out.len() >= HIGH_WATER)
    }
}

impl State {
    fn new(role: Role, max_message: usize) -> State {
        State {
            role,
            awaiting_head: None,
            codec: None,
            raw_in: BytesMut::new(),
            ready_in: BytesMut::new(),
            raw_out: BytesMut::new(),
            ready_out: BytesMut::new(),
            failed: None,
            eof: false,
            max_message,
        }
    }

    /// Moves what was read through the client's head scan and the inflater.
    fn process_in(&mut self) {
        if let Some((config, scanned)) = self.awaiting_head.as_mut() {
            let from = scanned.saturating_sub(3);
            let Some(end) = find(&self.raw_in[from..], b"\r\n\r\n").map(|i| from + i + 4) else {
                *scanned = self.raw_in.len();
                if self.raw_in.len() > MAX_HEAD {
                    self.fail(io::ErrorKind::InvalidData, "response head too large".into());
                }
                return;
            };
            let config = *config;
            self.awaiting_head = None;
            let head = self.raw_in.split_to(end);
            match agreed_in_head(&config, &head) {
                Ok(Some(agreed)) => {
                    self.codec = Some(codec(Role::Client, &config, agreed, self.max_message));
                }
                Ok(None) => {}
                Err(e) => self.fail(io::ErrorKind::InvalidData, e),
            }
            self.ready_in.extend_from_slice(&head);
        }
        match self.codec.as_mut() {
            Some((inflater, _)) => {
                if let Err(e) = inflater.feed(&mut self.raw_in, &mut self.ready_in) {
                    self.refuse(e);
                }
            }
            None => {
                let rest = self.raw_in.split();
                self.ready_in.unsplit(rest);
            }
        }
        if self.raw_in.is_empty() {
            self.raw_in = BytesMut::new();
        }
    }

    /// Fails the connection for what the inflater refused: a close frame with its code goes
    /// out, then reading fails.
    fn refuse(&mut self, e: DeflateError) {
        let mask = match self.role {
            Role::Client => {
                let mut key = [0u8; 4];
                let _ = getrandom::fill(&mut key);
                key
            }
            Role::Server => [0; 4],
        };
        close_frame(self.role, e.close_code(), mask, &mut self.ready_out);
        self.raw_in = BytesMut::new();
        self.fail(io::ErrorKind::InvalidData, e.to_string());
    }

    fn fail(&mut self, kind: io::ErrorKind, why: String) {
        if self.failed.is_none() {
            self.failed = Some((kind, why));
        }
    }

    fn error(&self) -> Option<io::Error> {
        let (kind, why) = self.failed.as_ref()?;
        Some(io::Error::new(*kind, why.clone()))
    }
}

/// The codec of one end for what was agreed: its inflater follows the peer's context
/// setting, its deflater its own (and, at the server, the agreed window).
fn codec(
    role: Role,
    config: &DeflateConfig,
    agreed: Agreed,
    max_message: usize,
) -> (Inflater, Deflater) {
    let (peer_resets, own_resets, bits) = match role {
        Role::Server => (
            agreed.client_no_context_takeover,
            agreed.server_no_context_takeover,
            agreed.server_window_bits,
        ),
        Role::Client => (
            agreed.server_no_context_takeover,
            agreed.client_no_context_takeover,
            15,
        ),
    };
    (
        Inflater::new(role, peer_resets, max_message),
        Deflater::new(role, own_resets, config.threshold, config.level).with_window_bits(bits),
    )
}

/// The server's answer to our offer, from the raw `101` head.
fn agreed_in_head(config: &DeflateConfig, head: &[u8]) -> Result<Option<Agreed>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        // Not a response tungstenite will accept either: let it say so.
        _ => return Ok(None),
    }
    if response.code != Some(101) {
        return Ok(None);
    }
    let mut map = http::HeaderMap::new();
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if let Ok(v) = http::HeaderValue::from_bytes(h.value) {
                map.append(http::header::SEC_WEBSOCKET_EXTENSIONS, v);
            }
        }
    }
    negotiate::agreed(config, &map).map_err(|e| e.to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<T: AsyncWrite + Unpin> DeflateIo<T> {
    /// Writes what is ready for the network until it is all written or the network waits.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(state) = self.state.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while !state.ready_out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &state.ready_out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            state.ready_out.advance(n);
        }
        state.ready_out = BytesMut::new();
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for DeflateIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(state) = this.state.as_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            if !state.ready_in.is_empty() {
                let n = buf.len().min(state.ready_in.len());
                buf[..n].copy_from_slice(&state.ready_in[..n]);
                state.ready_in.advance(n);
                if state.ready_in.is_empty() {
                    state.ready_in = BytesMut::new();
                }
                return Poll::Ready(Ok(n));
            }
            if let Some(e) = state.error() {
                // The close frame saying why, best effort.
                let _ = this.drain(cx);
                return Poll::Ready(Err(e));
            }
            if state.eof {
                return Poll::Ready(Ok(0));
            }
            let inner = &mut this.inner;
            let raw_in = &mut state.raw_in;
            let n = ready!(crate::io::read_into(inner, cx, raw_in))?;
            if n == 0 {
                state.eof = true;
                continue;
            }
            state.process_in();
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeflateIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(state) = this.state.as_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        };
        if state.codec.is_none() && state.ready_out.is_empty() {
            // Not deflating (a client's request, or no agreement): straight through.
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        if state.ready_out.len() >= HIGH_WATER {
            let _ = this.drain(cx)?;
            if this.waiting() {
                return Poll::Pending;
            }
        }
        let Some(state) = this.state.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        match state.codec.as_mut() {
            Some((_, deflater)) => {
                state.raw_out.extend_from_slice(data);
                if let Err(e) = deflater.feed(&mut state.raw_out, &mut state.ready_out) {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
                if state.raw_out.is_empty() {
                    state.raw_out = BytesMut::new();
                }
            }
            None => state.ready_out.extend_from_slice(data),
        }
        // Start writing; what the network does not take now goes at the flush.
        let _ = this.drain(cx)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}
