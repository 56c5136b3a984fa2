//! The requests of the inputs besides a client's session flow: overlapping POSTs, bodies and
//! messages over or at maxPayload, requests with stale or unknown sids, preflights. The
//! server's host checks each answer against the model ([`expect`](super::expect)); the client
//! ignores the answers to requests outside its session (`LinkKind::Stray`).

use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Frame, Message, Packet, ProtocolVersion, Transport};
use http::header::{self, HeaderValue};
use http::{Method, Request};

use super::faults::Planned;
use super::inputs::{self, ORIGINS};
use super::net::{ClientAction, Ev, LinkKind};
use super::trace::Esc;
use super::wire::{self, ClientFormat};
use super::Sim;
use crate::Sid;

/// A text message `#<n>|xxx…` of exactly `len` bytes (at least the tag's).
fn tagged(n: u64, len: usize) -> String {
    let mut s = format!("#{n}|");
    let pad = len.saturating_sub(s.len());
    // (`repeat` copies in doubling blocks: fast in debug builds too.)
    s.push_str(&"x".repeat(pad));
    s
}

/// A POST body of exactly `limit` bytes in `format`, carrying one text message tagged `n`.
fn body_at_limit(
    format: ClientFormat,
    n: u64,
    limit: usize,
) -> Option<(Message, Bytes, &'static str)> {
    let mut len = limit;
    for _ in 0..6 {
        let m = Message::from(tagged(n, len));
        let (body, ct) = format.encode_post(&[Packet::Message(m.clone())]);
        match body.len() {
            b if b == limit => return Some((m, body, ct)),
            b if b > limit => len = len.checked_sub(b - limit)?,
            b => len += limit - b,
        }
    }
    None
}

impl Sim {
    /// A planned input of client `c` (of either kind) whose time has come; tried again a
    /// little later while it cannot be sent.
    pub(super) fn client_input(&mut self, c: usize, i: usize) {
        let input = self.clients[c].plan.faults[i].1;
        let cl = &self.clients[c];
        if cl.close.is_some() || cl.started.is_none() {
            return;
        }
        let sent = match input {
            Planned::AtLimit if cl.plan.ours => self.machine_at_limit(c),
            Planned::AtLimit => self.wire_at_limit(c),
            Planned::UnknownSid => {
                self.stray_unknown_sid(c);
                true
            }
            Planned::Preflight => {
                self.stray_preflight(c);
                true
            }
            Planned::StaleSid => self.stray_stale_sid(c),
            Planned::CrossSite => {
                self.stray_cross_site(c);
                true
            }
            _ => true,
        };
        if !sent && self.now < self.send_until {
            self.at(c, Duration::from_millis(15), ClientAction::Fault(i));
        }
    }

    /// Sends `req`, outside the client's session.
    fn send_stray(&mut self, c: usize, req: Request<Bytes>) {
        let link = self.new_link(c, LinkKind::Stray);
        trace!(
            self,
            "c{c} stray L{link} {} {} {}",
            req.method(),
            req.uri(),
            Esc(req.body())
        );
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    /// A GET, a POST (a noop) or a WebSocket upgrade request naming session `sid`.
    fn request_for(&mut self, c: usize, sid: &str) -> Request<Bytes> {
        let format = self.clients[c].plan.format;
        let path = self.config.server.path.clone();
        let t = self.cache_buster();
        match self.rng.below(3) {
            0 => {
                let target = format.target(&path, Transport::Polling, Some(sid), t);
                wire::http_request(Method::GET, &target, None, Bytes::new(), None)
            }
            1 => {
                let target = format.target(&path, Transport::Polling, Some(sid), t);
                let (body, ct) = format.encode_post(&[Packet::Noop]);
                wire::http_request(Method::POST, &target, None, body, Some(ct))
            }
            _ => {
                let target = format.target(&path, Transport::Websocket, Some(sid), t);
                wire::ws_request(&target, &mut self.rng)
            }
        }
    }

    /// A request with a sid the server never issued (of a valid shape or not).
    fn stray_unknown_sid(&mut self, c: usize) {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let sid = match self.rng.below(3) {
            // 25 characters: never one of the generator's (20).
            0 | 1 => {
                let mut s = "unknown".to_owned();
                for _ in 0..18 {
                    s.push(char::from(*self.rng.pick(CHARS)));
                }
                s
            }
            _ => (*self.rng.pick(&["bad.sid", "x%20y", &"a".repeat(40)])).to_owned(),
        };
        trace!(self, "c{c} input: a request for unknown sid {sid}");
        self.count_input("unknown_sid");
        let req = self.request_for(c, &sid);
        let req = self.with_origin(c, req);
        self.send_stray(c, req);
    }

    /// A request with the sid of the session this client had before it reconnected, once that
    /// session is gone; false while it is not.
    fn stray_stale_sid(&mut self, c: usize) -> bool {
        let Some(old) = self.clients[c].old_sid.clone() else {
            return true;
        };
        if Sid::new(&old).is_ok_and(|s| self.host.sessions.contains_key(&s)) {
            return false;
        }
        trace!(self, "c{c} input: a request for its old session {old}");
        self.count_input("stale_sid");
        let req = self.request_for(c, &old);
        let req = self.with_origin(c, req);
        self.send_stray(c, req);
        true
    }

    /// A CORS preflight, with the client's sid or none.
    fn stray_preflight(&mut self, c: usize) {
        let format = self.clients[c].plan.format;
        let sid = self.clients[c].sid.clone().filter(|_| self.rng.chance(0.5));
        let path = self.config.server.path.clone();
        let t = self.cache_buster();
        let target = format.target(&path, Transport::Polling, sid.as_deref(), t);
        let mut req = wire::http_request(Method::OPTIONS, &target, None, Bytes::new(), None);
        let origin = match self.clients[c].plan.origin {
            Some(o) => o,
            None => *self.rng.pick(&ORIGINS),
        };
        let h = req.headers_mut();
        h.insert(header::ORIGIN, HeaderValue::from_static(origin));
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        if self.rng.chance(0.5) {
            h.insert(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_static("content-type"),
            );
        }
        trace!(self, "c{c} input: a preflight");
        self.count_input("preflight");
        self.send_stray(c, req);
    }

    /// A WebSocket request from an origin CORS does not allow, for the client's session or a
    /// new one (only where the run's CORS policy names its origins: elsewhere it would be
    /// served).
    fn stray_cross_site(&mut self, c: usize) {
        const EVIL: &str = "https://evil.test";
        if !inputs::refuses_websocket(self.config.server.cors.as_ref(), Some(EVIL)) {
            return;
        }
        let format = self.clients[c].plan.format;
        let sid = self.clients[c].sid.clone().filter(|_| self.rng.chance(0.5));
        let path = self.config.server.path.clone();
        let t = self.cache_buster();
        let target = format.target(&path, Transport::Websocket, sid.as_deref(), t);
        let mut req = wire::ws_request(&target, &mut self.rng);
        req.headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_static(EVIL));
        trace!(self, "c{c} input: a cross-site WebSocket");
        self.count_input("cross_site");
        self.send_stray(c, req);
    }

    /// A wire client sends a message of exactly maxPayload bytes: a WebSocket message, or a
    /// POST body of one message; false while it cannot (not open, a POST in flight, ...).
    fn wire_at_limit(&mut self, c: usize) -> bool {
        let limit = self.config.server.max_payload;
        let cl = &self.clients[c];
        if !cl.is_open() {
            return false;
        }
        let n = cl.next_tag;
        if let Some(link) = cl.on_ws() {
            // `4` and the text: exactly the limit.
            let text = tagged(n, limit - 1);
            trace!(self, "c{c} input: a message of maxPayload on WebSocket");
            self.count_input("at_limit");
            let cl = &mut self.clients[c];
            cl.next_tag += 1;
            cl.sent.push(Message::from(text.clone()));
            self.client_raw_frame(c, link, Frame::Text(format!("4{text}").into()));
            return true;
        }
        let ready = cl.transport == Transport::Polling
            && cl.post.is_none()
            && !cl.pausing
            && cl.outbox.is_empty();
        if !ready {
            return false;
        }
        let Some((m, body, ct)) = body_at_limit(cl.plan.format, n, limit) else {
            return true;
        };
        trace!(self, "c{c} input: a POST body of maxPayload");
        self.count_input("at_limit");
        let cl = &mut self.clients[c];
        cl.next_tag += 1;
        cl.sent.push(m);
        self.client_post_body(c, body, ct);
        true
    }

    /// Our client machine's application sends a message whose packet is exactly maxPayload
    /// bytes (v4, which knows the limit, or on WebSocket: a v3 client is not told it).
    fn machine_at_limit(&mut self, c: usize) -> bool {
        let Some((open, on_ws, v4)) = self.machine_state(c) else {
            return true;
        };
        if !open || !(v4 || on_ws) || self.now >= self.send_until {
            return !open && self.clients[c].close.is_some();
        }
        let n = self.clients[c].next_tag;
        self.clients[c].next_tag += 1;
        let m = Message::from(tagged(n, self.config.server.max_payload - 1));
        trace!(self, "c{c} input: a message of maxPayload");
        self.count_input("at_limit");
        self.machine_send(c, m);
        self.machine_after_app(c);
        true
    }

    /// A wire client's slow POST (its body takes `body_delay` to upload), then a second POST
    /// that reaches the server behind it.
    pub(super) fn wire_overlapping_posts(&mut self, c: usize, body_delay: Duration) {
        trace!(self, "c{c} fault: overlapping POSTs");
        let format = self.clients[c].plan.format;
        let (body, ct) = format.encode_post(&[Packet::Noop]);
        self.client_post_body(c, body.clone(), ct);
        let Some(first) = self.clients[c].post else {
            return;
        };
        self.links[first].body_delay = body_delay;
        let path = self.config.server.path.clone();
        let sid = self.clients[c].sid.clone();
        let t = self.cache_buster();
        let target = format.target(&path, Transport::Polling, sid.as_deref(), t);
        let req = wire::http_request(Method::POST, &target, None, body, Some(ct));
        let req = self.with_origin(c, req);
        let link = self.new_link(c, LinkKind::Stray);
        self.links[link].last_up = self.links[first].last_up;
        trace!(self, "c{c} POST L{link} while L{first} uploads");
        self.send_up(
            link,
            Ev::Request {
                link,
                req: Box::new(req),
            },
        );
    }

    /// A wire client sends a message over maxPayload: on its WebSocket, or as a POST.
    pub(super) fn wire_oversized(&mut self, c: usize) {
        let limit = self.config.server.max_payload;
        let over = self.rng.range(1, 16) as usize;
        let cl = &self.clients[c];
        if let Some(link) = cl.on_ws() {
            let frame = match (cl.version(), self.rng.chance(0.5)) {
                (_, true) => Frame::Text(format!("4{}", tagged(0, limit - 1 + over)).into()),
                (ProtocolVersion::V4, false) => Frame::Binary(Bytes::from(vec![7; limit + over])),
                (ProtocolVersion::V3, false) => {
                    let mut b = vec![7; limit + over];
                    b[0] = 4;
                    Frame::Binary(Bytes::from(b))
                }
            };
            trace!(self, "c{c} fault: a message over maxPayload");
            return self.client_raw_frame(c, link, frame);
        }
        let m = Message::from(tagged(0, limit + over));
        let (body, ct) = cl.plan.format.encode_post(&[Packet::Message(m)]);
        trace!(self, "c{c} fault: a POST body over maxPayload");
        self.client_post_body(c, body, ct);
    }
}
