//! Why a session ended.

/// Why a session closed, with the reference's exact strings ([`CloseReason::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// `transport close`: the client closed (sent `1`, or its WebSocket closed).
    TransportClose,
    /// `transport error`: overlapping requests, a dropped request, a bad request on the
    /// transport, a heartbeat in the wrong direction.
    TransportError,
    /// `ping timeout`: the heartbeat went unanswered.
    PingTimeout,
    /// `parse error`: the client sent something undecodable.
    ParseError,
    /// `forced close`: the application closed the session.
    ForcedClose,
    /// `server shutting down`.
    ServerShuttingDown,
}

impl CloseReason {
    /// Whether a polling session closed for this reason on `transport` was closed by the
    /// server (the application or shutdown): its close packet went (or goes) to a GET, and a
    /// POST still on its way is taken with `ok` rather than refused.
    pub(crate) fn takes_late_posts(self, transport: engineio_proto::Transport) -> bool {
        transport == engineio_proto::Transport::Polling
            && matches!(
                self,
                CloseReason::ForcedClose | CloseReason::ServerShuttingDown
            )
    }

    /// The reason as the reference spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShuttingDown => "server shutting down",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
