//! The application's side of a session.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use engineio_session::proto::{Message, ProtocolVersion, Transport};
use engineio_session::{CloseReason, SendError, Sid};
use http::{HeaderMap, Method, Uri};

use super::core::Core;

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

/// What happens on a session, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A message from the client.
    Message(Message),
    /// The session now runs over WebSocket.
    Upgraded,
    /// The session is closed (the last event).
    Closed(CloseReason),
}

pub(crate) fn transport_code(t: Transport) -> u8 {
    match t {
        Transport::Polling => 0,
        Transport::Websocket => 1,
    }
}

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
    pub(crate) core: Arc<Core>,
    pub(crate) transport: Arc<AtomicU8>,
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

    /// The request that opened the session.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The next event; `None` after [`SocketEvent::Closed`].
    pub async fn recv(&mut self) -> Option<SocketEvent> {
        std::future::poll_fn(|cx| self.sender.core.poll_recv(cx)).await
    }

    /// Sends a message, waiting while the session's send buffer is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.sender.send(message).await
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

    /// Sends a message, waiting while the session's send buffer is full; an error if the
    /// session is closed or the message cannot be encoded on the transport. The message goes
    /// to the session's machine directly: with room in the buffer this returns at once.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.core.send(message.into()).await
    }

    /// Closes the session (`forced close`) after what is queued.
    pub async fn close(&self) {
        self.core.request(super::core::CLOSE);
    }
}
