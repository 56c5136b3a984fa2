//! What the host of our client machine does with its output, by the drain rule: every
//! event given to the application and checked against what the simulation knows, the
//! machine's invariants after each round, and the faults planned for it.

use std::time::Duration;

use engineio_proto::Transport;

use super::client::{ClientClose, Phase, Show};
use super::faults::{self, FaultKind, Planned};
use super::net::{AppAction, ClientAction, Ev, LinkId, NORMAL};
use super::ours::{ConnKind, Ours};
use super::{Invariant, Sim};
use crate::{ClientEvent, ClientInput, CloseReason};

impl Sim {
    // ---- the drain rule -----------------------------------------------------------------------

    /// Drains transmits and events until both are empty, re-arms the timer, and checks the
    /// machine's invariants.
    pub(super) fn machine_drain(&mut self, c: usize) {
        let Some(mut o) = self.clients[c].ours.take() else {
            return;
        };
        loop {
            let mut any = false;
            while let Some(t) = o.machine.poll_transmit() {
                any = true;
                self.machine_transmit(c, &mut o, t);
            }
            while let Some(e) = o.machine.poll_event() {
                any = true;
                self.machine_event(c, &mut o, e);
            }
            if !any {
                break;
            }
        }
        let deadline = o.machine.poll_timeout();
        if deadline != o.armed {
            o.armed = deadline;
            o.timer_gen += 1;
            if let Some(d) = deadline {
                let lateness = self
                    .rng
                    .duration(Duration::ZERO, self.config.timer_lateness);
                let gen = o.timer_gen;
                self.queue.push(
                    d + lateness,
                    NORMAL,
                    Ev::Client {
                        client: c,
                        action: ClientAction::MachineTimer(gen),
                    },
                );
                if d > self.now && self.rng.chance(self.config.spurious_wakeups) {
                    let early = self
                        .rng
                        .duration(Duration::ZERO, d - self.now - Duration::from_micros(1));
                    let ev = Ev::Client {
                        client: c,
                        action: ClientAction::MachineWakeup,
                    };
                    self.queue.push(self.now + early, NORMAL, ev);
                }
            }
        }
        self.machine_check(c, &o);
        self.clients[c].ours = Some(o);
    }

    pub(super) fn machine_check(&mut self, c: usize, o: &Ours) {
        let closed = o.machine.is_closed();
        if closed != o.closed.is_some() {
            return self.fail(
                Invariant::CloseCount,
                format!(
                    "c{c}: the client's is_closed() {closed} but Closed events say {:?}",
                    o.closed
                ),
            );
        }
        let deadline = o.machine.poll_timeout();
        if closed == deadline.is_some() {
            let detail = if closed {
                format!("c{c}: the client is closed but still has a deadline")
            } else {
                format!("c{c}: the client is open without a deadline")
            };
            return self.fail(Invariant::Timer, detail);
        }
        let gets = o.conns.values().filter(|x| x.kind == ConnKind::Get).count();
        let posts = o
            .conns
            .values()
            .filter(|x| x.kind == ConnKind::Post)
            .count();
        if gets > 1 || posts > 1 {
            let detail = format!("c{c}: the client has {gets} GETs and {posts} POSTs in flight");
            return self.fail(Invariant::ParkedRequests, detail);
        }
        if closed {
            let open: Vec<LinkId> = o
                .conns
                .iter()
                .filter(|(_, x)| matches!(x.kind, ConnKind::Ws { dead: false, .. }))
                .map(|(l, _)| *l)
                .collect();
            if !open.is_empty() {
                let detail = format!("c{c}: the client closed with WebSockets {open:?} open");
                self.fail(Invariant::Leak, detail);
            }
        }
    }

    pub(super) fn machine_event(&mut self, c: usize, o: &mut Ours, e: ClientEvent) {
        if o.closed.is_some() {
            return self.fail(
                Invariant::CloseCount,
                format!("c{c}: client event {e:?} after Closed"),
            );
        }
        match e {
            ClientEvent::Message(m) => {
                trace!(self, "c{c} ev Message {}", Show(Some(&m)));
                self.client_got_message(c, m);
            }
            ClientEvent::Open(hs) => {
                trace!(self, "c{c} ev Open {}", hs.sid);
                let cl = &mut self.clients[c];
                if Some(hs.sid.as_str()) != cl.srv.as_ref().map(|s| s.sid.as_str()) {
                    let detail = format!("c{c}: opened with sid {}, not its session's", hs.sid);
                    return self.fail(Invariant::Protocol, detail);
                }
                cl.phase = Phase::Open;
                cl.sid = Some(hs.sid);
                let mean = cl.plan.app_send_mean;
                let first = self.rng.duration(Duration::ZERO, mean * 2);
                let ev = Ev::App {
                    client: c,
                    action: AppAction::Send,
                };
                self.queue.push(self.now + first, NORMAL, ev);
            }
            ClientEvent::Flushed { last } => {
                trace!(self, "c{c} ev Flushed {}", last.0);
                if o.last_flushed.is_some_and(|l| l >= last) || last.0 >= o.next_send {
                    let detail = format!(
                        "c{c}: the client's Flushed {} after {:?} ({} sent)",
                        last.0, o.last_flushed, o.next_send
                    );
                    return self.fail(Invariant::Flushed, detail);
                }
                o.last_flushed = Some(last);
            }
            ClientEvent::Upgraded => {
                trace!(self, "c{c} ev Upgraded");
                if o.machine.transport() != Transport::Websocket {
                    let detail = format!("c{c}: the client says Upgraded, still polling");
                    self.fail(Invariant::Protocol, detail);
                }
            }
            ClientEvent::Closed { reason, local } => {
                trace!(self, "c{c} ev Closed {reason} (local {local})");
                o.closed = Some(reason);
                if let Some(refused) = o.refused.take() {
                    return self.machine_refused(c, refused, reason, local);
                }
                *self.stats.client_closes.entry(reason.as_str()).or_default() += 1;
                let cl = &mut self.clients[c];
                cl.close = Some((ClientClose::Machine(reason), self.now));
                let srv_closed = cl.srv.as_ref().is_some_and(|s| s.closed.is_some());
                let ok = if local {
                    reason == CloseReason::ForcedClose && o.app_closed
                } else {
                    cl.machine_allowed.contains(reason)
                        || (srv_closed && faults::MACHINE_SERVER_CLOSED.contains(reason))
                };
                if !ok {
                    let mut allowed = cl.machine_allowed;
                    if srv_closed {
                        allowed.add(faults::MACHINE_SERVER_CLOSED);
                    }
                    let detail = format!(
                        "c{c} (our client) closed with `{reason}` (local {local}); its faults \
                         and script allow {:?}",
                        allowed.names()
                    );
                    return self.fail(Invariant::CloseReason, detail);
                }
                if reason == CloseReason::TransportClose && o.from_server {
                    self.check_graceful_close(c);
                }
                self.maybe_reconnect(c);
            }
            other => trace!(self, "c{c} ev {other:?}"),
        }
    }

    // ---- faults -------------------------------------------------------------------------------

    pub(super) fn machine_fault(&mut self, c: usize, i: usize) {
        let fault = self.clients[c].plan.faults[i].1;
        if fault.is_input() {
            return self.client_input(c, i);
        }
        let cl = &self.clients[c];
        let Some(o) = cl.ours.as_ref() else {
            return;
        };
        if o.closed.is_some() {
            return;
        }
        let polling = o.machine.is_open() && o.machine.transport() == Transport::Polling;
        let get = o
            .conns
            .iter()
            .find(|(_, x)| x.kind == ConnKind::Get)
            .map(|(l, x)| (*l, x.id));
        let ready = match fault {
            Planned::Partition { .. } => true,
            Planned::AbortGet => polling && get.is_some(),
            Planned::StallPolling { .. } => polling,
            // These need a scripted wire client (they are never planned for ours).
            Planned::DuplicateGet
            | Planned::Garbage
            | Planned::OverlappingPost { .. }
            | Planned::Oversized
            | Planned::AtLimit
            | Planned::UnknownSid
            | Planned::StaleSid
            | Planned::Preflight
            | Planned::CrossSite => return,
        };
        if !ready {
            if self.now < self.send_until {
                self.at(c, Duration::from_millis(15), ClientAction::Fault(i));
            }
            return;
        }
        match fault {
            Planned::Partition { len } => self.partition(c, len),
            Planned::AbortGet => {
                let Some((link, req)) = get else { return };
                trace!(self, "c{c} fault: GET L{link} aborted");
                self.injected(c, FaultKind::AbortGet, faults::ABORT_GET);
                self.clients[c]
                    .machine_allowed
                    .add(faults::MACHINE_ABORT_GET);
                if let Some(o) = self.clients[c].ours.as_mut() {
                    o.conns.remove(&link);
                }
                self.links[link].dead_down = true;
                self.send_up(link, Ev::Abort { link });
                self.machine_input(c, ClientInput::HttpFailed { req }, false);
            }
            Planned::StallPolling { len } => {
                trace!(self, "c{c} fault: the host holds GETs for {len:?}");
                self.injected(c, FaultKind::StallPolling, faults::SILENCE);
                self.clients[c].machine_allowed.add(faults::MACHINE_SILENCE);
                self.clients[c].stall_until = self.now + len;
            }
            _ => {}
        }
    }
}
