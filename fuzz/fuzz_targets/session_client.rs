//! Arbitrary server behaviour fed to a client machine: responses to its requests (valid
//! payloads or garbage), WebSocket events, clock moves and application calls.

#![no_main]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use engineio_proto::{
    Frame, Handshake, Message, Packet, PayloadFormat, ProtocolVersion, Transport,
};
use engineio_session::{
    ClientConfig, ClientEvent, ClientInput, ClientSession, ClientTransmit, Instant, ReqId,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Body {
    /// The handshake, well formed.
    Open,
    /// A valid payload of these packets.
    Packets(Vec<Packet>),
    /// Anything.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Answer the `n`th request made so far (ids are the machine's, so pick among them).
    Respond {
        n: u8,
        status: u16,
        body: Body,
    },
    Fail {
        n: u8,
    },
    WsOpened {
        n: u8,
    },
    WsFrame {
        n: u8,
        packet: Packet,
    },
    WsGarbage {
        n: u8,
        bytes: Vec<u8>,
    },
    WsClosed {
        n: u8,
    },
    Send(Message),
    Close,
    Advance(u16),
}

#[derive(Debug)]
struct Case {
    v3: bool,
    websocket_first: bool,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Case {
            v3: u.arbitrary()?,
            websocket_first: u.arbitrary()?,
            ops: u.arbitrary()?,
        })
    }
}

fuzz_target!(|case: Case| {
    let version = if case.v3 {
        ProtocolVersion::V3
    } else {
        ProtocolVersion::V4
    };
    let mut config = ClientConfig::new("http://fuzz.test".parse().unwrap());
    config.version = version;
    if case.websocket_first {
        config.transports = vec![Transport::Websocket];
    }
    let mut c = ClientSession::new(Instant::ZERO, config);
    let mut ids: Vec<ReqId> = Vec::new();
    let mut closed = false;
    let mut now = Instant::ZERO;
    let format = match version {
        ProtocolVersion::V4 => PayloadFormat::V4,
        ProtocolVersion::V3 => PayloadFormat::V3 { binary: false },
    };
    let handshake = Handshake {
        sid: "FUZZ".into(),
        upgrades: vec![Transport::Websocket],
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: (version == ProtocolVersion::V4).then_some(100),
    }
    .to_packet();
    let pick = |ids: &[ReqId], n: u8| ids.get(usize::from(n) % ids.len().max(1)).copied();
    let drain = |c: &mut ClientSession, ids: &mut Vec<ReqId>, closed: &mut bool| {
        while let Some(t) = c.poll_transmit() {
            match t {
                ClientTransmit::HttpRequest { req, .. }
                | ClientTransmit::WsConnect { ws: req, .. } => {
                    assert!(!ids.contains(&req), "request id reused");
                    ids.push(req);
                }
                ClientTransmit::WsFrame { ws, .. } | ClientTransmit::WsClose { ws } => {
                    assert!(ids.contains(&ws), "frame on an unknown WebSocket");
                }
            }
        }
        while let Some(e) = c.poll_event() {
            assert!(!*closed, "event after Closed: {e:?}");
            if let ClientEvent::Closed { .. } = e {
                *closed = true;
            }
        }
        assert_eq!(c.is_closed(), *closed);
        if *closed {
            assert_eq!(c.poll_timeout(), None);
        }
    };
    drain(&mut c, &mut ids, &mut closed);
    for op in case.ops {
        match op {
            Op::Respond { n, status, body } => {
                let Some(req) = pick(&ids, n) else { continue };
                let body = match body {
                    Body::Open => {
                        let mut b = BytesMut::new();
                        format.encode(&[handshake.clone()], &mut b);
                        b.freeze()
                    }
                    Body::Packets(p) => {
                        let mut b = BytesMut::new();
                        format.encode(&p, &mut b);
                        b.freeze()
                    }
                    Body::Raw(r) => Bytes::from(r),
                };
                let status = if status % 4 == 0 { status } else { 200 };
                c.handle_input(
                    now,
                    ClientInput::HttpResponse {
                        req,
                        status,
                        headers: http::HeaderMap::new(),
                        body,
                    },
                );
            }
            Op::Fail { n } => {
                if let Some(req) = pick(&ids, n) {
                    c.handle_input(now, ClientInput::HttpFailed { req });
                }
            }
            Op::WsOpened { n } => {
                if let Some(ws) = pick(&ids, n) {
                    c.handle_input(
                        now,
                        ClientInput::WsOpened {
                            ws,
                            headers: http::HeaderMap::new(),
                        },
                    );
                }
            }
            Op::WsFrame { n, packet } => {
                if let Some(ws) = pick(&ids, n) {
                    let packet = if let Packet::Open(_) = packet {
                        handshake.clone()
                    } else {
                        packet
                    };
                    let frame = Frame::encode(&packet, version, &mut BytesMut::new());
                    c.handle_input(now, ClientInput::WsFrame { ws, frame });
                }
            }
            Op::WsGarbage { n, bytes } => {
                if let Some(ws) = pick(&ids, n) {
                    c.handle_input(
                        now,
                        ClientInput::WsFrame {
                            ws,
                            frame: Frame::Binary(Bytes::from(bytes)),
                        },
                    );
                }
            }
            Op::WsClosed { n } => {
                if let Some(ws) = pick(&ids, n) {
                    c.handle_input(now, ClientInput::WsClosed { ws });
                }
            }
            Op::Send(m) => {
                let _ = c.send(m);
            }
            Op::Close => c.close(now),
            Op::Advance(ms) => {
                now = now + Duration::from_millis(u64::from(ms));
                while let Some(t) = c.poll_timeout().filter(|t| *t <= now) {
                    c.handle_timeout(t);
                    assert!(
                        c.poll_timeout().is_none_or(|next| next > t),
                        "timer did not move on"
                    );
                    drain(&mut c, &mut ids, &mut closed);
                }
            }
        }
        drain(&mut c, &mut ids, &mut closed);
    }
});
