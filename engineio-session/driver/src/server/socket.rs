//! The application's side of a session.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use engineio_session::proto::ErrorCode;
use engineio_session::proto::{Message, Packet, ProtocolVersion, Transport};
use engineio_session::{CloseReason, ReadyState, SendError, SendId, SendOptions, Sid};
use http::{HeaderMap, Method, Uri};

use super::task::SessionCore;
use crate::metrics::Metrics;

/// The request that opened a session (or asks for one, in `allow_request`).
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// Method.
    pub method: Method,
    /// Target.
    pub uri: Uri,
    /// Headers.
    pub headers: HeaderMap,
    /// The peer's address, when the server knows it (`serve` does; behind axum, when the
    /// [`RemoteAddr`] extension is set).
    pub remote_addr: Option<SocketAddr>,
}

impl RequestInfo {
    /// The parts of `req` a session keeps, copied: hyper parses the URI and header values as
    /// slices of its 8 KiB read buffer, so keeping them as they are would keep that buffer
    /// alive for the whole session.
    pub(crate) fn detached<B>(req: &http::Request<B>) -> RequestInfo {
        let mut headers = HeaderMap::with_capacity(req.headers().len());
        for (name, value) in req.headers() {
            let mut copy = http::HeaderValue::from_bytes(value.as_bytes())
                .unwrap_or_else(|_| http::HeaderValue::from_static(""));
            copy.set_sensitive(value.is_sensitive());
            headers.append(name.clone(), copy);
        }
        let uri = Uri::try_from(req.uri().to_string()).unwrap_or_else(|_| req.uri().clone());
        RequestInfo {
            method: req.method().clone(),
            uri,
            headers,
            remote_addr: req.extensions().get::<RemoteAddr>().map(|a| a.0),
        }
    }

    /// The first address of `X-Forwarded-For`, as a proxy in front reports the client.
    pub fn forwarded_for(&self) -> Option<&str> {
        self.headers
            .get("x-forwarded-for")?
            .to_str()
            .ok()?
            .split(',')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// A request extension carrying the peer's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// What happens on a session, for the application, in the order the session's machine saw
/// it. The reference server's socket event each stands for is named with it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A message from the client (`message`).
    Message(Message),
    /// The client probed a WebSocket and is switching to it (`upgrading`).
    Upgrading,
    /// The session now runs over this transport (`upgrade`; always WebSocket, the only
    /// transport one upgrades to).
    Upgraded(Transport),
    /// An upgrade was given up; polling goes on. The description says why: the probe timed
    /// out, sent a bad packet or closed, or the session closed (the reference closes the probe
    /// silently).
    UpgradeAborted(&'static str),
    /// Something went wrong and the session goes on (`error`): a request of this session was
    /// refused. (Errors that end the session come as [`Closed`](Self::Closed), described by
    /// [`Socket::close_description`].)
    Error(SocketError),
    /// A heartbeat went through (`heartbeat`: v4, the client's pong came; v3, its ping came and
    /// was answered).
    Heartbeat,
    /// Every message sent up to and including this one has been written to the network
    /// (`flush` and `drain`); only with [`Builder::flush_events`](super::Builder::flush_events).
    Flushed(SendId),
    /// A packet arrived (`packet`); only with [`ServerConfig::packet_events`].
    ///
    /// [`ServerConfig::packet_events`]: engineio_session::ServerConfig::packet_events
    PacketIn(Packet),
    /// A packet is being sent (`packetCreate`); only with [`ServerConfig::packet_events`].
    ///
    /// [`ServerConfig::packet_events`]: engineio_session::ServerConfig::packet_events
    PacketOut(Packet),
    /// The session is closed (`close`), the last event.
    Closed(CloseReason),
}

/// An error on a session that did not close it ([`SocketEvent::Error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// A request of the session was refused with an Engine.IO error code (a polling request
    /// after the upgrade, an upgrade while upgrades are off or while closing, another
    /// protocol version). The server's `connection_error` hook sees it too, with the request.
    #[error("request refused with code {} ({context})", *code as u8)]
    Refused {
        /// The code sent.
        code: ErrorCode,
        /// Why, in a word (`TRANSPORT_MISMATCH`, `UPGRADE_REFUSED`, `SESSION_CLOSING`,
        /// `PROTOCOL_MISMATCH`).
        context: &'static str,
    },
}

pub(crate) fn transport_code(t: Transport) -> u8 {
    match t {
        Transport::Polling => 0,
        Transport::Websocket => 1,
    }
}

/// [`transport_code`] of a session that upgraded to WebSocket.
pub(crate) const UPGRADED: u8 = 2;

/// One client's session, for the application: receive with [`recv`](Self::recv), send with
/// [`send`](Self::send) or a cloned [`SocketSender`]. Dropping the `Socket` closes the session.
#[derive(Debug)]
pub struct Socket {
    pub(crate) sender: SocketSender,
    pub(crate) request: Arc<RequestInfo>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.sender.core.drop_app();
    }
}

/// A cloneable handle for sending on a session.
#[derive(Clone, Debug)]
pub struct SocketSender {
    pub(crate) sid: Sid,
    pub(crate) version: ProtocolVersion,
    pub(crate) core: Arc<SessionCore>,
    pub(crate) transport: Arc<AtomicU8>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Socket {
    /// The session id.
    pub fn sid(&self) -> Sid {
        self.sender.sid
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.sender.version
    }

    /// The transport in use now.
    pub fn transport(&self) -> Transport {
        self.sender.transport()
    }

    /// Where the session is in its life (`readyState`).
    pub fn ready_state(&self) -> ReadyState {
        self.sender.ready_state()
    }

    /// Whether the session upgraded from polling to WebSocket (`upgraded`).
    pub fn is_upgraded(&self) -> bool {
        self.sender.is_upgraded()
    }

    /// What closed the session, in words, once it has: the reference's close `description`
    /// ("the client sent a close packet", "no pong within pingTimeout", ...), beside the
    /// reason in [`SocketEvent::Closed`].
    pub fn close_description(&self) -> Option<&'static str> {
        self.sender.core.lock().close_description()
    }

    /// Whether a WebSocket is being probed for an upgrade (`upgrading`).
    pub fn is_upgrading(&self) -> bool {
        self.sender.is_upgrading()
    }

    /// The request that opened the session.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The next event; `None` after [`SocketEvent::Closed`].
    pub async fn recv(&mut self) -> Option<SocketEvent> {
        std::future::poll_fn(|cx| self.sender.core.poll_recv(cx)).await
    }

    /// Sends a message, waiting while the session's send buffer is full; see
    /// [`SocketSender::send`].
    pub async fn send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.sender.send(message).await
    }

    /// Sends a message with options; see [`SocketSender::send_with`].
    pub async fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        self.sender.send_with(message, options).await
    }

    /// Sends messages in order; see [`SocketSender::send_batch`].
    pub async fn send_batch<M: Into<Message>>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<Option<SendId>, SendError> {
        self.sender.send_batch(messages).await
    }

    /// Sends a message if the session's send buffer has room; see [`SocketSender::try_send`].
    pub fn try_send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.sender.try_send(message)
    }

    /// Waits until the message `id` was written to the network; see [`SocketSender::flushed`].
    pub async fn flushed(&self, id: SendId) -> Result<(), SendError> {
        self.sender.flushed(id).await
    }

    /// Closes the session (`forced close`) after what is queued.
    pub async fn close(&self) {
        self.sender.close().await;
    }

    /// A cloneable sending handle.
    pub fn sender(&self) -> SocketSender {
        self.sender.clone()
    }
}

impl SocketSender {
    /// The session id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The transport in use now.
    pub fn transport(&self) -> Transport {
        match self.transport.load(Ordering::Relaxed) {
            0 => Transport::Polling,
            _ => Transport::Websocket,
        }
    }

    /// Where the session is in its life (`readyState`).
    pub fn ready_state(&self) -> ReadyState {
        let session = self.core.lock();
        if session.is_closed() {
            ReadyState::Closed
        } else if session.is_closing() || self.core.close_requested() {
            ReadyState::Closing
        } else {
            ReadyState::Open
        }
    }

    /// Whether the session upgraded from polling to WebSocket (`upgraded`).
    pub fn is_upgraded(&self) -> bool {
        self.transport.load(Ordering::Relaxed) == UPGRADED
    }

    /// Whether a WebSocket is being probed for an upgrade (`upgrading`).
    pub fn is_upgrading(&self) -> bool {
        self.core.lock().is_upgrading()
    }

    /// Sends a message, waiting while the session's send buffer is full; an error if the
    /// session is closed or the message cannot be encoded on the transport. The message goes
    /// to the session's machine directly: with room in the buffer this returns at once, with
    /// the message's [`SendId`] (to await its [`flushed`](Self::flushed)).
    pub async fn send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        let id = self.core.send(message.into()).await?;
        self.metrics.messages_out(1);
        Ok(id)
    }

    /// [`send`](Self::send) with options (the reference's `send(data, { compress })`):
    /// `SendOptions::compress(false)` keeps a polling response made only of such messages
    /// uncompressed.
    pub async fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        let id = self.core.send_with(message.into(), options).await?;
        self.metrics.messages_out(1);
        Ok(id)
    }

    /// Sends `messages` in order with one lock and one wake-up of the session for as many as
    /// its send buffer takes at a time, waiting while it is full: the last one's id (`None`
    /// for none). On an error, the messages before the refused one were sent.
    pub async fn send_batch<M: Into<Message>>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<Option<SendId>, SendError> {
        let messages: Vec<Message> = messages.into_iter().map(Into::into).collect();
        let (last, taken, result) = self.core.send_all(messages.into_iter()).await;
        self.metrics.messages_out(taken);
        result.map(|()| last)
    }

    /// Sends a message if the session's send buffer has room: [`SendError::Full`] if not
    /// (retry after a flush, or use [`send`](Self::send), which waits).
    pub fn try_send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        let id = self.core.try_send(message.into())?;
        self.metrics.messages_out(1);
        Ok(id)
    }

    /// Waits until the message `id`, and every one sent before it, was written to the network
    /// (the reference's send callback); [`SendError::Closed`] if the session closed first.
    ///
    /// ```no_run
    /// # async fn f(sender: engineio_driver::SocketSender) -> Result<(), engineio_driver::SendError> {
    /// let id = sender.send("hello").await?;
    /// sender.flushed(id).await?; // "hello" has left the server
    /// # Ok(()) }
    /// ```
    pub async fn flushed(&self, id: SendId) -> Result<(), SendError> {
        self.core.flushed(id).await
    }

    /// Closes the session (`forced close`) after what is queued.
    pub async fn close(&self) {
        self.core.request(crate::core::CLOSE);
    }
}
