//! The client: drives a [`ClientSession`] over hyper's client connections and async-tungstenite.

//!
//! As on the server, the connection's machine is shared by its driver task and the
//! application's handles ([`crate::core`]): a `send` hands the message to the machine and wakes
//! the task, which reads and writes the connection's WebSocket itself.

use std::sync::Arc;

use engineio_session::proto::{Handshake, Message, Packet, Transport};
use engineio_session::{
    ClientConfig, ClientSession, CloseReason, ReadyState, SendError, SendId, SendOptions,
};
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::core::{Core, CLOSE};
use crate::Runtime;

mod connect;
mod driver;
mod pool;

use self::driver::Driver;
use self::pool::Http;

/// The connection's machine, shared by its driver task and the application's handles.
type ClientCore = Core<ClientSession, ClientSocketEvent, driver::Net>;

/// What happens on a client connection, for the application, in the order the machine saw it.
/// The reference client's socket event each stands for is named with it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientSocketEvent {
    /// A message from the server (`message`).
    Message(Message),
    /// The WebSocket probe was answered; polling is being paused (`upgrading`).
    Upgrading,
    /// The connection now runs over this transport (`upgrade`; always WebSocket).
    Upgraded(Transport),
    /// The upgrade failed; polling goes on (`upgradeError`). The description says why.
    UpgradeFailed(&'static str),
    /// A heartbeat went through (`heartbeat`).
    Heartbeat,
    /// Every message sent up to and including this one has been written to the network
    /// (`flush` and `drain`); only with [`ClientConfig::flush_events`].
    Flushed(SendId),
    /// A packet arrived (`packet`); only with [`ClientConfig::packet_events`].
    PacketIn(Packet),
    /// A packet is being sent (`packetCreate`); only with [`ClientConfig::packet_events`].
    PacketOut(Packet),
    /// The connection is closed (`close`), the last event. `local` is true when this side
    /// closed it.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Whether the application closed it.
        local: bool,
    },
}

/// Why [`Client::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection closed before the handshake completed.
    #[error("connection closed before the handshake: {0}")]
    Closed(CloseReason),
}

/// An Engine.IO client connection, driven on runtime `R`. The runtime crates name it for
/// their runtime (`engineio_tokio::Client`, `engineio_smol::Client`), with examples there.
pub struct Client<R> {
    rt: std::marker::PhantomData<fn() -> R>,
    sender: ClientSender,
    handshake: Handshake,
}

impl<R> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("sid", &self.handshake.sid)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// Connects on `R::default()` and completes the handshake (the upgrade, if any,
    /// continues in the background).
    pub async fn connect(config: ClientConfig) -> Result<Client<R>, ConnectError>
    where
        R: Default,
    {
        Client::connect_on(R::default(), config).await
    }

    /// Connects on the runtime `rt` and completes the handshake.
    pub async fn connect_on(rt: R, config: ClientConfig) -> Result<Client<R>, ConnectError> {
        Client::start(rt, config, connect::Tls::default()).await
    }

    /// Connects on the runtime `rt` with the application's TLS configuration for `https:` and
    /// `wss:` (its own roots or client certificates; `connect` uses the webpki roots), and
    /// completes the handshake. The configuration's ALPN protocols, if any, must allow
    /// `http/1.1`.
    #[cfg(feature = "rustls")]
    pub async fn connect_with_tls(
        rt: R,
        config: ClientConfig,
        tls: std::sync::Arc<crate::rustls::ClientConfig>,
    ) -> Result<Client<R>, ConnectError> {
        let tls = connect::Tls { config: Some(tls) };
        Client::start(rt, config, tls).await
    }

    async fn start(
        rt: R,
        config: ClientConfig,
        tls: connect::Tls,
    ) -> Result<Client<R>, ConnectError> {
        let (open_tx, open_rx) = oneshot::channel();
        let flush_events = config.flush_events;
        let clock = Clock::new(rt.clone());
        let core = Arc::new(ClientCore::new(ClientSession::new(clock.now(), config)));
        let http = Http::new(rt.clone(), tls.clone());
        let driver = Driver {
            flush_events,
            core: core.clone(),
            clock,
            alarm: Default::default(),
            http,
            open: Some(open_tx),
            sockets: Default::default(),
            tls,
        };
        rt.spawn(driver.run());
        match open_rx.await {
            Ok(handshake) => Ok(Client {
                rt: std::marker::PhantomData,
                sender: ClientSender { core },
                handshake,
            }),
            Err(_) => {
                let reason = match std::future::poll_fn(|cx| core.poll_recv(cx)).await {
                    Some(ClientSocketEvent::Closed { reason, .. }) => reason,
                    _ => CloseReason::TransportError,
                };
                core.drop_app();
                Err(ConnectError::Closed(reason))
            }
        }
    }

    /// The handshake the server sent.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.handshake.sid
    }

    /// Sends a message, waiting while the send queue is full; see [`ClientSender::send`].
    pub async fn send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.sender.send(message).await
    }

    /// Sends a message with options; see [`ClientSender::send_with`].
    pub async fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        self.sender.send_with(message, options).await
    }

    /// Sends messages in order; see [`ClientSender::send_batch`].
    pub async fn send_batch<M: Into<Message>>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<Option<SendId>, SendError> {
        self.sender.send_batch(messages).await
    }

    /// Sends a message if the send queue has room; see [`ClientSender::try_send`].
    pub fn try_send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.sender.try_send(message)
    }

    /// Waits until the message `id` was written to the network; see [`ClientSender::flushed`].
    pub async fn flushed(&self, id: SendId) -> Result<(), SendError> {
        self.sender.flushed(id).await
    }

    /// A cloneable sending handle, to send while another task receives.
    pub fn sender(&self) -> ClientSender {
        self.sender.clone()
    }

    /// The next event; `None` after [`ClientSocketEvent::Closed`].
    pub async fn recv(&mut self) -> Option<ClientSocketEvent> {
        std::future::poll_fn(|cx| self.sender.core.poll_recv(cx)).await
    }

    /// Closes the connection after what is queued (`forced close`).
    pub async fn close(&self) {
        self.sender.close().await;
    }

    /// Where the connection is in its life; see [`ClientSender::ready_state`].
    pub fn ready_state(&self) -> ReadyState {
        self.sender.ready_state()
    }

    /// The transport in use now.
    pub fn transport(&self) -> Transport {
        self.sender.transport()
    }
}

/// Dropping the `Client` closes the connection (its senders then fail with
/// [`SendError::Closed`]).
impl<R> Drop for Client<R> {
    fn drop(&mut self) {
        self.sender.core.drop_app();
    }
}

/// A cloneable handle for sending on a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientSender {
    core: Arc<ClientCore>,
}

impl ClientSender {
    /// Sends a message, waiting while the send queue is full; an error if the connection is
    /// closed or the message cannot be encoded on the transport. The message goes to the
    /// connection's machine directly: with room in the queue this returns at once, with the
    /// message's [`SendId`] (to await its [`flushed`](Self::flushed)).
    pub async fn send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.core.send(message.into()).await
    }

    /// [`send`](Self::send) with options (the reference client's `send(data, { compress })`):
    /// `SendOptions::compress(false)` sends the message outside permessage-deflate.
    pub async fn send_with(
        &self,
        message: impl Into<Message>,
        options: SendOptions,
    ) -> Result<SendId, SendError> {
        self.core.send_with(message.into(), options).await
    }

    /// Sends `messages` in order, with one lock and one wake-up of the driver for as many as
    /// the send queue takes at a time, waiting while it is full: the last one's id (`None` for
    /// none). On an error, the messages before the refused one were sent.
    pub async fn send_batch<M: Into<Message>>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<Option<SendId>, SendError> {
        let messages: Vec<Message> = messages.into_iter().map(Into::into).collect();
        let (last, _, result) = self.core.send_all(messages.into_iter()).await;
        result.map(|()| last)
    }

    /// Sends a message if the send queue has room: [`SendError::Full`] if not.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<SendId, SendError> {
        self.core.try_send(message.into())
    }

    /// Waits until the message `id`, and every one sent before it, was written to the network;
    /// [`SendError::Closed`] if the connection closed first.
    pub async fn flushed(&self, id: SendId) -> Result<(), SendError> {
        self.core.flushed(id).await
    }

    /// Closes the connection after what is queued.
    pub async fn close(&self) {
        self.core.request(CLOSE);
    }

    /// Where the connection is in its life (`readyState`): `Closing` from the moment a close
    /// is asked for until what was queued is written.
    pub fn ready_state(&self) -> ReadyState {
        let state = self.core.lock().ready_state();
        if state == ReadyState::Open && self.core.close_requested() {
            ReadyState::Closing
        } else {
            state
        }
    }

    /// The transport in use now (`transport.name`).
    pub fn transport(&self) -> Transport {
        self.core.lock().transport()
    }
}
