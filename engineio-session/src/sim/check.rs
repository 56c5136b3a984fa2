//! The invariants, and what a broken one reports.

use std::fmt;

use super::Sim;
use crate::Instant;

/// The invariant a run broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invariant {
    /// Messages received on a side are an in-order, duplicate-free prefix of those sent.
    MessageOrder,
    /// Messages still missing while neither side closed, or lost by a graceful close.
    Delivery,
    /// One side closed and the other never did.
    OneSidedClose,
    /// A session reported `Closed` twice, or an event after it, or disagrees with its getters.
    CloseCount,
    /// A session closed with a reason that nothing in the run explains.
    CloseReason,
    /// More than one GET (or POST) held open at once for a session.
    ParkedRequests,
    /// A data frame on an upgrading WebSocket before the client sent `5`.
    WsDataBefore5,
    /// A partition longer than pingInterval + pingTimeout left a side open.
    Partition,
    /// A deadline not after `now` following `handle_timeout`, or an open session without one.
    Timer,
    /// `Flushed` went backwards or named a message never sent.
    Flushed,
    /// A request left unanswered or a WebSocket left open by a closed session, or an aborted
    /// upgrade's WebSocket left open.
    Leak,
    /// Something on the wire that the protocol does not allow (bad bodies, unexpected
    /// packets, requests answered twice, frames on closed WebSockets, ...).
    Protocol,
    /// An answer that is not the one the model of the protocol gives for that input: the
    /// status, body, CORS or cookie headers of a response, the server-wide event, or how the
    /// session ends (an overlap, an oversized body or message, a refused handshake, a stale
    /// or unknown sid, a preflight, a handshake during shutdown), or a sid issued twice.
    Answer,
    /// The code under test panicked.
    Panic,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A broken invariant, with what is needed to replay and understand it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed of the run.
    pub seed: u64,
    /// Which invariant broke.
    pub invariant: Invariant,
    /// What exactly was seen.
    pub detail: String,
    /// Virtual time of the failure.
    pub at: Instant,
    /// Steps taken until then.
    pub step: u64,
    /// The trace hash up to the failure (a replay reaches the same).
    pub trace_hash: u64,
    /// The last lines of the trace.
    pub trace_tail: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sim seed {} broke {} at {}ms (step {}, trace {:016x}): {}",
            self.seed,
            self.invariant,
            self.at.as_millis(),
            self.step,
            self.trace_hash,
            self.detail
        )?;
        writeln!(f, "last {} trace lines:", self.trace_tail.len())?;
        for line in &self.trace_tail {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl Sim {
    /// The heartbeat bound: a silent peer is noticed within this long (plus a millisecond of
    /// timer granularity).
    pub(super) fn partition_bound(&self) -> std::time::Duration {
        let s = &self.config.server;
        s.ping_interval
            + s.ping_timeout
            + 2 * self.config.timer_lateness
            + std::time::Duration::from_millis(1)
    }

    /// A partition that began at `since` has lasted the whole bound: both sides must have
    /// noticed (unless the server's host was frozen meanwhile, which pauses its clock).
    pub(super) fn check_partition(&mut self, c: usize, since: Instant) {
        if self.stalls.iter().any(|&(a, b)| a < self.now && b > since) {
            trace!(self, "c{c} partition check skipped (the server was frozen)");
            return;
        }
        let cl = &self.clients[c];
        let still = cl.partitioned(self.now);
        if !still {
            return;
        }
        self.stats.partition_checks += 1;
        if let Some(srv) = &cl.srv {
            if let (None, Some(t)) = (srv.closed, srv.app_closing) {
                // Closing on the application's word waits up to closeTimeout for a GET.
                let until = t
                    + self.config.server.close_timeout
                    + self.config.timer_lateness
                    + std::time::Duration::from_millis(1);
                if until > self.now {
                    let ev = super::net::Ev::PartitionCheck { client: c, since };
                    self.queue.push(until, super::net::NORMAL, ev);
                    return;
                }
            }
            if srv.closed.is_none() {
                let detail = format!(
                    "c{c} partitioned since {}ms; its session is still open at {}ms",
                    since.as_millis(),
                    self.now.as_millis()
                );
                return self.fail(super::Invariant::Partition, detail);
            }
        }
        let started_before = cl.started.is_some_and(|s| s <= since);
        if started_before && cl.close.is_none() {
            let detail = format!(
                "c{c} partitioned since {}ms and still open at {}ms ({:?})",
                since.as_millis(),
                self.now.as_millis(),
                cl.phase
            );
            self.fail(super::Invariant::Partition, detail);
        }
    }

    /// The server holds exactly the sessions that have not closed: none left behind by a
    /// close, a refusal or a reconnect.
    pub(super) fn check_session_count(&mut self) {
        let live = self.host.opened - self.host.closed;
        let held = self.host.sessions.len() as u64;
        if held != live && self.failure.is_none() {
            let detail = format!(
                "the host holds {held} sessions; {} opened and {} closed",
                self.host.opened, self.host.closed
            );
            self.fail(super::Invariant::Leak, detail);
        }
    }

    /// At the end: either everything is delivered, or both sides closed.
    pub(super) fn final_check(&mut self) {
        for c in 0..self.clients.len() {
            if self.failure.is_some() {
                return;
            }
            let cl = &self.clients[c];
            if cl.started.is_none() {
                continue;
            }
            let client_closed = cl.close.is_some();
            let Some(srv) = &cl.srv else {
                if !client_closed {
                    let detail =
                        format!("c{c} has no session and did not give up ({:?})", cl.phase);
                    self.fail(super::Invariant::OneSidedClose, detail);
                }
                continue;
            };
            match (client_closed, srv.closed.is_some()) {
                (false, false) => {
                    if cl.received.len() != srv.sent.len() || srv.received.len() != cl.sent.len() {
                        let detail = format!(
                            "c{c} still open: the client got {}/{} messages, the server {}/{}",
                            cl.received.len(),
                            srv.sent.len(),
                            srv.received.len(),
                            cl.sent.len()
                        );
                        self.fail(super::Invariant::Delivery, detail);
                    }
                }
                (true, true) => {}
                (client, _) => {
                    let detail = if client {
                        format!(
                            "c{c} closed ({}) at {}ms; its session is still open",
                            cl.close.map_or("", |(r, _)| r.name()),
                            cl.close.map_or(0, |(_, t)| t.as_millis())
                        )
                    } else {
                        format!(
                            "c{c}'s session closed ({}) at {}ms; the client is still open",
                            srv.closed.map_or("", |(r, _)| r.as_str()),
                            srv.closed.map_or(0, |(_, t)| t.as_millis())
                        )
                    };
                    self.fail(super::Invariant::OneSidedClose, detail);
                }
            }
        }
    }
}
