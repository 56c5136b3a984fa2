//! The client: drives a [`ClientSession`] over hyper's client connections and async-tungstenite.

use std::collections::HashMap;

use async_tungstenite::tungstenite::Message as WsMessage;
use async_tungstenite::WebSocketStream;
use engineio_session::proto::{Handshake, Message};
use engineio_session::{
    ClientConfig, ClientEvent, ClientInput, ClientSession, ClientTransmit, CloseReason, ReqId,
    SendError,
};
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use http::Request;
use http_body_util::Full;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::send::{Reply, Waiting};
use crate::step::{next_step, Step};
use crate::ws::{self, Incoming};
use crate::Runtime;

mod connect;
mod pool;

use self::pool::Http;

/// The client's WebSocket writer; the stream type is erased so that commands do not depend
/// on the runtime.
type WsSink = SplitSink<WebSocketStream<connect::BoxStream>, WsMessage>;

/// What happens on a client connection, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientSocketEvent {
    /// A message from the server.
    Message(Message),
    /// The connection now runs over WebSocket.
    Upgraded,
    /// The connection is closed (the last event). `local` is true when this side closed it.
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

enum Cmd {
    Input(ClientInput),
    WsReady(ReqId, Box<WsSink>),
    Send(Message, Reply),
    Close,
}

/// An Engine.IO client connection, driven on runtime `R`. The runtime crates name it for
/// their runtime (`engineio_tokio::Client`, `engineio_smol::Client`), with examples there.
pub struct Client<R> {
    rt: std::marker::PhantomData<fn() -> R>,
    cmds: mpsc::Sender<Cmd>,
    events: mpsc::Receiver<ClientSocketEvent>,
    handshake: Handshake,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
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
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ctl_tx, ctl_rx) = mpsc::channel(64);
        let (ev_tx, mut ev_rx) = mpsc::channel(256);
        let (open_tx, open_rx) = oneshot::channel();
        let clock = Clock::new(rt.clone());
        let http = Http::new(rt.clone(), tls.clone());
        let driver = Driver {
            session: ClientSession::new(clock.now(), config),
            clock,
            http,
            cmds: cmd_tx,
            rx: cmd_rx,
            ctl: Some(ctl_rx),
            events: ev_tx,
            backlog: Default::default(),
            open: Some(open_tx),
            sinks: HashMap::new(),
            waiting: Waiting::default(),
            tls,
        };
        rt.spawn(driver.run());
        match open_rx.await {
            Ok(handshake) => Ok(Client {
                rt: std::marker::PhantomData,
                cmds: ctl_tx,
                events: ev_rx,
                handshake,
            }),
            Err(_) => {
                let reason = match ev_rx.recv().await {
                    Some(ClientSocketEvent::Closed { reason, .. }) => reason,
                    _ => CloseReason::TransportError,
                };
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

    /// Sends a message, waiting while the send queue is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.sender().send(message).await
    }

    /// A cloneable sending handle, to send while another task receives.
    pub fn sender(&self) -> ClientSender {
        ClientSender {
            cmds: self.cmds.clone(),
        }
    }

    /// The next event; `None` after [`ClientSocketEvent::Closed`].
    pub async fn recv(&mut self) -> Option<ClientSocketEvent> {
        self.events.recv().await
    }

    /// Closes the connection after what is queued (`forced close`).
    pub async fn close(&self) {
        let _ = self.cmds.send(Cmd::Close).await;
    }
}

/// A cloneable handle for sending on a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientSender {
    cmds: mpsc::Sender<Cmd>,
}

impl ClientSender {
    /// Sends a message, waiting while the send queue is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        crate::send::send(&self.cmds, message.into(), Cmd::Send).await
    }

    /// Closes the connection after what is queued.
    pub async fn close(&self) {
        let _ = self.cmds.send(Cmd::Close).await;
    }
}

struct Driver<R> {
    tls: connect::Tls,
    session: ClientSession,
    clock: Clock<R>,
    http: Http<R>,
    /// For the tasks that feed network inputs back.
    cmds: mpsc::Sender<Cmd>,
    /// Network inputs.
    rx: mpsc::Receiver<Cmd>,
    /// The application's commands, read even while it lags on events; `None` once every
    /// sender is gone (a closed channel is ready forever: polling it again would spin).
    ctl: Option<mpsc::Receiver<Cmd>>,
    events: mpsc::Sender<ClientSocketEvent>,
    /// Events the application has not taken; network inputs wait while any do.
    backlog: std::collections::VecDeque<ClientSocketEvent>,
    open: Option<oneshot::Sender<Handshake>>,
    sinks: HashMap<ReqId, Box<WsSink>>,
    waiting: Waiting,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        loop {
            self.perform().await;
            if self.session.is_closed() && self.backlog.is_empty() {
                break;
            }
            let step = self.next_step().await;
            match step {
                Step::Permit(Some(permit)) => {
                    if let Some(ev) = self.backlog.pop_front() {
                        permit.send(ev);
                    }
                }
                Step::Permit(None) => {
                    // Nobody listens any more.
                    self.backlog.clear();
                    let now = self.clock.now();
                    self.session.close(now);
                }
                Step::Ctl(Some(cmd)) | Step::Net(Some(cmd)) => self.feed(cmd),
                Step::Ctl(None) | Step::Net(None) => {
                    // The application is gone (it holds no sender any more).
                    self.ctl = None;
                    let now = self.clock.now();
                    self.session.close(now);
                }
                Step::Timeout => {
                    let now = self.clock.now();
                    self.session.handle_timeout(now);
                }
                // The client's WebSockets are read by their own tasks.
                Step::Socket(()) => {}
            }
        }
        for (_, mut sink) in self.sinks.drain() {
            let _ = sink.close().await;
        }
        self.waiting.close();
    }

    async fn next_step(&mut self) -> Step<ClientSocketEvent, Cmd> {
        let clock = self.clock.clone();
        let sleep = clock.sleep_until(self.session.poll_timeout());
        let lagging = !self.backlog.is_empty();
        let no_sockets = |_: &mut std::task::Context<'_>| std::task::Poll::Pending;
        let (ctl, rx) = (self.ctl.as_mut(), &mut self.rx);
        next_step(
            lagging.then_some(&self.events),
            lagging,
            ctl,
            rx,
            no_sockets,
            no_sockets,
            sleep,
        )
        .await
    }

    fn feed(&mut self, cmd: Cmd) {
        let now = self.clock.now();
        match cmd {
            Cmd::Input(input) => {
                if let ClientInput::WsClosed { ws } = &input {
                    self.sinks.remove(ws);
                }
                self.session.handle_input(now, input);
            }
            Cmd::WsReady(ws, sink) => {
                self.sinks.insert(ws, sink);
            }
            Cmd::Send(m, reply) => {
                self.waiting.offer(m, reply, |m| self.session.send(m));
            }
            Cmd::Close => self.session.close(now),
        }
    }

    async fn perform(&mut self) {
        loop {
            let mut progressed = false;
            let mut dirty: Vec<ReqId> = Vec::new();
            while let Some(t) = self.session.poll_transmit() {
                progressed = true;
                match t {
                    ClientTransmit::HttpRequest {
                        req,
                        method,
                        uri,
                        headers,
                        body,
                    } => {
                        let mut r = Request::new(Full::new(body));
                        *r.method_mut() = method;
                        *r.uri_mut() = uri;
                        *r.headers_mut() = headers;
                        let http = self.http.clone();
                        let tx = self.cmds.clone();
                        let limit = self.session.config().max_response_bytes;
                        self.clock.runtime().spawn(async move {
                            let input = match http.request(r, limit).await {
                                Ok(resp) => {
                                    let (parts, body) = resp.into_parts();
                                    ClientInput::HttpResponse {
                                        req,
                                        status: parts.status.as_u16(),
                                        headers: parts.headers,
                                        body,
                                    }
                                }
                                Err(e) => {
                                    tracing::debug!(error = %e, "request failed");
                                    ClientInput::HttpFailed { req }
                                }
                            };
                            let _ = tx.send(Cmd::Input(input)).await;
                        });
                    }
                    ClientTransmit::WsConnect { ws, uri, headers } => {
                        let tx = self.cmds.clone();
                        let limit = self.session.config().max_response_bytes;
                        let rt = self.clock.runtime().clone();
                        let tls = self.tls.clone();
                        let run = run_websocket(rt.clone(), tls, ws, uri, headers, limit, tx);
                        rt.spawn(run);
                    }
                    ClientTransmit::WsFrame { ws, frame } => {
                        if let Some(sink) = self.sinks.get_mut(&ws) {
                            if sink.feed(ws::to_message(frame)).await.is_err() {
                                self.sinks.remove(&ws);
                                let now = self.clock.now();
                                self.session.handle_input(now, ClientInput::WsClosed { ws });
                            } else if !dirty.contains(&ws) {
                                dirty.push(ws);
                            }
                        }
                    }
                    ClientTransmit::WsClose { ws } => {
                        if let Some(mut sink) = self.sinks.remove(&ws) {
                            let _ = sink.close().await;
                        }
                    }
                }
            }
            for ws in dirty {
                if let Some(sink) = self.sinks.get_mut(&ws) {
                    let _ = sink.flush().await;
                }
            }
            while let Some(e) = self.session.poll_event() {
                progressed = true;
                let out = match e {
                    ClientEvent::Open(hs) => {
                        if let Some(tx) = self.open.take() {
                            let _ = tx.send(hs);
                        }
                        None
                    }
                    ClientEvent::Message(m) => Some(ClientSocketEvent::Message(m)),
                    ClientEvent::Upgraded => Some(ClientSocketEvent::Upgraded),
                    ClientEvent::Closed { reason, local } => {
                        self.open = None;
                        Some(ClientSocketEvent::Closed { reason, local })
                    }
                    ClientEvent::Flushed { .. } => {
                        self.waiting.retry(|m| self.session.send(m));
                        None
                    }
                    _ => None,
                };
                if let Some(ev) = out {
                    self.backlog.push_back(ev);
                }
            }
            if !progressed {
                break;
            }
        }
    }
}

async fn run_websocket<R: Runtime>(
    rt: R,
    tls: connect::Tls,
    ws: ReqId,
    uri: http::Uri,
    headers: http::HeaderMap,
    limit: usize,
    tx: mpsc::Sender<Cmd>,
) {
    let mut request = Request::new(());
    *request.uri_mut() = uri.clone();
    let Some(host) = uri.authority().map(|a| a.as_str().to_owned()) else {
        let _ = tx.send(Cmd::Input(ClientInput::WsClosed { ws })).await;
        return;
    };
    *request.headers_mut() = headers;
    let h = request.headers_mut();
    for (k, v) in [
        ("host", host),
        ("connection", "Upgrade".into()),
        ("upgrade", "websocket".into()),
        ("sec-websocket-version", "13".into()),
        (
            "sec-websocket-key",
            async_tungstenite::tungstenite::handshake::client::generate_key(),
        ),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    let config = ws::config(limit);
    let connected = match connect::connect(&rt, &tls, &uri).await {
        Ok(tcp) => {
            let tcp: connect::BoxStream = Box::new(tcp);
            async_tungstenite::client_async_with_config(request, tcp, Some(config))
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let (stream, response) = match connected {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "websocket connect failed");
            let _ = tx.send(Cmd::Input(ClientInput::WsClosed { ws })).await;
            return;
        }
    };
    let (sink, mut stream) = StreamExt::split(stream);
    let _ = tx.send(Cmd::WsReady(ws, Box::new(sink))).await;
    let opened = ClientInput::WsOpened {
        ws,
        headers: response.headers().clone(),
    };
    if tx.send(Cmd::Input(opened)).await.is_err() {
        return;
    }
    while let Some(m) = stream.next().await {
        match m.map(ws::from_message) {
            Ok(Incoming::Frame(frame)) => {
                if tx
                    .send(Cmd::Input(ClientInput::WsFrame { ws, frame }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Incoming::Ignore) => {}
            Ok(Incoming::Closed) | Err(_) => break,
        }
    }
    let _ = tx.send(Cmd::Input(ClientInput::WsClosed { ws })).await;
}
