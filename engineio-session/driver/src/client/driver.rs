//! The client's driver loop: one task feeds the connection's machine, performs what it asks,
//! reads and writes its WebSocket, and arms one timer. No protocol decision is made here.

use std::sync::Arc;

use engineio_session::proto::Handshake;
use engineio_session::{ClientEvent, ClientInput, ClientTransmit, ReqId, SendId};
use http::Request;
use http_body_util::Full;
use tokio::sync::oneshot;

use super::connect::{self, BoxStream};
use super::pool::Http;
use super::{ClientCore, ClientSocketEvent};
use crate::clock::{Alarm, Clock};
use crate::core::CLOSE;
use crate::deflate::DeflateIo;
use crate::step::{next_step, unless_stuck, Step, CLOSED_WRITE_GRACE};
use crate::websockets::{self, WebSockets};
use crate::ws::{self, Incoming};
use crate::Runtime;

/// What the connection's other tasks (HTTP requests, WebSocket connects) hand the driver,
/// through the inbox.
pub(crate) enum Net {
    Input(ClientInput),
    WsReady(ReqId, Box<websockets::Stream<BoxStream>>, http::HeaderMap),
}

pub(super) struct Driver<R: Runtime> {
    /// Whether the application asked for [`ClientSocketEvent::Flushed`].
    pub(super) flush_events: bool,
    pub(super) tls: connect::Tls,
    pub(super) core: Arc<ClientCore>,
    pub(super) clock: Clock<R>,
    /// The machine's deadline.
    pub(super) alarm: Alarm<R>,
    pub(super) http: Http<R>,
    /// Answers `connect` with the handshake.
    pub(super) open: Option<oneshot::Sender<Handshake>>,
    /// The connection's WebSockets (the one in use, and one probing).
    pub(super) sockets: WebSockets<BoxStream>,
}

impl<R: Runtime> Driver<R> {
    pub(super) async fn run(mut self) {
        let mut app_gone = false;
        loop {
            self.perform().await;
            if self.core.take_requests() & CLOSE != 0 {
                let now = self.clock.now();
                self.core.lock().close(now);
                continue;
            }
            if !app_gone && self.core.app_dropped() {
                // The application dropped its `Client`: nobody listens.
                app_gone = true;
                let now = self.clock.now();
                self.core.lock().close(now);
                continue;
            }
            if self.core.lock().is_closed() {
                break;
            }
            // While the application lags, the network is not read (its `recv` wakes the task
            // when it catches up).
            let lagging = self.core.lagging();
            if let Some(net) = (!lagging).then(|| self.core.next_input()).flatten() {
                self.feed(net);
                continue;
            }
            let step = self.next_step(lagging).await;
            let now = self.clock.now();
            match step {
                Step::Socket(ws, read) => {
                    self.ws_read(now, ws, read);
                    // What else that socket holds, before writing the answers.
                    for _ in 0..websockets::BURST {
                        if self.core.lagging() {
                            break;
                        }
                        let Some(read) = self.sockets.try_read(ws) else {
                            break;
                        };
                        self.ws_read(now, ws, read);
                    }
                }
                // A send reached the machine (`perform` writes it), an input came, or a
                // request: the loop takes it from here.
                Step::Woken => {}
                Step::Timeout => self.core.lock().handle_timeout(now),
            }
        }
        self.core.close_inbox();
        let close = std::mem::take(&mut self.sockets).close_all();
        let rt = self.clock.runtime();
        // Boxed: the timer would grow every task's future for its last moment.
        Box::pin(crate::runtime::timeout_at(
            rt,
            rt.now() + CLOSED_WRITE_GRACE,
            close,
        ))
        .await;
        self.core.report_closed();
        self.core.end();
    }

    async fn next_step(&mut self, lagging: bool) -> Step {
        let deadline = self.core.lock().poll_timeout();
        let (alarm, clock) = (&mut self.alarm, &self.clock);
        let sleep = std::future::poll_fn(|cx| alarm.poll(clock, deadline, cx));
        let sockets = (!lagging).then_some(&mut self.sockets);
        next_step(&self.core.wake, sockets, sleep).await
    }

    /// Feeds what an HTTP request or a WebSocket handshake gave.
    fn feed(&mut self, net: Net) {
        let now = self.clock.now();
        let input = match net {
            Net::Input(input) => {
                if let ClientInput::WsClosed { ws } = &input {
                    self.sockets.remove(*ws);
                }
                input
            }
            Net::WsReady(ws, stream, headers) => {
                self.sockets.ready(ws, stream);
                ClientInput::WsOpened { ws, headers }
            }
        };
        self.core.lock().handle_input(now, input);
    }

    /// Feeds what the WebSocket `ws` delivered.
    fn ws_read(&mut self, now: engineio_session::Instant, ws: ReqId, read: websockets::Read) {
        let input = match read.map(|r| r.map(ws::from_message)) {
            Some(Ok(Incoming::Frame(frame))) => ClientInput::WsFrame { ws, frame },
            Some(Ok(Incoming::Ignore)) => return,
            Some(Ok(Incoming::Closed)) | Some(Err(_)) | None => {
                self.sockets.remove(ws);
                ClientInput::WsClosed { ws }
            }
        };
        self.core.lock().handle_input(now, input);
    }

    /// Drops the WebSockets (their connections close) after a write to them was given up;
    /// the machine is closed already. Returns them as broken.
    fn drop_sockets(&mut self) -> Vec<ReqId> {
        tracing::debug!("a server that does not read: the websockets are dropped");
        self.sockets.drop_all()
    }

    /// Drains the machine: performs every transmit, delivers every event.
    async fn perform(&mut self) {
        loop {
            // One lock per item: the guard must not live across an `.await`.
            // Not while a WebSocket still opening holds a backlog: the transmits wait in the
            // machine, within its send bound.
            while !self.sockets.backlogged() {
                let t = self.core.lock().poll_transmit();
                let Some(t) = t else { break };
                self.transmit(t).await;
            }
            let mut progressed = false;
            let (mut flushed, mut closed) = (None, None);
            loop {
                let e = self.core.lock().poll_event();
                let Some(e) = e else { break };
                progressed = true;
                self.event(e, &mut flushed, &mut closed);
            }
            // Coalesced writes: one flush per socket per round.
            let flush = self.sockets.flush();
            let flushed_all = unless_stuck!(&mut self.alarm, &self.clock, &self.core, flush);
            let broken = match flushed_all {
                Some(broken) => broken,
                None => self.drop_sockets(),
            };
            if let Some(last) = flushed {
                self.core.report_flushed(flushed);
                if self.flush_events {
                    self.core.push_event(ClientSocketEvent::Flushed(last));
                }
            }
            if let Some(ev) = closed {
                self.core.report_closed();
                self.core.push_event(ev);
            }
            for ws in broken {
                progressed = true;
                let now = self.clock.now();
                let closed = ClientInput::WsClosed { ws };
                self.core.lock().handle_input(now, closed);
            }
            if !progressed {
                break;
            }
        }
    }

    async fn transmit(&mut self, t: ClientTransmit) {
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
                let core = self.core.clone();
                let limit = self.core.lock().config().max_response_bytes;
                self.clock.runtime().spawn(async move {
                    let method = r.method().clone();
                    let input = match http.request(r, limit).await {
                        Ok(resp) => {
                            let (parts, body) = resp.into_parts();
                            if !parts.status.is_success() {
                                tracing::debug!(
                                    %method,
                                    status = parts.status.as_u16(),
                                    body = %String::from_utf8_lossy(&body[..body.len().min(200)]),
                                    "request answered with an error"
                                );
                            }
                            ClientInput::HttpResponse {
                                req,
                                status: parts.status.as_u16(),
                                headers: parts.headers,
                                body,
                            }
                        }
                        Err(e) => {
                            tracing::debug!(%method, error = %e, "request failed");
                            ClientInput::HttpFailed { req }
                        }
                    };
                    let _ = core.deliver(Net::Input(input)).await;
                });
            }
            ClientTransmit::WsConnect { ws, uri, headers } => {
                let (limit, deflate) = {
                    let machine = self.core.lock();
                    let config = machine.config();
                    (config.max_response_bytes, config.per_message_deflate)
                };
                let rt = self.clock.runtime().clone();
                self.sockets.opening(ws);
                let tls = self.tls.clone();
                let open = open_websocket(rt.clone(), tls, uri, headers, limit, deflate);
                let core = self.core.clone();
                rt.spawn(async move {
                    let net = match open.await {
                        Ok((stream, headers)) => Net::WsReady(ws, stream, headers),
                        Err(e) => {
                            tracing::debug!(error = %e, "websocket connect failed");
                            Net::Input(ClientInput::WsClosed { ws })
                        }
                    };
                    let _ = core.deliver(net).await;
                });
            }
            ClientTransmit::WsFrame {
                ws,
                frame,
                compress,
            } => {
                // A broken socket is found at the flush.
                let write = self.sockets.write(ws, ws::to_message(frame), compress);
                let written = unless_stuck!(&mut self.alarm, &self.clock, &self.core, write);
                if written.is_none() {
                    self.drop_sockets();
                }
            }
            ClientTransmit::WsClose { ws } => self.sockets.close(ws),
        }
    }

    fn event(
        &mut self,
        e: ClientEvent,
        flushed: &mut Option<SendId>,
        closed: &mut Option<ClientSocketEvent>,
    ) {
        let out = match e {
            ClientEvent::Open(hs) => {
                if let Some(tx) = self.open.take() {
                    let _ = tx.send(hs);
                }
                None
            }
            ClientEvent::Message(m) => Some(ClientSocketEvent::Message(m)),
            ClientEvent::Upgrading => Some(ClientSocketEvent::Upgrading),
            ClientEvent::Upgraded => {
                self.http.retire();
                Some(ClientSocketEvent::Upgraded(
                    engineio_session::proto::Transport::Websocket,
                ))
            }
            ClientEvent::UpgradeFailed(why) => Some(ClientSocketEvent::UpgradeFailed(why)),
            ClientEvent::Heartbeat => Some(ClientSocketEvent::Heartbeat),
            ClientEvent::PacketIn(p) => Some(ClientSocketEvent::PacketIn(p)),
            ClientEvent::PacketOut(p) => Some(ClientSocketEvent::PacketOut(p)),
            ClientEvent::Closed { reason, local } => {
                // The last event: delivered after the round's flush.
                self.open = None;
                *closed = Some(ClientSocketEvent::Closed { reason, local });
                None
            }
            ClientEvent::Flushed { last } => {
                *flushed = Some(last);
                None
            }
            _ => None,
        };
        if let Some(ev) = out {
            self.core.push_event(ev);
        }
    }
}

/// Opens the WebSocket `uri` with the machine's `headers`: the stream and the `101`'s headers.
async fn open_websocket<R: Runtime>(
    rt: R,
    tls: connect::Tls,
    uri: http::Uri,
    headers: http::HeaderMap,
    limit: usize,
    deflate: Option<engineio_session::DeflateConfig>,
) -> Result<(Box<websockets::Stream<BoxStream>>, http::HeaderMap), String> {
    let mut request = Request::new(());
    *request.uri_mut() = uri.clone();
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("no host in the URI")?;
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
    if let Some(config) = &deflate {
        h.insert(
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            crate::deflate::negotiate::offer(config),
        );
    }
    let tcp: BoxStream = Box::new(
        connect::connect(&rt, &tls, &uri)
            .await
            .map_err(|e| e.to_string())?,
    );
    // The layer reads the `101` too, to learn what the server agreed to.
    let tcp = DeflateIo::client(tcp, deflate, limit);
    let (stream, response) =
        async_tungstenite::client_async_with_config(request, tcp, Some(ws::config(limit)))
            .await
            .map_err(|e| e.to_string())?;
    Ok((Box::new(stream), response.into_parts().0.headers))
}
