//! Arbitrary input sequences, application calls and clock moves fed to a server session, with
//! the machine's invariants checked after every step.

#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use engineio_proto::Message;
use engineio_session::{
    Event, Input, Instant, ReqId, Route, SendId, Server, ServerConfig, Session, Transmit, Verdict,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Input(Input),
    Send(Message),
    Close,
    Shutdown,
    Advance(u16),
}

#[derive(Arbitrary, Debug)]
struct Case {
    v3: bool,
    websocket: bool,
    b64: bool,
    jsonp: bool,
    packet_events: bool,
    ops: Vec<Op>,
}

struct Checker {
    /// Requests given to the session and not yet answered, by id.
    open: HashMap<ReqId, i32>,
    /// WebSockets the session accepted.
    sockets: Vec<ReqId>,
    closed: bool,
    last_flushed: Option<SendId>,
}

impl Checker {
    fn drain(&mut self, s: &mut Session) {
        while let Some(t) = s.poll_transmit() {
            match t {
                Transmit::Respond { req, .. } => self.answer(req),
                Transmit::AcceptWebSocket { req, .. } => {
                    self.answer(req);
                    self.sockets.push(req);
                }
                Transmit::ReadBody { req, .. } => {
                    assert!(
                        self.open.get(&req).copied().unwrap_or(0) > 0,
                        "body read for {req:?} never asked"
                    )
                }
                Transmit::WsFrame { ws, .. } | Transmit::WsClose { ws } => {
                    assert!(self.sockets.contains(&ws), "frame on {ws:?} never accepted");
                }
            }
        }
        while let Some(e) = s.poll_event() {
            assert!(!self.closed, "event after Closed: {e:?}");
            match e {
                Event::Closed(_) => self.closed = true,
                Event::Flushed { last } => {
                    assert!(
                        self.last_flushed.is_none_or(|l| last > l),
                        "Flushed went back"
                    );
                    self.last_flushed = Some(last);
                }
                _ => {}
            }
        }
        assert_eq!(s.is_closed(), self.closed);
        if self.closed {
            assert_eq!(s.poll_timeout(), None);
        }
    }

    fn answer(&mut self, req: ReqId) {
        let n = self.open.entry(req).or_default();
        *n -= 1;
        assert!(*n >= 0, "{req:?} answered more often than asked");
    }
}

fuzz_target!(|case: Case| {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        upgrade_timeout: Duration::from_millis(500),
        close_timeout: Duration::from_millis(1000),
        max_payload: 1000,
        max_buffered_packets: 8,
        max_buffered_bytes: 256,
        max_packets_per_payload: 16,
        allow_eio3: true,
        packet_events: case.packet_events,
        seed: Some(1),
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    let mut target = format!(
        "/engine.io/?EIO={}&transport={}",
        if case.v3 { 3 } else { 4 },
        if case.websocket {
            "websocket"
        } else {
            "polling"
        }
    );
    if case.b64 {
        target.push_str("&b64=1");
    }
    if case.jsonp && case.v3 {
        target.push_str("&j=1");
    }
    let mut req = http::Request::get(target);
    if case.websocket {
        req = req.header("upgrade", "websocket");
    }
    let req = req.body(()).unwrap();
    let Route::Handshake(hs) = server.route((&req).into()) else {
        panic!("handshake refused")
    };
    let first = ReqId(100);
    let (_, mut s) = server
        .accept(Instant::ZERO, hs, first, Verdict::Allow)
        .unwrap();
    let mut c = Checker {
        open: HashMap::from([(first, 1)]),
        sockets: vec![],
        closed: false,
        last_flushed: None,
    };
    let mut now = Instant::ZERO;
    c.drain(&mut s);
    for op in case.ops {
        match op {
            Op::Input(input) => {
                if let Input::Request(id, _) = &input {
                    *c.open.entry(*id).or_default() += 1;
                }
                s.handle_input(now, input);
            }
            Op::Send(m) => {
                let _ = s.send(m);
            }
            Op::Close => s.close(now),
            Op::Shutdown => s.shutdown(now),
            Op::Advance(ms) => {
                now = now + Duration::from_millis(u64::from(ms));
                while let Some(t) = s.poll_timeout().filter(|t| *t <= now) {
                    s.handle_timeout(t);
                    assert!(
                        s.poll_timeout().is_none_or(|next| next > t),
                        "timer did not move on"
                    );
                    c.drain(&mut s);
                }
                s.handle_timeout(now);
            }
        }
        c.drain(&mut s);
    }
});
