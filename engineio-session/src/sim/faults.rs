//! Faults: what can go wrong, how often, and which close reasons each makes legitimate.

use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{ProtocolVersion, Transport};

use super::client::{ClientClose, WsStage};
use super::net::{ClientAction, Ev};
use super::{wire, Sim};
use crate::CloseReason;

/// How often each fault is injected: the probability that a client gets it during its life
/// (`clock_jump`: that the run has one). `0.0` turns a fault off.
///
/// ```
/// use engineio_session::sim::FaultRates;
/// let rates = FaultRates { partition: 0.5, ..FaultRates::NONE };
/// assert_eq!(rates.garbage, 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultRates {
    /// The client (or a proxy) drops its held-open GET: the server sees the request aborted.
    pub abort_get: f64,
    /// The WebSocket being probed for an upgrade dies: after opening, after `3probe`, or just
    /// after the client sent `5`.
    pub kill_ws_mid_probe: f64,
    /// The client sends `5` late (up to twice the upgrade timeout), polling or not meanwhile
    /// (our client machine's host writes its `5` late).
    pub delay_upgrade: f64,
    /// The client stops polling for a while (no GET), up to twice the heartbeat bound (our
    /// client machine's host holds its GETs).
    pub stall_polling: f64,
    /// The client sends a second GET while one is pending (an overlap). Wire clients only.
    pub duplicate_get: f64,
    /// The client sends an undecodable body or frame. Wire clients only.
    pub garbage: f64,
    /// All of a client's traffic is dropped for a while (connections in use die silently).
    pub partition: f64,
    /// The server's host freezes, then wakes with its clock leapt forward and everything that
    /// arrived meanwhile pending at once (timers first or inputs first).
    pub clock_jump: f64,
    /// The client sends a second POST while the body of its first is still being read (a slow
    /// upload): the second gets 400, the first `Session ID unknown`, and the session closes
    /// with `transport error`. Wire clients only.
    pub overlapping_post: f64,
    /// The client sends a POST body, or a WebSocket message, over maxPayload: 413 for the POST,
    /// and the session closes with `transport error` (its WebSocket closed). Wire clients only.
    pub oversized: f64,
}

impl FaultRates {
    /// No faults: every message must be delivered and only scripted closes happen.
    pub const NONE: FaultRates = FaultRates {
        abort_get: 0.0,
        kill_ws_mid_probe: 0.0,
        delay_upgrade: 0.0,
        stall_polling: 0.0,
        duplicate_get: 0.0,
        garbage: 0.0,
        partition: 0.0,
        clock_jump: 0.0,
        overlapping_post: 0.0,
        oversized: 0.0,
    };

    /// Every fault with probability `p`.
    pub const fn all(p: f64) -> FaultRates {
        FaultRates {
            abort_get: p,
            kill_ws_mid_probe: p,
            delay_upgrade: p,
            stall_polling: p,
            duplicate_get: p,
            garbage: p,
            partition: p,
            clock_jump: p,
            overlapping_post: p,
            oversized: p,
        }
    }
}

impl Default for FaultRates {
    /// Each fault with probability 0.1 per client (and per run for the clock jump).
    fn default() -> Self {
        FaultRates::all(0.1)
    }
}

/// The faults, by name (for reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FaultKind {
    AbortGet,
    KillWs,
    DelayUpgrade,
    StallPolling,
    DuplicateGet,
    Garbage,
    Partition,
    ClockJump,
    OverlappingPost,
    Oversized,
}

impl FaultKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::AbortGet => "abort_get",
            FaultKind::KillWs => "kill_ws_mid_probe",
            FaultKind::DelayUpgrade => "delay_upgrade",
            FaultKind::StallPolling => "stall_polling",
            FaultKind::DuplicateGet => "duplicate_get",
            FaultKind::Garbage => "garbage",
            FaultKind::Partition => "partition",
            FaultKind::ClockJump => "clock_jump",
            FaultKind::OverlappingPost => "overlapping_post",
            FaultKind::Oversized => "oversized",
        }
    }
}

/// A fault, or another input, a client will inject at a time of its life.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Planned {
    AbortGet,
    StallPolling {
        len: Duration,
    },
    DuplicateGet,
    Garbage,
    Partition {
        len: Duration,
    },
    /// A slow POST, then a second one while its body is read.
    OverlappingPost {
        body_delay: Duration,
    },
    /// A POST body or WebSocket message over maxPayload.
    Oversized,
    /// A message of exactly maxPayload bytes (an input, not a fault).
    AtLimit,
    /// A request with a sid never issued (an input).
    UnknownSid,
    /// A request with the sid of the session this client had before it reconnected (an input).
    StaleSid,
    /// A CORS preflight (an input).
    Preflight,
    /// A WebSocket request from an origin CORS does not allow (an input).
    CrossSite,
}

impl Planned {
    /// Whether this is one of the inputs of [`InputRates`](super::InputRates) rather than a
    /// fault: sent by [`Sim::client_input`] for both kinds of clients.
    pub(crate) fn is_input(self) -> bool {
        matches!(
            self,
            Planned::AtLimit
                | Planned::UnknownSid
                | Planned::StaleSid
                | Planned::Preflight
                | Planned::CrossSite
        )
    }
}

/// When the probed WebSocket dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KillPhase {
    /// Right after it opened and `2probe` went out.
    AfterOpen,
    /// After `3probe` came back, before `5`.
    AfterProbe,
    /// Right after `5` went out; `lose_5`: the `5` dies with it.
    After5 { lose_5: bool },
}

/// A set of close reasons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reasons(u8);

impl Reasons {
    pub(crate) const fn of(reasons: &[CloseReason]) -> Reasons {
        let mut bits = 0;
        let mut i = 0;
        while i < reasons.len() {
            bits |= bit(reasons[i]);
            i += 1;
        }
        Reasons(bits)
    }

    pub(crate) fn add(&mut self, other: Reasons) {
        self.0 |= other.0;
    }

    pub(crate) fn contains(self, r: CloseReason) -> bool {
        self.0 & bit(r) != 0
    }

    pub(crate) fn names(self) -> Vec<&'static str> {
        ALL.iter()
            .filter(|r| self.contains(**r))
            .map(|r| r.as_str())
            .collect()
    }
}

const ALL: [CloseReason; 6] = [
    CloseReason::TransportClose,
    CloseReason::TransportError,
    CloseReason::PingTimeout,
    CloseReason::ParseError,
    CloseReason::ForcedClose,
    CloseReason::ServerShuttingDown,
];

const fn bit(r: CloseReason) -> u8 {
    match r {
        CloseReason::TransportClose => 1,
        CloseReason::TransportError => 2,
        CloseReason::PingTimeout => 4,
        CloseReason::ParseError => 8,
        CloseReason::ForcedClose => 16,
        CloseReason::ServerShuttingDown => 32,
    }
}

use CloseReason::*;

/// The client closes on its own: `1` or its WebSocket closing reaches the server, or nothing
/// does and the heartbeat times out.
pub(crate) const CLIENT_CLOSE: Reasons = Reasons::of(&[TransportClose, PingTimeout]);
/// The application closes the session.
pub(crate) const APP_CLOSE: Reasons = Reasons::of(&[ForcedClose]);
/// The server shuts down.
pub(crate) const SHUTDOWN: Reasons = Reasons::of(&[ServerShuttingDown]);
/// A GET dropped under the server, or the client gone silent after dropping it.
pub(crate) const ABORT_GET: Reasons = Reasons::of(&[TransportError, PingTimeout]);
/// The probed WebSocket died after `5`: closed on WebSocket, or left on polling, silent.
pub(crate) const KILL_WS_AFTER_5: Reasons = Reasons::of(&[TransportClose, PingTimeout]);
/// Slow `5`, stalled polling, partitions, a frozen server: heartbeats time out, or the client's
/// own heartbeat does and it closes.
pub(crate) const SILENCE: Reasons = Reasons::of(&[PingTimeout, TransportClose]);
/// Overlapping GETs or POSTs, a v4 POST with a binary body, a body or message over maxPayload:
/// refused, a transport error.
pub(crate) const TRANSPORT_ERROR: Reasons = Reasons::of(&[TransportError]);
/// Undecodable input.
pub(crate) const GARBAGE: Reasons = Reasons::of(&[ParseError]);

// What our client machine may close with (`ClientEvent::Closed`), by what explains it.

/// Its application closed it.
pub(crate) const MACHINE_APP_CLOSE: Reasons = Reasons::of(&[ForcedClose]);
/// Its session closed first: the close packet or the WebSocket closing reached it, or a request
/// reached the closed session (400).
pub(crate) const MACHINE_SERVER_CLOSED: Reasons = Reasons::of(&[TransportClose, TransportError]);
/// Partitions, a frozen server, held GETs, a late `5`: its heartbeat times out, a request or the
/// WebSocket is lost, or it reaches a session that timed out.
pub(crate) const MACHINE_SILENCE: Reasons =
    Reasons::of(&[PingTimeout, TransportError, TransportClose]);
/// Its GET failed under it.
pub(crate) const MACHINE_ABORT_GET: Reasons = Reasons::of(&[TransportError]);
/// Its WebSocket died just after it sent `5`.
pub(crate) const MACHINE_KILL_WS_AFTER_5: Reasons = Reasons::of(&[TransportClose]);
/// A v3 POST over the server's maxPayload (v3 clients are not told it): 413.
pub(crate) const MACHINE_POST_TOO_LARGE: Reasons = Reasons::of(&[TransportError]);

// ---- injecting them into a wire client -----------------------------------------------------

impl Sim {
    /// All of `c`'s traffic is lost for `len`; a partition longer than the heartbeat bound is
    /// checked once it has lasted the bound.
    pub(super) fn partition(&mut self, c: usize, len: Duration) {
        let until = self.now + len;
        trace!(self, "c{c} fault: partition for {len:?}");
        self.injected(c, FaultKind::Partition, SILENCE);
        self.clients[c].machine_allowed.add(MACHINE_SILENCE);
        self.clients[c].partitions.push((self.now, until));
        let bound = self.partition_bound();
        if len > bound {
            let at = self.now + bound;
            let ev = Ev::PartitionCheck {
                client: c,
                since: self.now,
            };
            self.queue.push(at, super::net::NORMAL, ev);
        }
    }

    pub(super) fn injected(&mut self, c: usize, kind: FaultKind, reasons: Reasons) {
        self.clients[c].allowed.add(reasons);
        *self.stats.faults.entry(kind.name()).or_default() += 1;
    }

    pub(super) fn client_fault(&mut self, c: usize, i: usize) {
        let fault = self.clients[c].plan.faults[i].1;
        if fault.is_input() {
            return self.client_input(c, i);
        }
        let cl = &self.clients[c];
        if cl.close.is_some() {
            return;
        }
        let polling = cl.is_open() && cl.transport == Transport::Polling;
        let ready = match fault {
            Planned::OverlappingPost { .. } => polling && cl.post.is_none() && !cl.pausing,
            Planned::Oversized => {
                cl.is_open()
                    && (cl.on_ws().is_some() || (polling && cl.post.is_none() && !cl.pausing))
            }
            Planned::AtLimit
            | Planned::UnknownSid
            | Planned::StaleSid
            | Planned::Preflight
            | Planned::CrossSite => false,
            Planned::Partition { .. } => cl.started.is_some(),
            Planned::AbortGet => polling && cl.gets.values().any(Option::is_none),
            Planned::DuplicateGet => polling && !cl.pausing && !cl.gets.is_empty(),
            Planned::StallPolling { .. } => polling,
            Planned::Garbage => {
                cl.ws
                    .is_some_and(|(_, s)| s != WsStage::Connecting && s != WsStage::Opening)
                    || (polling && cl.post.is_none() && !cl.pausing)
            }
        };
        if !ready {
            // Not possible now (no GET in flight, not polling, ...): try again a bit later.
            if self.now < self.send_until {
                self.at(c, Duration::from_millis(15), ClientAction::Fault(i));
            }
            return;
        }
        match fault {
            Planned::Partition { len } => self.partition(c, len),
            Planned::OverlappingPost { body_delay } => {
                self.injected(c, FaultKind::OverlappingPost, TRANSPORT_ERROR);
                self.wire_overlapping_posts(c, body_delay);
            }
            Planned::Oversized => {
                self.injected(c, FaultKind::Oversized, TRANSPORT_ERROR);
                self.wire_oversized(c);
            }
            Planned::AtLimit
            | Planned::UnknownSid
            | Planned::StaleSid
            | Planned::Preflight
            | Planned::CrossSite => {}
            Planned::AbortGet => {
                let cl = &mut self.clients[c];
                let Some(link) = cl.gets.iter().find(|(_, r)| r.is_none()).map(|(l, _)| *l) else {
                    return;
                };
                cl.gets.remove(&link);
                trace!(self, "c{c} fault: GET L{link} aborted");
                self.injected(c, FaultKind::AbortGet, ABORT_GET);
                self.links[link].dead_down = true;
                self.send_up(link, Ev::Abort { link });
                self.client_close(c, ClientClose::TransportError);
            }
            Planned::DuplicateGet => {
                trace!(self, "c{c} fault: duplicate GET");
                self.injected(c, FaultKind::DuplicateGet, TRANSPORT_ERROR);
                self.client_get(c);
            }
            Planned::StallPolling { len } => {
                trace!(self, "c{c} fault: polling stalls for {len:?}");
                self.injected(c, FaultKind::StallPolling, SILENCE);
                self.clients[c].stall_until = self.now + len;
                self.at(c, len, ClientAction::StallEnd);
            }
            Planned::Garbage => {
                let cl = &self.clients[c];
                if let Some((link, WsStage::Probing | WsStage::Probed)) = cl.ws {
                    // On the probe: only the upgrade fails (unless a `5` follows into the
                    // closed WebSocket and the client, upgraded for nothing, goes silent).
                    let frame = wire::garbage_frame(cl.version(), &mut self.rng);
                    self.injected(c, FaultKind::Garbage, KILL_WS_AFTER_5);
                    trace!(self, "c{c} fault: garbage frame on the probe");
                    return self.client_raw_frame(c, link, frame);
                }
                let cl = &self.clients[c];
                if let Some(link) = cl.on_ws() {
                    let frame = wire::garbage_frame(cl.version(), &mut self.rng);
                    self.injected(c, FaultKind::Garbage, GARBAGE);
                    trace!(self, "c{c} fault: garbage frame");
                    self.client_raw_frame(c, link, frame);
                } else if cl.version() == ProtocolVersion::V4 && self.rng.chance(0.2) {
                    // A binary body where v4 has none: refused with 400, a transport error.
                    self.injected(c, FaultKind::Garbage, TRANSPORT_ERROR);
                    trace!(self, "c{c} fault: v4 binary body");
                    let body = Bytes::from_static(b"4hello");
                    self.client_post_body(c, body, "application/octet-stream");
                } else {
                    let (body, ct) = wire::garbage_body(cl.plan.format, &mut self.rng);
                    self.injected(c, FaultKind::Garbage, GARBAGE);
                    trace!(self, "c{c} fault: garbage body");
                    self.client_post_body(c, body, ct);
                }
            }
        }
    }
}
