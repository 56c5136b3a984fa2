//! The simulated network: one in-order link per HTTP request and per WebSocket, each with its
//! own latency plus jitter per delivery, and one queue of everything that will happen, ordered
//! by time and then by the order it was scheduled in.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::Frame;
use http::{Request, Response};

use crate::{Instant, ReqId};

/// Index of a link in [`Net::links`].
pub(crate) type LinkId = usize;

/// What a link carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// The handshake GET of a polling session.
    Handshake,
    /// The handshake of a session opened directly on WebSocket.
    WsHandshake,
    /// A long-polling GET.
    Get,
    /// A POST.
    Post,
    /// A WebSocket opened to upgrade a polling session.
    WsUpgrade,
    /// A request outside the client's session (a preflight, a stale or unknown sid, the second
    /// of two overlapping POSTs): the host checks its answer, the client ignores it.
    Stray,
}

impl LinkKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LinkKind::Handshake => "handshake",
            LinkKind::WsHandshake => "ws-handshake",
            LinkKind::Get => "GET",
            LinkKind::Post => "POST",
            LinkKind::WsUpgrade => "ws-upgrade",
            LinkKind::Stray => "stray",
        }
    }
}

/// One connection between a client and the server.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) client: usize,
    pub(crate) kind: LinkKind,
    pub(crate) latency: Duration,
    /// When the last delivery towards the server is due (deliveries never overtake).
    pub(crate) last_up: Instant,
    /// When the last delivery towards the client is due.
    pub(crate) last_down: Instant,
    /// Nothing more reaches the server on this link.
    pub(crate) dead_up: bool,
    /// Nothing more reaches the client on this link.
    pub(crate) dead_down: bool,
    /// The id the host gave the request when it arrived.
    pub(crate) req: Option<ReqId>,
    /// How long the host takes to read the body of this POST (a slow upload).
    pub(crate) body_delay: Duration,
}

/// Something that happens at a time: a delivery on a link, or a scripted action.
#[derive(Debug)]
pub(crate) enum Ev {
    // ---- towards the server ----
    /// An HTTP request (head and body) arrives.
    Request {
        link: LinkId,
        req: Box<Request<Bytes>>,
    },
    /// The host has read the body of a POST it was asked to read.
    Body { link: LinkId },
    /// The client went away before its request was answered.
    Abort { link: LinkId },
    /// A WebSocket frame from the client.
    FrameUp { link: LinkId, frame: Frame },
    /// The client closed its WebSocket (or it broke).
    CloseUp { link: LinkId },
    /// The server's application acts on the session of a client.
    App { client: usize, action: AppAction },
    /// The host wakes a session's timer early (nothing may happen).
    Wakeup { client: usize },
    /// The server's host freezes until `until`, then wakes to a leapt clock.
    Stall { until: Instant, urgent: bool },

    // ---- towards a client ----
    /// An HTTP response arrives.
    Response {
        link: LinkId,
        resp: Box<Response<Bytes>>,
    },
    /// `101 Switching Protocols` arrives, with the headers the session gave it.
    WsOpen {
        link: LinkId,
        headers: Box<http::HeaderMap>,
    },
    /// A WebSocket frame from the server.
    FrameDown { link: LinkId, frame: Frame },
    /// The server closed the WebSocket.
    CloseDown { link: LinkId },
    /// A client acts (its script, its timers, its faults).
    Client { client: usize, action: ClientAction },
    /// Our client machine's host learns that the connection of `link` is gone (a reset, a
    /// timeout): a request it still waits for fails, a WebSocket is closed.
    Lost { link: LinkId },

    // ---- the simulator's own ----
    /// The server shuts down: refuses handshakes, closes every session.
    Shutdown,
    /// A delivery that reached a frozen server's host, handled when it wakes.
    Deferred(Box<Ev>),
    /// The partition of `client` that started at `since` has lasted a full heartbeat bound.
    PartitionCheck { client: usize, since: Instant },
}

impl Ev {
    /// Whether the server's host handles this (a stalled host handles it only on waking).
    pub(crate) fn to_server(&self) -> bool {
        matches!(
            self,
            Ev::Request { .. }
                | Ev::Body { .. }
                | Ev::Abort { .. }
                | Ev::FrameUp { .. }
                | Ev::CloseUp { .. }
                | Ev::App { .. }
                | Ev::Wakeup { .. }
                | Ev::Shutdown
        )
    }
}

/// What the server's application does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AppAction {
    /// Send a message.
    Send,
    /// Close the session (`forced close`).
    Close,
}

/// What a client does when its time comes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ClientAction {
    /// Open the session (the handshake).
    Start,
    /// The handshake on this link took too long: give up.
    ConnectTimeout(LinkId),
    /// Try the handshake again (after a refusal by the application's `allow_request`).
    Retry,
    /// Send a message (the client's application).
    Send,
    /// Probe a WebSocket to upgrade to.
    Upgrade,
    /// Close the session (the client's application).
    Close,
    /// v4: the server's ping is late; v3: time to ping (generation-checked).
    Heartbeat(u64),
    /// v3: the pong is late (generation-checked).
    PongTimeout(u64),
    /// Inject the planned fault with this index.
    Fault(usize),
    /// A polling stall is over.
    StallEnd,
    /// The delayed `5` may go now.
    Send5,
    /// Our client machine's timer (generation-checked).
    MachineTimer(u64),
    /// Our client machine's host wakes it before its deadline (nothing may happen).
    MachineWakeup,
}

/// Queue classes at equal times: deferred inputs that a waking host sees before its timers,
/// then the sessions' timers, then deferred inputs that it sees after them, then everything else.
pub(crate) const URGENT: u8 = 0;
pub(crate) const AFTER_TIMERS: u8 = 1;
pub(crate) const NORMAL: u8 = 2;

/// Everything scheduled, by (time, class, order scheduled).
#[derive(Default)]
pub(crate) struct Queue {
    items: BTreeMap<(Instant, u8, u64), Ev>,
    seq: u64,
}

impl Queue {
    pub(crate) fn push(&mut self, at: Instant, class: u8, ev: Ev) {
        self.seq += 1;
        self.items.insert((at, class, self.seq), ev);
    }

    pub(crate) fn peek(&self) -> Option<(Instant, u8)> {
        self.items.keys().next().map(|&(t, c, _)| (t, c))
    }

    pub(crate) fn pop(&mut self) -> Option<(Instant, Ev)> {
        self.items.pop_first().map(|((t, _, _), ev)| (t, ev))
    }
}
