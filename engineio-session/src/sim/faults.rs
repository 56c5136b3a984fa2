//! Faults: what can go wrong, how often, and which close reasons each makes legitimate.

use std::time::Duration;

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
        }
    }
}

/// A fault a client will inject at a time of its life.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Planned {
    AbortGet,
    StallPolling { len: Duration },
    DuplicateGet,
    Garbage,
    Partition { len: Duration },
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
/// Overlapping GETs, a v4 POST with a binary body: refused, a transport error.
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
