//! Where a connection is in its life, for either role.

/// Where a session or connection is in its life (the reference's `readyState`).
///
/// A server session is never `Opening`: the application sees it once its handshake is
/// answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadyState {
    /// The handshake has not completed (clients only).
    Opening,
    /// Open.
    Open,
    /// Closing: what was queued goes first (a polling session's close packet waits to be
    /// collected; a client's queued messages are being flushed).
    Closing,
    /// Closed.
    Closed,
}
