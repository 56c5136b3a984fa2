//! Clients that try again: a handshake the application refused is tried again a little later
//! (one refused during shutdown is given up), and a client whose session closed may open a new
//! one, as socket.io's reconnection does. A reconnect is a new client (its own index, script
//! and session) of the same kind, which may then send a request with its old session's sid.

use std::time::Duration;

use super::client::{ClientClose, Phase};
use super::inputs::RETRY_AFTER;
use super::net::ClientAction;
use super::{plan, Invariant, Sim};
use crate::CloseReason;

/// A refused handshake of our client machine: how the model expects the machine to close.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refused {
    /// `transport error` for an error status on its polling handshake, `transport close` for
    /// its WebSocket handshake refused.
    pub(crate) reason: CloseReason,
    /// 503: the server is shutting down, the client gives up.
    pub(crate) unavailable: bool,
}

impl Sim {
    /// The handshake of wire client `c` was refused: by the application (403), when it tries
    /// again a little later; or because the server is shutting down (503), when it gives up.
    pub(super) fn client_refused(&mut self, c: usize, unavailable: bool) {
        self.clients[c].phase = Phase::Idle;
        if unavailable {
            trace!(self, "c{c} handshake refused: the server is shutting down");
            return self.client_close(c, ClientClose::ConnectFailed);
        }
        self.retry_later(c);
    }

    fn retry_later(&mut self, c: usize) {
        self.clients[c].retrying = true;
        let after = self.rng.duration(Duration::from_millis(10), RETRY_AFTER);
        trace!(self, "c{c} handshake refused; tries again in {after:?}");
        self.at(c, after, ClientAction::Retry);
    }

    /// Our client machine closed after its handshake was refused (`refused`): it must have
    /// closed with the reason the model says, not locally. It then tries again with a new
    /// machine, or gives up.
    pub(super) fn machine_refused(
        &mut self,
        c: usize,
        refused: Refused,
        reason: CloseReason,
        local: bool,
    ) {
        if reason != refused.reason || local {
            let detail = format!(
                "c{c} (our client) closed with `{reason}` (local {local}) after its handshake was \
                 refused; the model says `{}`, not local",
                refused.reason
            );
            return self.fail(Invariant::Answer, detail);
        }
        if refused.unavailable {
            trace!(self, "c{c} gives up: the server is shutting down");
            *self.stats.client_closes.entry(reason.as_str()).or_default() += 1;
            self.clients[c].close = Some((ClientClose::Machine(reason), self.now));
        } else {
            self.retry_later(c);
        }
    }

    /// Client `c` closed: it may reconnect, as a new client of the same kind, if it had a
    /// session and clients still act.
    pub(super) fn maybe_reconnect(&mut self, c: usize) {
        let p = self.config.inputs.reconnect;
        let cl = &self.clients[c];
        if p <= 0.0 || self.now >= self.send_until || cl.reconnected {
            return;
        }
        let Some(old_sid) = cl.sid.clone() else {
            return;
        };
        if !self.rng.chance(p) {
            return;
        }
        let start = self.now
            + self
                .rng
                .duration(Duration::from_millis(10), Duration::from_millis(200));
        if start >= self.send_until {
            return;
        }
        let plan = plan::draw_reconnect(&self.config, &mut self.rng, &self.clients[c].plan, start);
        let new = self.add_client(plan);
        self.clients[c].reconnected = true;
        self.clients[new].old_sid = Some(old_sid);
        self.count_input("reconnect");
        trace!(self, "c{c} reconnects as c{new} at {}ms", start.as_millis());
    }
}
