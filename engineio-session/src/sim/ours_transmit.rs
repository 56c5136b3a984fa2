//! Our client machine's host performing its transmits: requests routed through the server's
//! host like the wire clients', WebSockets over their own links, with the planned faults
//! (a WebSocket killed around `5`, a late `5`) applied on the way.

use engineio_proto::Frame;
use http::header::{self, HeaderValue};
use http::{Method, Request};

use super::client::ShowFrame;
use super::faults::{self, FaultKind, KillPhase};
use super::net::{Ev, LinkId, LinkKind, NORMAL};
use super::ours::{Conn, ConnKind, Ours};
use super::trace::Esc;
use super::wire;
use super::{Invariant, Sim};
use crate::ClientTransmit;

impl Sim {
    pub(super) fn machine_transmit(&mut self, c: usize, o: &mut Ours, t: ClientTransmit) {
        match t {
            ClientTransmit::HttpRequest {
                req,
                method,
                uri,
                headers,
                body,
            } => {
                let post = method == Method::POST;
                let (kind, conn) = match (post, o.machine.sid()) {
                    (true, _) => (LinkKind::Post, ConnKind::Post),
                    (false, None) => (LinkKind::Handshake, ConnKind::Get),
                    (false, Some(_)) => (LinkKind::Get, ConnKind::Get),
                };
                if o.conns.values().any(|x| x.kind == conn) {
                    let detail = format!(
                        "c{c}: a second {method} R{} while one is in flight: {:?}",
                        req.0, o.conns
                    );
                    return self.fail(Invariant::ParkedRequests, detail);
                }
                let link = self.new_link(c, kind);
                let target = uri.path_and_query().map_or("/", |p| p.as_str());
                trace!(
                    self,
                    "c{c} tx HttpRequest R{} {method} L{link} {target} {}",
                    req.0,
                    Esc(&body)
                );
                let mut request = Request::new(body);
                *request.method_mut() = method;
                *request.uri_mut() = target.parse().unwrap_or_default();
                *request.headers_mut() = headers;
                request
                    .headers_mut()
                    .insert(header::HOST, HeaderValue::from_static("sim.test"));
                o.conns.insert(
                    link,
                    Conn {
                        id: req,
                        kind: conn,
                    },
                );
                let stall = self.clients[c].stall_until;
                if !post && stall > self.now {
                    // The host holds the GET until the stall ends.
                    let l = &mut self.links[link];
                    l.last_up = l.last_up.max(stall);
                }
                self.send_up(
                    link,
                    Ev::Request {
                        link,
                        req: Box::new(request),
                    },
                );
            }
            ClientTransmit::WsConnect { ws, uri, headers } => {
                let probe = o.machine.sid().is_some();
                let kind = if probe {
                    LinkKind::WsUpgrade
                } else {
                    LinkKind::WsHandshake
                };
                let link = self.new_link(c, kind);
                let target = uri.path_and_query().map_or("/", |p| p.as_str());
                trace!(self, "c{c} tx WsConnect R{} L{link} {target}", ws.0);
                let mut request = wire::ws_request(target, &mut self.rng);
                request.headers_mut().extend(headers);
                o.conns.insert(
                    link,
                    Conn {
                        id: ws,
                        kind: ConnKind::Ws {
                            probe,
                            open: false,
                            sent5: false,
                            dead: false,
                        },
                    },
                );
                self.send_up(
                    link,
                    Ev::Request {
                        link,
                        req: Box::new(request),
                    },
                );
            }
            ClientTransmit::WsFrame { ws, frame, .. } => {
                trace!(self, "c{c} tx WsFrame R{} {}", ws.0, ShowFrame(&frame));
                let found = o
                    .conns
                    .iter_mut()
                    .find(|(_, x)| x.id == ws && matches!(x.kind, ConnKind::Ws { .. }));
                let Some((&link, conn)) = found else {
                    let detail = format!("c{c}: a frame on WebSocket R{} not open", ws.0);
                    return self.fail(Invariant::Protocol, detail);
                };
                let ConnKind::Ws {
                    probe,
                    open,
                    ref mut sent5,
                    dead,
                } = conn.kind
                else {
                    return;
                };
                if dead {
                    trace!(self, "net L{link} dead: frame lost");
                    return;
                }
                if !open {
                    let detail = format!("c{c}: a frame on WebSocket R{} before it opened", ws.0);
                    return self.fail(Invariant::Protocol, detail);
                }
                let is = |f: &Frame, s: &str| matches!(f, Frame::Text(t) if t.as_str() == s);
                if probe && !*sent5 {
                    if is(&frame, "5") {
                        *sent5 = true;
                        let kill = self.clients[c].plan.kill_ws;
                        if let Some(KillPhase::After5 { .. }) = kill {
                            conn.kind = ConnKind::Ws {
                                probe,
                                open,
                                sent5: true,
                                dead: true,
                            };
                            // What it sends from now on is lost with the WebSocket.
                            o.graceful = false;
                        }
                        return self.machine_sent_5(c, link, frame);
                    }
                    if !is(&frame, "2probe") {
                        let detail = format!(
                            "c{c}: the client sent {} on the probe WebSocket R{} before 5",
                            ShowFrame(&frame),
                            ws.0
                        );
                        return self.fail(Invariant::WsDataBefore5, detail);
                    }
                }
                self.send_up(link, Ev::FrameUp { link, frame });
            }
            ClientTransmit::WsClose { ws } => {
                trace!(self, "c{c} tx WsClose R{}", ws.0);
                let found = o
                    .conns
                    .iter()
                    .find(|(_, x)| x.id == ws && matches!(x.kind, ConnKind::Ws { .. }))
                    .map(|(l, x)| (*l, *x));
                let Some((link, conn)) = found else {
                    let detail = format!("c{c}: close of WebSocket R{} not open", ws.0);
                    return self.fail(Invariant::Protocol, detail);
                };
                o.conns.remove(&link);
                let ConnKind::Ws { open, dead, .. } = conn.kind else {
                    return;
                };
                if dead {
                    return;
                }
                if !open {
                    // Still connecting: the upgrade request is dropped (or, if the server
                    // accepted it meanwhile, the WebSocket closed).
                    self.send_up(link, Ev::Abort { link });
                }
                self.send_up(link, Ev::CloseUp { link });
                self.links[link].dead_down = true;
            }
        }
    }

    /// The machine sent `5` on its probe: the planned delay or kill applies.
    pub(super) fn machine_sent_5(&mut self, c: usize, link: LinkId, frame: Frame) {
        let plan = &self.clients[c].plan;
        let (kill, delay5) = (plan.kill_ws, plan.delay5);
        if let Some(KillPhase::After5 { lose_5 }) = kill {
            if !lose_5 {
                self.send_up(link, Ev::FrameUp { link, frame });
            } else {
                trace!(self, "c{c} sends 5 into a dying WebSocket");
            }
            return self.machine_kill_ws(c, link, true);
        }
        if let Some((delay, _)) = delay5 {
            self.injected(c, FaultKind::DelayUpgrade, faults::SILENCE);
            self.clients[c].machine_allowed.add(faults::MACHINE_SILENCE);
            trace!(self, "c{c} fault: 5 held for {delay:?}");
            let l = &mut self.links[link];
            l.last_up = l.last_up.max(self.now + delay);
        }
        self.send_up(link, Ev::FrameUp { link, frame });
    }

    /// Marks a live WebSocket dead; false if there is none on `link`.
    pub(super) fn machine_mark_dead(&mut self, link: LinkId) -> bool {
        match self.conn(link) {
            Some((
                _,
                Conn {
                    kind:
                        ConnKind::Ws {
                            dead: dead @ false, ..
                        },
                    ..
                },
            )) => {
                *dead = true;
                true
            }
            _ => false,
        }
    }

    /// The probe WebSocket dies: the server sees it close, the host notices at once. (Marked
    /// dead by the caller, who may hold the machine.)
    pub(super) fn machine_kill_ws(&mut self, c: usize, link: LinkId, after_5: bool) {
        let reasons = if after_5 {
            faults::KILL_WS_AFTER_5
        } else {
            faults::Reasons::default()
        };
        self.injected(c, FaultKind::KillWs, reasons);
        if after_5 {
            self.clients[c]
                .machine_allowed
                .add(faults::MACHINE_KILL_WS_AFTER_5);
        }
        trace!(self, "c{c} fault: WebSocket L{link} killed");
        self.send_up(link, Ev::CloseUp { link });
        self.links[link].dead_down = true;
        self.queue.push(self.now, NORMAL, Ev::Lost { link });
    }
}
