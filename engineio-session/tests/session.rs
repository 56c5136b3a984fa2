//! The session machine, behaviour by behaviour, with explicit times.

mod support;

use bytes::Bytes;
use engineio_session::proto::{ErrorCode, Frame, Message, Packet, ProtocolVersion, Transport};
use engineio_session::{
    CloseReason, Event, Input, ReqId, RequestKind, SendError, SendId, SendOptions, ServerConfig,
    Session, Transmit,
};
use support::*;

fn text(s: &str) -> Message {
    Message::from(s)
}

// ---- long-polling ---------------------------------------------------------------------------

#[test]
fn a_get_is_parked_until_there_is_data() {
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    assert!(h.response(get).is_none(), "answered with nothing to send");
    h.session.send(text("hello")).unwrap();
    h.drain();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("hello")]);
    // Sends while no GET is parked are buffered and coalesce into the next response.
    h.session.send(text("a")).unwrap();
    h.session
        .send(Message::Binary(Bytes::from_static(&[1, 2])))
        .unwrap();
    h.drain();
    let get = h.get();
    assert_eq!(
        h.packets(get).unwrap(),
        [Packet::text("a"), Packet::binary(vec![1, 2])]
    );
}

#[test]
fn a_second_get_while_one_is_parked_is_400_and_closes() {
    let mut h = Host::polling(ServerConfig::default());
    let first = h.get();
    let second = h.get();
    let r = h.response(second).unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(h.packets(first).unwrap(), [Packet::Close]);
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
    assert!(h.session.is_closed());
}

#[test]
fn post_bodies_are_read_within_max_payload_and_answered_ok() {
    let mut h = Host::polling(ServerConfig {
        max_payload: 100,
        ..ServerConfig::default()
    });
    h.take_transmits();
    let id = h.id();
    let r = h.request(RequestKind::Post { binary: false }, Transport::Polling);
    h.input(Input::Request(id, r));
    assert!(
        matches!(h.take_transmits()[..], [Transmit::ReadBody { req, limit: 100 }] if req == id)
    );
    h.input(Input::PostBody(
        id,
        Bytes::from_static(b"4one\x1e4two\x1ebAQI="),
    ));
    let r = h.response(id).unwrap();
    assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"ok"[..]));
    assert_eq!(
        header(r.headers(), "content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(
        h.messages(),
        [
            text("one"),
            text("two"),
            Message::Binary(Bytes::from_static(&[1, 2]))
        ]
    );
}

#[test]
fn an_oversize_post_is_413_and_closes_the_session() {
    // As the reference (engine.io 6: "payload too large" is a transport error).
    let mut h = Host::polling(ServerConfig::default());
    let id = h.id();
    let r = h.request(RequestKind::Post { binary: false }, Transport::Polling);
    h.input(Input::Request(id, r));
    h.input(Input::PostTooLarge(id));
    assert_eq!(h.response(id).unwrap().status(), 413);
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
    assert_eq!(
        h.session.close_description(),
        Some("a POST body over maxHttpBufferSize")
    );
    let later = h.get();
    assert_eq!(error_code(&h.response(later).unwrap()), 1);
}

#[test]
fn a_second_concurrent_post_is_400_and_closes() {
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    let first = h.id();
    let r = h.request(RequestKind::Post { binary: false }, Transport::Polling);
    h.input(Input::Request(first, r.clone()));
    let second = h.id();
    h.input(Input::Request(second, r));
    assert_eq!(h.response(second).unwrap().status(), 400);
    assert_eq!(h.packets(get).unwrap(), [Packet::Close]);
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
    // The first POST is answered too: nothing is left hanging.
    assert_eq!(h.response(first).unwrap().status(), 400);
}

#[test]
fn a_v4_binary_post_is_400_and_closes() {
    let mut h = Host::polling(ServerConfig::default());
    let id = h.id();
    let r = h.request(RequestKind::Post { binary: true }, Transport::Polling);
    h.input(Input::Request(id, r));
    assert_eq!(h.response(id).unwrap().status(), 400);
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
}

#[test]
fn a_garbage_payload_is_400_and_a_parse_error() {
    let mut h = Host::polling(ServerConfig::default());
    let id = h.post(b"4ok\x1e9bad");
    let r = h.response(id).unwrap();
    assert_eq!((r.status().as_u16(), error_code(&r)), (400, 3));
    assert!(
        h.messages().is_empty(),
        "no packet of a bad payload is delivered"
    );
    assert_eq!(h.closed_events(), [CloseReason::ParseError]);
    assert_eq!(
        h.session.close_description(),
        Some("a POST body that does not decode")
    );
}

#[test]
fn a_close_packet_closes_with_transport_close_and_stops_the_payload() {
    let mut h = Host::polling(ServerConfig::default());
    assert_eq!(h.session.close_description(), None);
    h.post(b"4a\x1e1\x1e4b");
    assert_eq!(h.messages(), [text("a")]);
    assert_eq!(h.closed_events(), [CloseReason::TransportClose]);
    assert_eq!(
        h.session.close_description(),
        Some("the client sent a close packet")
    );
}

#[test]
fn a_dropped_get_closes_with_transport_error() {
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    h.input(Input::RequestAborted(get));
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
    // Aborts of requests already answered are ignored.
    let mut h = Host::polling(ServerConfig::default());
    h.input(Input::RequestAborted(ReqId(0)));
    assert!(!h.session.is_closed());
}

#[test]
fn requests_on_the_wrong_transport_or_protocol_are_code_3() {
    let mut h = Host::polling(ServerConfig::default());
    let id = h.id();
    h.input(Input::Request(
        id,
        engineio_session::SessionRequest::new(
            RequestKind::Get,
            Transport::Websocket,
            ProtocolVersion::V4,
        ),
    ));
    assert_eq!(error_code(&h.response(id).unwrap()), 3);
    let id = h.id();
    h.input(Input::Request(
        id,
        engineio_session::SessionRequest::new(
            RequestKind::Get,
            Transport::Polling,
            ProtocolVersion::V3,
        ),
    ));
    let r = h.response(id).unwrap();
    assert_eq!(error_code(&r), 3);
    assert!(!h.session.is_closed());
    // Each refusal is told to the application (the session goes on) and to the host, in the
    // response's extensions, for its `connection_error`.
    let refused: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { code, context } => Some((*code, *context)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        [
            (ErrorCode::BadRequest, "TRANSPORT_MISMATCH"),
            (ErrorCode::BadRequest, "PROTOCOL_MISMATCH")
        ]
    );
    assert_eq!(
        r.extensions().get::<engineio_session::Refusal>(),
        Some(&engineio_session::Refusal {
            code: ErrorCode::BadRequest,
            context: "PROTOCOL_MISMATCH"
        })
    );
}

#[test]
fn text_with_a_record_separator_cannot_go_over_v4_polling() {
    let mut h = Host::polling(ServerConfig::default());
    assert_eq!(
        h.session.send(text("a\u{1e}b")),
        Err(SendError::Unencodable)
    );
    assert!(h.session.send(text("a\u{1f}b")).is_ok());
}

#[test]
fn the_send_buffer_is_bounded_and_flushes_are_reported() {
    let mut h = Host::polling(ServerConfig {
        max_buffered_packets: 3,
        max_buffered_bytes: 10,
        ..ServerConfig::default()
    });
    assert_eq!(h.session.send(text("1")), Ok(SendId(0)));
    assert_eq!(h.session.send(text("2")), Ok(SendId(1)));
    assert_eq!(
        h.session.send(text("123456789")),
        Err(SendError::Full),
        "bytes bound"
    );
    assert_eq!(h.session.send(text("3")), Ok(SendId(2)));
    assert_eq!(
        h.session.send(text("4")),
        Err(SendError::Full),
        "packets bound"
    );
    let get = h.get();
    assert_eq!(h.packets(get).unwrap().len(), 3);
    assert!(h.events.contains(&Event::Flushed { last: SendId(2) }));
    assert_eq!(h.session.send(text("4")), Ok(SendId(3)));
}

// ---- heartbeat ------------------------------------------------------------------------------

#[test]
fn v4_server_pings_and_the_pong_rearms_the_interval() {
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    h.advance_to(at(24_999));
    assert!(h.response(get).is_none());
    h.advance_to(at(25_000));
    assert_eq!(h.packets(get).unwrap(), [Packet::ping()]);
    h.advance_to(at(25_100));
    h.post(b"3");
    assert!(h.events.contains(&Event::Heartbeat));
    let get = h.get();
    h.advance_to(at(50_099));
    assert!(
        h.response(get).is_none(),
        "next ping is pingInterval after the pong"
    );
    h.advance_to(at(50_100));
    assert_eq!(h.packets(get).unwrap(), [Packet::ping()]);
    assert!(!h.session.is_closed());
}

#[test]
fn v4_no_pong_is_a_ping_timeout() {
    let mut h = Host::polling(ServerConfig::default());
    h.advance_to(at(44_999));
    assert!(h.closed_events().is_empty());
    h.advance_to(at(45_000));
    assert_eq!(h.closed_events(), [CloseReason::PingTimeout]);
    assert_eq!(
        h.session.close_description(),
        Some("no pong within pingTimeout")
    );
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn v4_other_packets_push_the_pong_deadline_back_once() {
    let mut h = Host::polling(ServerConfig::default());
    h.advance_to(at(25_000));
    h.advance_to(at(40_000));
    h.post(b"4busy uploading");
    h.advance_to(at(50_000));
    h.post(b"4again"); // only the first packet after a ping refreshes the deadline
    h.advance_to(at(59_999));
    assert!(h.closed_events().is_empty());
    h.advance_to(at(60_000));
    assert_eq!(h.closed_events(), [CloseReason::PingTimeout]);
}

#[test]
fn v4_a_client_ping_is_a_transport_error() {
    let mut h = Host::polling(ServerConfig::default());
    h.post(b"2");
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
}

#[test]
fn heartbeat_timing_follows_the_configuration() {
    let mut h = Host::polling(ServerConfig {
        ping_interval: ms(300),
        ping_timeout: ms(200),
        ..ServerConfig::default()
    });
    let get = h.get();
    h.advance_to(at(300));
    assert_eq!(h.packets(get).unwrap(), [Packet::ping()]);
    h.advance_to(at(500));
    assert_eq!(h.closed_events(), [CloseReason::PingTimeout]);
}

// ---- upgrade --------------------------------------------------------------------------------

fn probed() -> (Host, ReqId, ReqId) {
    let mut h = Host::polling(ServerConfig::default());
    h.take_transmits();
    let get = h.get();
    let ws = h.websocket();
    assert!(matches!(h.take_transmits()[..], [Transmit::AcceptWebSocket { req, .. }] if req == ws));
    h.frame(ws, "2probe");
    (h, get, ws)
}

#[test]
fn the_full_upgrade_dance() {
    let (mut h, get, ws) = probed();
    assert_eq!(h.ws_packets(ws), [Packet::pong_probe()]);
    assert!(h.events.contains(&Event::Upgrading));
    assert_eq!(
        h.packets(get).unwrap(),
        [Packet::Noop],
        "the parked GET is released at once"
    );
    // Sent before `5`: waits (no GET), then goes on the WebSocket after `5`, in order.
    h.session.send(text("m1")).unwrap();
    h.session.send(text("m2")).unwrap();
    h.drain();
    assert!(
        h.ws_packets(ws).is_empty(),
        "no data on the WebSocket before 5"
    );
    h.frame(ws, "5");
    assert_eq!(h.session.transport(), Transport::Websocket);
    assert!(h.events.contains(&Event::Upgraded));
    assert_eq!(h.ws_packets(ws), [Packet::text("m1"), Packet::text("m2")]);
    h.session.send(text("m3")).unwrap();
    h.drain();
    assert_eq!(h.ws_packets(ws), [Packet::text("m3")]);
    h.frame(ws, "4from client");
    assert_eq!(h.messages(), [text("from client")]);
    // Late polling requests are refused, the session is unharmed.
    let late = h.get();
    assert_eq!(error_code(&h.response(late).unwrap()), 3);
    // A second WebSocket is accepted and closed at once, as the reference does.
    let second = h.websocket();
    assert!(h.response(second).is_none(), "no HTTP refusal");
    assert!(h.ws_accepted(second) && h.ws_closed(second));
    assert!(!h.ws_closed(ws), "the session's WebSocket stays");
    h.input(Input::WsClosed(second));
    h.frame(ws, "4still here");
    assert_eq!(h.messages(), [text("from client"), text("still here")]);
    assert!(!h.session.is_closed());
}

#[test]
fn closing_during_a_probed_upgrade_completes_it_and_closes_over_the_websocket() {
    // The client has `3probe` and has stopped polling: the close cannot wait for a GET.
    let (mut h, get, ws) = probed();
    assert_eq!(h.packets(get).unwrap(), [Packet::Noop]);
    h.session.send(text("last")).unwrap();
    h.session.shutdown(h.now);
    h.drain();
    assert!(h.closed_events().is_empty(), "the upgrade is kept");
    h.frame(ws, "5");
    assert_eq!(
        h.ws_packets(ws),
        [Packet::pong_probe(), Packet::text("last"), Packet::Close]
    );
    assert!(h.ws_closed(ws));
    assert_eq!(h.closed_events(), [CloseReason::ServerShuttingDown]);
}

#[test]
fn closing_during_a_probed_upgrade_still_answers_a_get_and_drops_the_probe() {
    // The client still polls (it has not read its noop yet): the GET gets the close packet,
    // and the probe WebSocket is closed with the session.
    let (mut h, get, ws) = probed();
    let _ = h.packets(get);
    h.session.close(h.now);
    h.drain();
    let get = h.get();
    assert_eq!(h.packets(get).unwrap(), [Packet::Close]);
    assert!(h.ws_closed(ws));
    assert_eq!(h.closed_events(), [CloseReason::ForcedClose]);
}

#[test]
fn closing_before_the_probe_aborts_the_upgrade() {
    let mut h = Host::polling(ServerConfig::default());
    h.take_transmits();
    let ws = h.websocket();
    h.take_transmits();
    h.session.close(h.now);
    h.drain();
    assert!(h.ws_closed(ws), "an unprobed upgrade ends with the close");
    let get = h.get();
    assert_eq!(h.packets(get).unwrap(), [Packet::Close]);
    assert_eq!(h.closed_events(), [CloseReason::ForcedClose]);
}

#[test]
fn polls_during_an_upgrade_get_noops_every_100_ms() {
    let (mut h, get, _ws) = probed();
    let _ = h.packets(get);
    let get = h.get();
    assert!(h.response(get).is_none());
    h.advance_to(at(100));
    assert_eq!(h.packets(get).unwrap(), [Packet::Noop]);
    // Data queued while upgrading goes out on a poll at once.
    let get = h.get();
    h.session.send(text("x")).unwrap();
    h.drain();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("x")]);
}

#[test]
fn a_second_websocket_during_an_upgrade_is_accepted_then_closed() {
    let (mut h, _get, ws) = probed();
    let other = h.websocket();
    assert!(h.response(other).is_none(), "no HTTP refusal");
    assert!(h.ws_accepted(other) && h.ws_closed(other));
    // Frames on it change nothing; the probed upgrade completes.
    h.frame(other, "5");
    h.input(Input::WsClosed(other));
    assert!(h.session.is_upgrading());
    h.frame(ws, "5");
    assert_eq!(h.session.transport(), Transport::Websocket);
    assert!(!h.ws_closed(ws));
}

#[test]
fn a_websocket_on_a_closing_polling_session_is_refused_before_any_101() {
    let mut h = Host::polling(ServerConfig::default());
    h.take_transmits();
    h.session.close(h.now);
    h.drain();
    let ws = h.websocket();
    assert_eq!(error_code(&h.response(ws).unwrap()), 3);
    assert!(!h.ws_accepted(ws));
}

#[test]
fn a_close_packet_posted_while_a_get_is_parked_answers_it_with_a_noop() {
    // The reference's polling transport: the parked poll gets `6`, the POST `ok`, the
    // session ends with `transport close`, and a later GET gets code 1.
    let mut h = Host::polling(ServerConfig::default());
    h.take_transmits();
    let get = h.get();
    assert!(h.response(get).is_none(), "parked");
    let post = h.post(b"1");
    assert_eq!(h.response(post).unwrap().body(), "ok");
    assert_eq!(h.packets(get).unwrap(), [Packet::Noop]);
    assert_eq!(h.closed_events(), [CloseReason::TransportClose]);
    let later = h.get();
    assert_eq!(error_code(&h.response(later).unwrap()), 1);
}

#[test]
fn an_upgrade_without_5_times_out_and_heartbeats_go_on() {
    let (mut h, _get, ws) = probed();
    h.advance_to(at(10_000));
    assert!(h.ws_closed(ws));
    assert!(h.events.contains(&Event::UpgradeAborted(
        "the probe did not complete within upgradeTimeout"
    )));
    assert!(!h.session.is_upgrading());
    assert_eq!(h.session.transport(), Transport::Polling);
    let get = h.get();
    h.advance_to(at(25_000));
    assert_eq!(
        h.packets(get).unwrap(),
        [Packet::ping()],
        "heartbeat not paused"
    );
    h.frame(ws, "5");
    assert_eq!(
        h.session.transport(),
        Transport::Polling,
        "a late 5 does nothing"
    );
}

#[test]
fn a_websocket_killed_mid_probe_leaves_polling_working() {
    let (mut h, _get, ws) = probed();
    h.input(Input::WsClosed(ws));
    assert!(h
        .events
        .contains(&Event::UpgradeAborted("the probe's WebSocket closed")));
    let get = h.get();
    h.session.send(text("still here")).unwrap();
    h.drain();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("still here")]);
    // And a new upgrade may start.
    let ws2 = h.websocket();
    assert!(h
        .take_transmits()
        .iter()
        .any(|t| matches!(t, Transmit::AcceptWebSocket { req, .. } if *req == ws2)));
}

#[test]
fn anything_but_probe_then_5_aborts_the_upgrade() {
    for first in ["5", "4data", "2", "garbage"] {
        let mut h = Host::polling(ServerConfig::default());
        let ws = h.websocket();
        h.frame(ws, first);
        assert!(h.ws_closed(ws), "{first}");
        assert!(
            h.events.contains(&Event::UpgradeAborted(
                "the probe sent an unexpected packet"
            )),
            "{first}"
        );
        assert!(!h.session.is_closed());
    }
}

#[test]
fn no_upgrade_when_upgrades_are_off() {
    let mut h = Host::polling(ServerConfig {
        allow_upgrades: false,
        ..ServerConfig::default()
    });
    let ws = h.websocket();
    assert_eq!(error_code(&h.response(ws).unwrap()), 3);
}

// ---- WebSocket sessions ---------------------------------------------------------------------

fn on_websocket(config: ServerConfig) -> (Host, ReqId) {
    let (mut h, get, ws) = {
        let mut h = Host::polling(config);
        let get = h.get();
        let ws = h.websocket();
        h.frame(ws, "2probe");
        (h, get, ws)
    };
    let _ = h.packets(get);
    h.frame(ws, "5");
    h.take_transmits();
    h.take_events();
    (h, ws)
}

#[test]
fn websocket_frames_carry_text_and_binary() {
    let (mut h, ws) = on_websocket(ServerConfig::default());
    h.input(Input::WsFrame(
        ws,
        Frame::Binary(Bytes::from_static(&[9, 9])),
    ));
    h.frame(ws, "4é😀");
    assert_eq!(
        h.messages(),
        [Message::Binary(Bytes::from_static(&[9, 9])), text("é😀")]
    );
    h.session
        .send(Message::Binary(Bytes::from_static(&[1])))
        .unwrap();
    h.session.send(text("a\u{1e}b")).unwrap(); // fine on WebSocket
    h.drain();
    assert!(
        matches!(&h.transmits[0], Transmit::WsFrame { frame: Frame::Binary(b), .. } if b[..] == [1])
    );
    assert_eq!(h.ws_packets(ws)[1], Packet::text("a\u{1e}b"));
}

#[test]
fn compress_false_reaches_each_websocket_message() {
    // Messages queued while polling (some with `compress: false`) go over the WebSocket
    // once upgraded, each with its own flag.
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    let ws = h.websocket();
    h.frame(ws, "2probe");
    let _ = h.packets(get);
    let flag = SendOptions::compress;
    for (m, compress) in [("a", true), ("b", false), ("c", false), ("d", true)] {
        h.session.send_with(text(m), flag(compress)).unwrap();
    }
    h.frame(ws, "5");
    h.session.send_with(text("e"), flag(false)).unwrap();
    h.session.send(text("f")).unwrap();
    h.drain();
    let flags: Vec<(Frame, bool)> = h
        .transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::WsFrame {
                frame, compress, ..
            } => Some((frame.clone(), *compress)),
            _ => None,
        })
        .collect();
    let expected = [
        ("4a", true),
        ("4b", false),
        ("4c", false),
        ("4d", true),
        ("4e", false),
        ("4f", true),
    ];
    let got: Vec<(String, bool)> = flags
        .iter()
        .filter_map(|(f, c)| match f {
            Frame::Text(t) if t.starts_with('4') => Some((t.to_string(), *c)),
            _ => None,
        })
        .collect();
    let expected: Vec<(String, bool)> = expected.iter().map(|(t, c)| (t.to_string(), *c)).collect();
    assert_eq!(got, expected);
}

#[test]
fn websocket_close_and_bad_frames() {
    let (mut h, ws) = on_websocket(ServerConfig::default());
    h.input(Input::WsClosed(ws));
    assert_eq!(h.closed_events(), [CloseReason::TransportClose]);
    assert!(
        !h.ws_closed(ws),
        "no close sent on a socket the peer closed"
    );

    let (mut h, ws) = on_websocket(ServerConfig::default());
    h.frame(ws, "x");
    assert_eq!(h.closed_events(), [CloseReason::ParseError]);
    assert!(h.ws_closed(ws));

    let (mut h, ws) = on_websocket(ServerConfig {
        max_payload: 10,
        ..ServerConfig::default()
    });
    h.frame(ws, "4 more than ten bytes");
    assert_eq!(h.closed_events(), [CloseReason::TransportError]);
}

// ---- closing --------------------------------------------------------------------------------

#[test]
fn close_on_polling_sends_queued_data_then_the_close_packet() {
    let mut h = Host::polling(ServerConfig::default());
    let get = h.get();
    let _ = &get;
    h.session.send(text("bye")).unwrap();
    h.drain();
    let _ = h.packets(get);
    h.session.send(text("last")).unwrap();
    h.session.close(h.now);
    h.drain();
    assert!(
        h.closed_events().is_empty(),
        "waits for a GET to carry the close"
    );
    assert_eq!(h.session.send(text("late")), Err(SendError::Closed));
    let get = h.get();
    assert_eq!(
        h.packets(get).unwrap(),
        [Packet::text("last"), Packet::Close]
    );
    assert_eq!(h.closed_events(), [CloseReason::ForcedClose]);
}

#[test]
fn close_on_polling_gives_up_after_close_timeout() {
    let mut h = Host::polling(ServerConfig::default());
    h.session.close(h.now);
    h.drain();
    h.advance_to(at(29_999));
    assert!(h.closed_events().is_empty());
    h.advance_to(at(30_000));
    assert_eq!(h.closed_events(), [CloseReason::ForcedClose]);
}

#[test]
fn close_and_shutdown_on_websocket() {
    let (mut h, ws) = on_websocket(ServerConfig::default());
    h.session.send(text("last")).unwrap();
    h.session.shutdown(h.now);
    h.drain();
    assert_eq!(h.ws_packets(ws), [Packet::text("last")]);
    assert!(h.ws_closed(ws));
    assert_eq!(h.closed_events(), [CloseReason::ServerShuttingDown]);
    assert_eq!(
        CloseReason::ServerShuttingDown.as_str(),
        "server shutting down"
    );
}

#[test]
fn exactly_one_closed_event_and_code_1_afterwards() {
    let mut h = Host::polling(ServerConfig::default());
    h.post(b"1");
    h.session.close(h.now);
    h.advance_to(at(100_000));
    h.input(Input::WsClosed(ReqId(77)));
    assert_eq!(h.closed_events(), [CloseReason::TransportClose]);
    let get = h.get();
    assert_eq!(error_code(&h.response(get).unwrap()), 1);
    assert!(h.session.poll_timeout().is_none());
}

#[test]
fn close_reasons_are_spelled_as_the_reference() {
    let all = [
        (CloseReason::TransportClose, "transport close"),
        (CloseReason::TransportError, "transport error"),
        (CloseReason::PingTimeout, "ping timeout"),
        (CloseReason::ParseError, "parse error"),
        (CloseReason::ForcedClose, "forced close"),
        (CloseReason::ServerShuttingDown, "server shutting down"),
    ];
    for (r, s) in all {
        assert_eq!(r.as_str(), s);
    }
}

#[test]
fn handle_timeout_with_nothing_due_does_nothing() {
    let mut h = Host::polling(ServerConfig::default());
    h.take_transmits();
    h.take_events();
    let before = h.session.poll_timeout();
    h.session.handle_timeout(at(1));
    h.drain();
    assert!(h.transmits.is_empty() && h.events.is_empty());
    assert_eq!(h.session.poll_timeout(), before);
}

#[test]
fn packet_events_when_asked() {
    let mut h = Host::polling(ServerConfig {
        packet_events: true,
        ..ServerConfig::default()
    });
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::PacketOut(Packet::Open(_)))));
    h.post(b"4x");
    assert!(h.events.contains(&Event::PacketIn(Packet::text("x"))));
    let mut quiet = Host::polling(ServerConfig::default());
    quiet.post(b"4x");
    assert!(!quiet
        .events
        .iter()
        .any(|e| matches!(e, Event::PacketIn(_) | Event::PacketOut(_))));
}

#[test]
fn idle_session_state_is_small() {
    let size = std::mem::size_of::<Session>();
    println!("size_of::<Session>() = {size} bytes");
    assert!(size < 1024, "{size}");
}

#[test]
fn the_initial_packet_alone_in_a_response_reports_no_flush() {
    // One packet per response: the initial packet (no send id) goes alone, then message 0.
    let mut h = Host::polling(ServerConfig {
        max_packets_per_response: 1,
        initial_packet: Some("welcome".into()),
        ..ServerConfig::default()
    });
    let _open = h.take_transmits();
    h.session.send(text("m0")).unwrap();
    h.drain();
    let get = h.get();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("welcome")]);
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Flushed { .. })),
        "{:?}",
        h.events
    );
    let get = h.get();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("m0")]);
    assert!(h.events.contains(&Event::Flushed { last: SendId(0) }));
}

#[test]
fn responses_can_be_capped_in_packets() {
    let mut h = Host::polling(ServerConfig {
        max_packets_per_response: 2,
        ..ServerConfig::default()
    });
    for m in ["1", "2", "3"] {
        h.session.send(text(m)).unwrap();
    }
    h.drain();
    let get = h.get();
    assert_eq!(
        h.packets(get).unwrap(),
        [Packet::text("1"), Packet::text("2")]
    );
    assert!(h.events.contains(&Event::Flushed { last: SendId(1) }));
    let get = h.get();
    assert_eq!(h.packets(get).unwrap(), [Packet::text("3")]);
    assert!(h.events.contains(&Event::Flushed { last: SendId(2) }));
}

#[test]
fn a_post_that_comes_after_the_servers_own_close_is_taken() {
    // Closed by the application or by shutdown, on polling: the close packet goes to the
    // parked GET, and a POST the client sent meanwhile gets `ok`, not "Session ID unknown".
    for shutdown in [false, true] {
        let mut h = Host::polling(ServerConfig::default());
        let get = h.get();
        if shutdown {
            h.session.shutdown(at(10));
        } else {
            h.session.close(at(10));
        }
        h.drain();
        assert_eq!(h.packets(get).unwrap(), [Packet::Close]);
        assert!(h.session.is_closed());
        let late = h.post(b"3");
        let r = h.response(late).unwrap();
        assert_eq!((r.status().as_u16(), r.body().as_ref()), (200, &b"ok"[..]));
        // A GET is not: the close packet went out already.
        let again = h.get();
        assert_eq!(error_code(&h.response(again).unwrap()), 1);
    }
    // A POST whose body is still being read when the server closes the session: taken too.
    for shutdown in [false, true] {
        let mut h = Host::polling(ServerConfig::default());
        let get = h.get();
        let post = h.id();
        let r = h.request(RequestKind::Post { binary: false }, Transport::Polling);
        h.input(Input::Request(post, r));
        if shutdown {
            h.session.shutdown(at(10));
        } else {
            h.session.close(at(10));
        }
        h.drain();
        assert_eq!(h.packets(get).unwrap(), [Packet::Close]);
        let r = h.response(post).unwrap();
        assert_eq!((r.status().as_u16(), r.body().as_ref()), (200, &b"ok"[..]));
    }
    // Closed by the client (or the network): the reference's 400 for a POST.
    let mut h = Host::polling(ServerConfig::default());
    let _ = h.post(b"1");
    assert_eq!(h.closed_events(), [CloseReason::TransportClose]);
    let late = h.post(b"3");
    assert_eq!(error_code(&h.response(late).unwrap()), 1);
}
