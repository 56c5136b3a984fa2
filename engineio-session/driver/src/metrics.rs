//! Counters a metrics layer can read.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use engineio_session::proto::Transport;
use engineio_session::CloseReason;

/// Live counters of a server. Read them with [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    sessions_open: AtomicU64,
    on_polling: AtomicU64,
    on_websocket: AtomicU64,
    sessions_total: AtomicU64,
    upgrades: AtomicU64,
    closes: [AtomicU64; 6],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    deflated: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Sessions open now.
    pub sessions_open: u64,
    /// Of which on polling.
    pub on_polling: u64,
    /// Of which on WebSocket.
    pub on_websocket: u64,
    /// Sessions opened since start.
    pub sessions_total: u64,
    /// Upgrades to WebSocket completed.
    pub upgrades: u64,
    /// Closes by reason: transport close, transport error, ping timeout, parse error, forced
    /// close, server shutting down.
    pub closes: [u64; 6],
    /// Bytes received in polling bodies and WebSocket messages.
    pub bytes_in: u64,
    /// Bytes sent in polling bodies and WebSocket messages.
    pub bytes_out: u64,
    /// Application messages received.
    pub messages_in: u64,
    /// Application messages sent.
    pub messages_out: u64,
    /// WebSockets accepted with permessage-deflate agreed, since start.
    pub websockets_deflated: u64,
}

fn reason_index(r: CloseReason) -> usize {
    match r {
        CloseReason::TransportClose => 0,
        CloseReason::TransportError => 1,
        CloseReason::PingTimeout => 2,
        CloseReason::ParseError => 3,
        CloseReason::ForcedClose => 4,
        CloseReason::ServerShuttingDown => 5,
    }
}

impl Metrics {
    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |a: &AtomicU64| a.load(Relaxed);
        MetricsSnapshot {
            sessions_open: g(&self.sessions_open),
            on_polling: g(&self.on_polling),
            on_websocket: g(&self.on_websocket),
            sessions_total: g(&self.sessions_total),
            upgrades: g(&self.upgrades),
            closes: std::array::from_fn(|i| g(&self.closes[i])),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            messages_in: g(&self.messages_in),
            messages_out: g(&self.messages_out),
            websockets_deflated: g(&self.deflated),
        }
    }

    fn gauge(&self, t: Transport) -> &AtomicU64 {
        match t {
            Transport::Polling => &self.on_polling,
            Transport::Websocket => &self.on_websocket,
        }
    }

    pub(crate) fn opened(&self, t: Transport) {
        self.sessions_open.fetch_add(1, Relaxed);
        self.sessions_total.fetch_add(1, Relaxed);
        self.gauge(t).fetch_add(1, Relaxed);
    }

    pub(crate) fn upgraded(&self) {
        self.upgrades.fetch_add(1, Relaxed);
        self.on_polling.fetch_sub(1, Relaxed);
        self.on_websocket.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self, t: Transport, reason: CloseReason) {
        self.sessions_open.fetch_sub(1, Relaxed);
        self.gauge(t).fetch_sub(1, Relaxed);
        self.closes[reason_index(reason)].fetch_add(1, Relaxed);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn deflated(&self) {
        self.deflated.fetch_add(1, Relaxed);
    }

    pub(crate) fn message_in(&self) {
        self.messages_in.fetch_add(1, Relaxed);
    }

    pub(crate) fn messages_out(&self, n: usize) {
        if n > 0 {
            self.messages_out.fetch_add(n as u64, Relaxed);
        }
    }
}
