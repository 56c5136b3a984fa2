//! Wire clients over WebSocket: the upgrade (probe, `5`, failures and retries, the planned
//! kills and delays) and frames and closes on the WebSocket in use.

use std::time::Duration;

use engineio_proto::{Frame, Packet, Transport};

use super::client::{ClientClose, ShowFrame, WsStage};
use super::faults::{self, FaultKind, KillPhase, Reasons};
use super::net::{ClientAction, Ev, LinkId, LinkKind};
use super::{wire, Invariant, Sim};

impl Sim {
    pub(crate) fn client_start_upgrade(&mut self, c: usize) {
        let cl = &self.clients[c];
        if !cl.is_open()
            || cl.transport != Transport::Polling
            || cl.ws.is_some()
            || self.now >= self.send_until
        {
            return;
        }
        let target = self.target(c, Transport::Websocket);
        let req = wire::ws_request(&target, &mut self.rng);
        let req = self.with_origin(c, req);
        let link = self.new_link(c, LinkKind::WsUpgrade);
        trace!(self, "c{c} upgrade L{link} {target}");
        self.clients[c].ws = Some((link, WsStage::Connecting));
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    pub(super) fn client_on_ws_open(&mut self, link: LinkId) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} 101");
        let cl = &mut self.clients[c];
        if cl.close.is_some() || cl.ws != Some((link, WsStage::Connecting)) {
            return;
        }
        if self.links[link].kind == LinkKind::WsHandshake {
            cl.ws = Some((link, WsStage::Opening));
            return;
        }
        cl.ws = Some((link, WsStage::Probing));
        self.client_frame(c, link, &Packet::ping_probe());
        if self.clients[c].plan.kill_ws == Some(KillPhase::AfterOpen) {
            self.client_kill_ws(c, false);
        }
    }

    pub(super) fn client_on_frame(&mut self, link: LinkId, frame: Frame) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} frame {}", ShowFrame(&frame));
        let cl = &self.clients[c];
        let Some((ws, stage)) = cl.ws else { return };
        if ws != link || cl.close.is_some() {
            return;
        }
        let packet = match frame.decode(cl.version(), usize::MAX) {
            Ok(p) => p,
            Err(e) => {
                return self.fail(Invariant::Protocol, format!("c{c}: undecodable frame: {e}"));
            }
        };
        match stage {
            WsStage::Opening => {
                self.clients[c].ws = Some((link, WsStage::Direct));
                self.client_on_open(c, packet, Transport::Websocket);
                self.client_flush(c);
            }
            WsStage::Probing if packet == Packet::pong_probe() => {
                self.clients[c].ws = Some((link, WsStage::Probed));
                self.client_on_probed(c);
            }
            WsStage::Connecting | WsStage::Probing | WsStage::Probed => self.fail(
                Invariant::WsDataBefore5,
                format!("c{c}: {packet:?} on the probe WebSocket L{link} before the client sent 5"),
            ),
            WsStage::Upgraded | WsStage::Direct => self.client_on_packet(c, packet, true),
        }
    }

    pub(super) fn client_on_ws_closed(&mut self, link: LinkId) {
        let c = self.links[link].client;
        trace!(self, "c{c} <- L{link} ws closed");
        let cl = &mut self.clients[c];
        let Some((ws, stage)) = cl.ws else { return };
        if ws != link || cl.close.is_some() {
            return;
        }
        match stage {
            WsStage::Upgraded | WsStage::Direct => {
                cl.ws = None;
                self.check_graceful_close(c);
                self.client_close(c, ClientClose::TransportClose);
            }
            WsStage::Opening | WsStage::Connecting
                if self.links[link].kind == LinkKind::WsHandshake =>
            {
                cl.ws = None;
                self.client_close(c, ClientClose::ConnectFailed);
            }
            _ => self.client_abandon_upgrade(c),
        }
    }

    pub(crate) fn client_on_probed(&mut self, c: usize) {
        let plan = &self.clients[c].plan;
        if plan.kill_ws == Some(KillPhase::AfterProbe) {
            return self.client_kill_ws(c, false);
        }
        if let Some((delay, keep_polling)) = plan.delay5 {
            self.injected(c, FaultKind::DelayUpgrade, faults::SILENCE);
            trace!(
                self,
                "c{c} delays 5 by {delay:?} (polling meanwhile: {keep_polling})"
            );
            let cl = &mut self.clients[c];
            cl.delay5_until = Some(self.now + delay);
            cl.pausing = !keep_polling;
            self.at(c, delay, ClientAction::Send5);
            return;
        }
        self.client_try_finish_upgrade(c);
    }

    /// Pauses polling (no new GET or POST), and once nothing is in flight, sends `5`.
    pub(crate) fn client_try_finish_upgrade(&mut self, c: usize) {
        let cl = &mut self.clients[c];
        let Some((link, WsStage::Probed)) = cl.ws else {
            return;
        };
        if cl.close.is_some() || cl.delay5_until.is_some() {
            return;
        }
        cl.pausing = true;
        if !cl.gets.is_empty() || cl.post.is_some() {
            return;
        }
        let kill = cl.plan.kill_ws;
        if kill == Some(KillPhase::After5 { lose_5: true }) {
            // The connection dies with the 5 in it.
            trace!(self, "c{c} sends 5 into a dying WebSocket");
            self.clients[c].ws = Some((link, WsStage::Upgraded));
            return self.client_kill_ws(c, true);
        }
        self.client_frame(c, link, &Packet::Upgrade);
        let cl = &mut self.clients[c];
        cl.ws = Some((link, WsStage::Upgraded));
        cl.transport = Transport::Websocket;
        cl.pausing = false;
        trace!(self, "c{c} upgraded");
        if kill == Some(KillPhase::After5 { lose_5: false }) {
            return self.client_kill_ws(c, true);
        }
        self.client_flush(c);
    }

    pub(crate) fn client_abandon_upgrade(&mut self, c: usize) {
        trace!(self, "c{c} abandons the upgrade");
        let cl = &mut self.clients[c];
        cl.ws = None;
        cl.pausing = false;
        cl.delay5_until = None;
        self.client_maybe_poll(c);
        self.client_flush(c);
        // Sometimes the client tries again: the session must be upgradable after a failure.
        if self.rng.chance(0.5) {
            let after = self
                .rng
                .duration(Duration::ZERO, self.config.server.upgrade_timeout);
            self.at(c, after, ClientAction::Upgrade);
        }
    }

    /// The probed WebSocket dies under the client: it knows at once, the server when the close
    /// reaches it.
    pub(crate) fn client_kill_ws(&mut self, c: usize, after_5: bool) {
        let Some((link, _)) = self.clients[c].ws.take() else {
            return;
        };
        let reasons = if after_5 {
            faults::KILL_WS_AFTER_5
        } else {
            Reasons::default()
        };
        self.injected(c, FaultKind::KillWs, reasons);
        trace!(self, "c{c} fault: WebSocket L{link} killed");
        self.links[link].dead_down = true;
        self.send_up(link, Ev::CloseUp { link });
        if after_5 {
            self.client_close(c, ClientClose::TransportClose);
        } else {
            self.client_abandon_upgrade(c);
        }
    }
}
