//! What a wire client does with what reaches it: the open packet, responses to its requests
//! (polls, posts, refusals), packets and messages, and whether its close was graceful.

use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Handshake, Message, Packet, ProtocolVersion, Transport};
use http::Response;

use super::client::{ClientClose, Phase, Show};
use super::net::{ClientAction, Ev, LinkId, LinkKind};
use super::trace::Esc;
use super::{Invariant, Sim};
use crate::CloseReason;

impl Sim {
    pub(super) fn client_on_open(&mut self, c: usize, packet: Packet, via: Transport) {
        let Packet::Open(json) = packet else {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: the first packet of the session is not an open packet"),
            );
        };
        let hs = match Handshake::from_json(&json) {
            Ok(hs) => hs,
            Err(e) => {
                return self.fail(Invariant::Protocol, format!("c{c}: bad handshake: {e}"));
            }
        };
        let cfg = &self.config.server;
        let cl = &self.clients[c];
        let expect_upgrades =
            via == Transport::Polling && cfg.allow_upgrades && cfg.transports.websocket;
        let problem = if Some(hs.sid.as_str()) != cl.srv.as_ref().map(|s| s.sid.as_str()) {
            Some("the sid is not the one the server made")
        } else if hs.ping_interval != cfg.ping_interval.as_millis() as u64
            || hs.ping_timeout != cfg.ping_timeout.as_millis() as u64
        {
            Some("the heartbeat times are not the configured ones")
        } else if hs.max_payload.is_some() != (cl.version() == ProtocolVersion::V4) {
            Some("maxPayload is sent to v4 clients only")
        } else if hs.upgrades.contains(&Transport::Websocket) != expect_upgrades {
            Some("the upgrades offered are wrong")
        } else {
            None
        };
        if let Some(p) = problem {
            return self.fail(
                Invariant::Protocol,
                format!("c{c}: handshake {}: {p}", json.as_str()),
            );
        }
        trace!(self, "c{c} open {} via {via}", hs.sid);
        let cl = &mut self.clients[c];
        cl.sid = Some(hs.sid);
        cl.ping_interval = Duration::from_millis(hs.ping_interval);
        cl.ping_timeout = Duration::from_millis(hs.ping_timeout);
        cl.max_payload = hs.max_payload.map(|m| m as usize);
        cl.upgrades_offered = hs.upgrades.contains(&Transport::Websocket);
        cl.phase = Phase::Open;
        cl.transport = via;
        cl.hb_gen += 1;
        let gen = cl.hb_gen;
        let first_beat = match cl.version() {
            ProtocolVersion::V4 => cl.ping_interval + cl.ping_timeout,
            ProtocolVersion::V3 => cl.ping_interval,
        };
        let upgrade = cl.plan.upgrade_after.filter(|_| cl.upgrades_offered);
        let send_mean = cl.plan.send_mean;
        let app_send_mean = cl.plan.app_send_mean;
        self.at(c, first_beat, ClientAction::Heartbeat(gen));
        if let Some(after) = upgrade {
            self.at(c, after, ClientAction::Upgrade);
        }
        let first = self.rng.duration(Duration::ZERO, send_mean * 2);
        self.at(c, first, ClientAction::Send);
        let first = self.rng.duration(Duration::ZERO, app_send_mean * 2);
        let at = self.now + first;
        self.queue.push(
            at,
            super::net::NORMAL,
            Ev::App {
                client: c,
                action: super::net::AppAction::Send,
            },
        );
    }

    // ---- responses ----------------------------------------------------------------------------

    pub(super) fn client_on_response(&mut self, link: LinkId, resp: Response<Bytes>) {
        let (c, kind) = (self.links[link].client, self.links[link].kind);
        let status = resp.status().as_u16();
        trace!(
            self,
            "c{c} <- L{link} {} {status} {}",
            kind.name(),
            Esc(resp.body())
        );
        match kind {
            LinkKind::Stray => {}
            LinkKind::Handshake => {
                if self.clients[c].phase != Phase::Connecting(link) {
                    return;
                }
                if status == 403 || status == 503 {
                    return self.client_refused(c, status == 503);
                }
                if status != 200 {
                    return self.fail(
                        Invariant::Protocol,
                        format!("c{c}: handshake refused with {status}"),
                    );
                }
                let format = self.clients[c].plan.format;
                match format.decode_response(&resp) {
                    Ok(packets) => {
                        let mut packets = packets.into_iter();
                        let Some(open) = packets.next() else {
                            return self
                                .fail(Invariant::Protocol, format!("c{c}: empty handshake"));
                        };
                        self.client_on_open(c, open, Transport::Polling);
                        for p in packets {
                            if !self.clients[c].is_open() {
                                break;
                            }
                            self.client_on_packet(c, p, false);
                        }
                        self.client_maybe_poll(c);
                        self.client_flush(c);
                    }
                    Err(e) => self.fail(Invariant::Protocol, format!("c{c}: handshake: {e}")),
                }
            }
            LinkKind::WsHandshake => {
                if self.clients[c].phase == Phase::Connecting(link) {
                    if status == 403 || status == 503 {
                        self.clients[c].ws = None;
                        return self.client_refused(c, status == 503);
                    }
                    self.fail(
                        Invariant::Protocol,
                        format!("c{c}: WebSocket handshake refused with {status}"),
                    );
                }
            }
            LinkKind::Get => {
                let cl = &mut self.clients[c];
                if let Some(slot) = cl.gets.get_mut(&link) {
                    *slot = Some(resp);
                }
                // Responses are read in the order the GETs went out (as over one connection).
                loop {
                    let cl = &mut self.clients[c];
                    let Some(mut first) = cl.gets.first_entry() else {
                        break;
                    };
                    let Some(resp) = first.get_mut().take() else {
                        break;
                    };
                    let l = *first.key();
                    first.remove();
                    self.client_on_poll(c, l, resp);
                }
                self.client_maybe_poll(c);
                self.client_try_finish_upgrade(c);
            }
            LinkKind::Post => {
                let cl = &mut self.clients[c];
                if cl.post != Some(link) {
                    return;
                }
                cl.post = None;
                if cl.close.is_some() {
                    if std::mem::take(&mut cl.close_after_post) {
                        self.client_post(c, vec![Packet::Close]);
                    }
                    return;
                }
                // (413: a v3 client does not know maxPayload, and a JSONP body can be three
                // times its messages: the host's model expected the close.)
                if status != 200 || resp.body() != "ok" {
                    trace!(self, "c{c} POST failed");
                    return self.client_close(c, ClientClose::TransportError);
                }
                self.client_flush(c);
                self.client_try_finish_upgrade(c);
            }
            LinkKind::WsUpgrade => {
                if self.clients[c].ws.is_some_and(|(l, _)| l == link) {
                    trace!(self, "c{c} upgrade refused");
                    self.client_abandon_upgrade(c);
                }
            }
        }
    }

    pub(super) fn client_on_poll(&mut self, c: usize, link: LinkId, resp: Response<Bytes>) {
        if !self.clients[c].is_open() {
            return;
        }
        if resp.status() != http::StatusCode::OK {
            trace!(self, "c{c} GET L{link} failed");
            return self.client_close(c, ClientClose::TransportError);
        }
        let format = self.clients[c].plan.format;
        let packets = match format.decode_response(&resp) {
            Ok(p) => p,
            Err(e) => return self.fail(Invariant::Protocol, format!("c{c}: GET L{link}: {e}")),
        };
        if packets.is_empty() {
            return self.fail(Invariant::Protocol, format!("c{c}: empty poll response"));
        }
        for p in packets {
            if !self.clients[c].is_open() || self.failure.is_some() {
                break;
            }
            self.client_on_packet(c, p, false);
        }
    }

    // ---- packets ------------------------------------------------------------------------------

    pub(super) fn client_on_packet(&mut self, c: usize, p: Packet, on_ws: bool) {
        let v4 = self.clients[c].version() == ProtocolVersion::V4;
        match p {
            Packet::Message(m) => self.client_got_message(c, m),
            Packet::Ping(data) if v4 && data.is_empty() => {
                let cl = &mut self.clients[c];
                cl.hb_gen += 1;
                let (gen, after) = (cl.hb_gen, cl.ping_interval + cl.ping_timeout);
                self.at(c, after, ClientAction::Heartbeat(gen));
                self.client_send(c, Packet::pong());
            }
            Packet::Pong(data) if !v4 && data.is_empty() => {
                let cl = &mut self.clients[c];
                cl.hb_gen += 1;
                let (gen, after) = (cl.hb_gen, cl.ping_interval);
                self.at(c, after, ClientAction::Heartbeat(gen));
            }
            Packet::Close => {
                trace!(self, "c{c} got close packet");
                self.check_graceful_close(c);
                self.client_close(c, ClientClose::TransportClose);
            }
            Packet::Noop if !on_ws => {}
            other => self.fail(
                Invariant::Protocol,
                format!(
                    "c{c} ({}) got an unexpected packet {other:?} over {}",
                    self.clients[c].plan.format.name(),
                    if on_ws { "WebSocket" } else { "polling" }
                ),
            ),
        }
    }

    pub(super) fn client_got_message(&mut self, c: usize, m: Message) {
        let cl = &mut self.clients[c];
        let i = cl.received.len();
        let expected = cl.srv.as_ref().and_then(|s| s.sent.get(i));
        if expected != Some(&m) {
            let detail = format!(
                "c{c} received message #{i} {} but the server sent {}",
                Show(Some(&m)),
                Show(expected)
            );
            return self.fail(Invariant::MessageOrder, detail);
        }
        cl.received.push(m);
        self.stats.messages_to_client += 1;
    }

    /// A server that closes on purpose sends everything it accepted first.
    pub(super) fn check_graceful_close(&mut self, c: usize) {
        let cl = &self.clients[c];
        let Some(srv) = &cl.srv else { return };
        if let Some((CloseReason::ForcedClose | CloseReason::ServerShuttingDown, _)) = srv.closed {
            if cl.received.len() != srv.sent.len() {
                let detail = format!(
                    "c{c}: the server closed gracefully after sending {} messages, {} arrived",
                    srv.sent.len(),
                    cl.received.len()
                );
                self.fail(Invariant::Delivery, detail);
            }
        }
    }

    // ---- sending ------------------------------------------------------------------------------
}
