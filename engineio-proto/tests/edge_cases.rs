//! One named test per codec edge case of PROTOCOL.md, including each "input that broke other
//! implementations" that concerns codecs.

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{jsonp, v3_binary, v3_text, v4};
use engineio_proto::{
    ContentType, DecodeError, DecodeLimits, ErrorCode, Frame, Handshake, Packet, PayloadFormat,
    ProtocolVersion, QueryError, RequestQuery, Str, Transport,
};

const V3: ProtocolVersion = ProtocolVersion::V3;
const V4: ProtocolVersion = ProtocolVersion::V4;

fn v4_decode(body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let mut out = Vec::new();
    v4::decode(
        Bytes::copy_from_slice(body),
        &DecodeLimits::default(),
        &mut out,
    )
    .map(|()| out)
}

fn v3_text_decode(body: &str) -> Result<Vec<Packet>, DecodeError> {
    let mut out = Vec::new();
    v3_text::decode(
        Bytes::copy_from_slice(body.as_bytes()),
        &DecodeLimits::default(),
        &mut out,
    )
    .map(|()| out)
}

fn v3_binary_decode(body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let mut out = Vec::new();
    v3_binary::decode(
        Bytes::copy_from_slice(body),
        &DecodeLimits::default(),
        &mut out,
    )
    .map(|()| out)
}

fn encode_with(f: impl Fn(&[Packet], &mut BytesMut), packets: &[Packet]) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(packets, &mut out);
    out.to_vec()
}

// ---- packets --------------------------------------------------------------------------------

#[test]
fn every_packet_type_digit_decodes() {
    let cases = [
        ("0{}", Packet::Open("{}".into())),
        ("1", Packet::Close),
        ("2", Packet::ping()),
        ("3", Packet::pong()),
        ("4hello", Packet::text("hello")),
        ("5", Packet::Upgrade),
        ("6", Packet::Noop),
    ];
    for (text, packet) in cases {
        for v in [V3, V4] {
            assert_eq!(
                Packet::decode_text(text.into(), v),
                Ok(packet.clone()),
                "{text}"
            );
        }
        let mut out = BytesMut::new();
        packet.encode_text(V4, &mut out);
        assert_eq!(&out[..], text.as_bytes());
    }
}

#[test]
fn unknown_packet_types_are_errors() {
    for t in ["7", "9x", "a", "-1", " 4", "\u{1e}"] {
        assert!(
            matches!(
                Packet::decode_text(t.into(), V4),
                Err(DecodeError::UnknownPacketType { offset: 0, .. })
            ),
            "{t:?}"
        );
    }
    assert_eq!(
        Packet::decode_text("".into(), V4),
        Err(DecodeError::EmptyPacket { offset: 0 })
    );
}

#[test]
fn probe_pings_and_pongs() {
    let ping = Packet::decode_text("2probe".into(), V4).unwrap();
    assert_eq!(ping, Packet::ping_probe());
    assert!(ping.is_probe());
    assert!(Packet::pong_probe().is_probe());
    assert!(!Packet::ping().is_probe());
    assert!(!Packet::text("probe").is_probe());
    assert!(!Packet::Ping("probes".into()).is_probe());
}

#[test]
fn trailing_data_on_close_upgrade_noop_is_ignored() {
    assert_eq!(Packet::decode_text("1bye".into(), V4), Ok(Packet::Close));
    assert_eq!(Packet::decode_text("5x".into(), V4), Ok(Packet::Upgrade));
    assert_eq!(Packet::decode_text("6x".into(), V3), Ok(Packet::Noop));
}

#[test]
fn text_data_is_a_slice_of_the_input() {
    let body = Bytes::from_static(b"4hello\x1e4world");
    let mut out = Vec::new();
    v4::decode(body.clone(), &DecodeLimits::default(), &mut out).unwrap();
    let Packet::Message(engineio_proto::Message::Text(s)) = &out[1] else {
        panic!("not text")
    };
    let base = body.as_ptr() as usize;
    assert_eq!(s.as_ptr() as usize - base, 8, "not a view into the body");
}

// ---- WebSocket frames -------------------------------------------------------------------------

#[test]
fn v4_binary_frame_is_the_raw_message() {
    let f = Frame::Binary(Bytes::from_static(&[4, 1, 2]));
    assert_eq!(f.decode(V4, 100), Ok(Packet::binary(vec![4, 1, 2])));
    let mut buf = BytesMut::new();
    let f = Frame::encode(&Packet::binary(vec![4, 1, 2]), V4, &mut buf);
    assert_eq!(f, Frame::Binary(Bytes::from_static(&[4, 1, 2])));
}

#[test]
fn v3_binary_frame_has_a_type_byte() {
    let mut buf = BytesMut::new();
    let f = Frame::encode(&Packet::binary(vec![1, 2]), V3, &mut buf);
    assert_eq!(f, Frame::Binary(Bytes::from_static(&[4, 1, 2])));
    assert_eq!(f.decode(V3, 100), Ok(Packet::binary(vec![1, 2])));
    // A binary frame of another type, an unknown type, or nothing at all.
    assert_eq!(
        Frame::Binary(Bytes::from_static(&[2, 1])).decode(V3, 100),
        Err(DecodeError::BinaryNotMessage {
            packet_type: 2,
            offset: 0
        })
    );
    assert!(matches!(
        Frame::Binary(Bytes::from_static(&[9])).decode(V3, 100),
        Err(DecodeError::UnknownPacketType { byte: 9, .. })
    ));
    assert_eq!(
        Frame::Binary(Bytes::new()).decode(V3, 100),
        Err(DecodeError::EmptyPacket { offset: 0 })
    );
}

#[test]
fn base64_text_frames_decode_to_binary_messages() {
    assert_eq!(
        Frame::Text("bAQID".into()).decode(V4, 100),
        Ok(Packet::binary(vec![1, 2, 3]))
    );
    assert_eq!(
        Frame::Text("b4AQID".into()).decode(V3, 100),
        Ok(Packet::binary(vec![1, 2, 3]))
    );
}

#[test]
fn huge_websocket_frames_are_refused() {
    let big = Frame::Text(Str::from("4".repeat(1001)));
    assert_eq!(
        big.decode(V4, 1000),
        Err(DecodeError::TooLarge {
            len: 1001,
            limit: 1000
        })
    );
    let big = Frame::Binary(Bytes::from(vec![0; 1001]));
    assert!(matches!(
        big.decode(V3, 1000),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn text_frames_with_invalid_utf8_cannot_become_packets() {
    // The WebSocket layer refuses them; a `Str` cannot even be made of them.
    assert!(Str::try_from(Bytes::from_static(b"4\xc3\x28")).is_err());
    assert!(Str::try_from(Bytes::from_static(b"4\xed\xa0\x80")).is_err()); // a lone surrogate
}

// ---- v4 payloads ------------------------------------------------------------------------------

#[test]
fn v4_payload_joins_with_record_separator() {
    let packets = [
        Packet::text("hello"),
        Packet::ping(),
        Packet::binary(vec![1, 2, 3, 4]),
    ];
    let body = encode_with(v4::encode, &packets);
    assert_eq!(body, b"4hello\x1e2\x1ebAQIDBA==");
    assert_eq!(v4_decode(&body), Ok(packets.to_vec()));
}

#[test]
fn v4_empty_body_is_an_error() {
    assert_eq!(v4_decode(b""), Err(DecodeError::EmptyPayload));
}

#[test]
fn v4_lone_b_is_an_empty_binary_message() {
    assert_eq!(v4_decode(b"b"), Ok(vec![Packet::binary(Vec::new())]));
    assert_eq!(encode_with(v4::encode, &[Packet::binary(Vec::new())]), b"b");
}

#[test]
fn v4_empty_packet_between_separators_is_an_error() {
    assert_eq!(
        v4_decode(b"4a\x1e\x1e4b"),
        Err(DecodeError::EmptyPacket { offset: 3 })
    );
    assert_eq!(
        v4_decode(b"4a\x1e"),
        Err(DecodeError::EmptyPacket { offset: 3 })
    );
}

#[test]
fn v4_multibyte_and_non_bmp_text() {
    let packets = [Packet::text("€ 😀 \u{2028}"), Packet::text("")];
    let body = encode_with(v4::encode, &packets);
    assert_eq!(v4_decode(&body), Ok(packets.to_vec()));
}

#[test]
fn v4_invalid_utf8_body_is_an_error() {
    assert_eq!(
        v4_decode(b"4ab\xff"),
        Err(DecodeError::InvalidUtf8 { offset: 3 })
    );
}

// ---- strict base64 ----------------------------------------------------------------------------

#[test]
fn base64_is_decoded_strictly() {
    for bad in [
        "bAQID=",    // extra padding
        "bAQ",       // missing padding
        "bAQ=",      // non-zero trailing bits would be AQ== ... AQ= is short
        "bAR==",     // non-canonical trailing bits
        "bA-_B",     // URL-safe alphabet
        "bAQ ID",    // whitespace
        "bAQ==AQ==", // padding in the middle
    ] {
        assert!(
            matches!(
                v4_decode(bad.as_bytes()),
                Err(DecodeError::InvalidBase64 { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(v4_decode(b"bAQ=="), Ok(vec![Packet::binary(vec![1])]));
}

// ---- v3 text payloads -------------------------------------------------------------------------

#[test]
fn v3_lengths_count_utf16_code_units() {
    // "€" is one UTF-16 unit (three UTF-8 bytes), "😀" is two (four bytes).
    assert_eq!(
        encode_with(v3_text::encode, &[Packet::text("€")]),
        "2:4€".as_bytes()
    );
    assert_eq!(
        encode_with(v3_text::encode, &[Packet::text("😀")]),
        "3:4😀".as_bytes()
    );
    assert_eq!(v3_text_decode("2:4€"), Ok(vec![Packet::text("€")]));
    assert_eq!(
        v3_text_decode("3:4😀3:4ab"),
        Ok(vec![Packet::text("😀"), Packet::text("ab")])
    );
    assert_eq!(Str::from("a€😀").utf16_len(), 4);
}

#[test]
fn v3_no_packets_encode_as_0_colon() {
    assert_eq!(encode_with(v3_text::encode, &[]), b"0:");
    assert_eq!(v3_text_decode("0:"), Ok(vec![]));
    // Zero-length records are skipped, as the reference skips them.
    assert_eq!(v3_text_decode("0:1:20:"), Ok(vec![Packet::ping()]));
}

#[test]
fn v3_base64_packets_keep_their_type_digit() {
    let body = encode_with(v3_text::encode, &[Packet::binary(vec![1, 2, 3, 4])]);
    assert_eq!(body, b"10:b4AQIDBA==");
    assert_eq!(
        v3_text_decode("10:b4AQIDBA=="),
        Ok(vec![Packet::binary(vec![1, 2, 3, 4])])
    );
    assert_eq!(
        v3_text_decode("6:b2AQ=="),
        Err(DecodeError::BinaryNotMessage {
            packet_type: 2,
            offset: 2
        })
    );
}

#[test]
fn v3_length_splitting_a_surrogate_pair_is_an_error() {
    assert_eq!(
        v3_text_decode("2:4😀"),
        Err(DecodeError::SplitSurrogate { offset: 0 })
    );
    assert_eq!(
        v3_text_decode("1:22:4😀"),
        Err(DecodeError::SplitSurrogate { offset: 3 })
    );
}

#[test]
fn v3_length_with_sign_exponent_or_junk_is_an_error() {
    for (body, offset) in [
        ("+5:4abcd", 0),
        ("-1:4", 0),
        ("1e1:4abcdefghi", 0),
        (" 5:4abcd", 0),
        ("5 :4abcd", 0),
        ("0x5:4abcd", 0),
        (":4", 0),
        ("abc", 0),
        ("5", 0),
        ("1:2junk", 3),
        ("1:21", 3),
    ] {
        assert_eq!(
            v3_text_decode(body),
            Err(DecodeError::InvalidLength { offset }),
            "{body}"
        );
    }
}

#[test]
fn v3_leading_zeros_are_plain_digits() {
    assert_eq!(v3_text_decode("06:4hello"), Ok(vec![Packet::text("hello")]));
}

#[test]
fn v3_huge_digit_runs_are_an_error_without_overflow() {
    let body = format!("{}:4", "9".repeat(5000));
    assert_eq!(
        v3_text_decode(&body),
        Err(DecodeError::InvalidLength { offset: 0 })
    );
    // Ten digits are allowed by the syntax and simply run past the end.
    assert_eq!(
        v3_text_decode("9999999999:4"),
        Err(DecodeError::LengthPastEnd { offset: 0 })
    );
}

#[test]
fn v3_length_past_the_end_is_an_error() {
    assert_eq!(
        v3_text_decode("6:4abc"),
        Err(DecodeError::LengthPastEnd { offset: 0 })
    );
    assert_eq!(
        v3_text_decode("2:4€2:4"),
        Err(DecodeError::LengthPastEnd { offset: 6 })
    );
}

#[test]
fn v3_empty_text_body_is_an_error() {
    assert_eq!(v3_text_decode(""), Err(DecodeError::EmptyPayload));
}

// ---- v3 binary payloads -----------------------------------------------------------------------

#[test]
fn v3_binary_payload_layout() {
    let packets = [Packet::text("é"), Packet::binary(vec![7; 12])];
    let body = encode_with(v3_binary::encode, &packets);
    // String record: marker 0, length 3 ("4" + two bytes of "é"), 0xFF, then the UTF-8 text.
    assert_eq!(&body[..7], &[0, 3, 0xFF, b'4', 0xC3, 0xA9, 1]);
    // Binary record: marker 1, length 13 as digits 1 3, 0xFF, type byte 4, the bytes.
    assert_eq!(&body[6..11], &[1, 1, 3, 0xFF, 4]);
    assert_eq!(v3_binary_decode(&body), Ok(packets.to_vec()));
}

#[test]
fn v3_binary_payload_errors() {
    assert_eq!(
        v3_binary_decode(&[2, 1, 0xFF, b'2']),
        Err(DecodeError::InvalidMarker { byte: 2, offset: 0 })
    );
    // A digit byte out of 0..9, a missing terminator, no digits, too many digits.
    assert_eq!(
        v3_binary_decode(&[0, 10, 0xFF, b'2']),
        Err(DecodeError::InvalidLength { offset: 0 })
    );
    assert_eq!(
        v3_binary_decode(&[0, 1]),
        Err(DecodeError::InvalidLength { offset: 0 })
    );
    assert_eq!(
        v3_binary_decode(&[0, 0xFF]),
        Err(DecodeError::InvalidLength { offset: 0 })
    );
    let mut many = vec![1];
    many.extend([9; 11]);
    many.push(0xFF);
    assert_eq!(
        v3_binary_decode(&many),
        Err(DecodeError::InvalidLength { offset: 0 })
    );
    assert_eq!(
        v3_binary_decode(&[1, 5, 0xFF, 4, 1]),
        Err(DecodeError::LengthPastEnd { offset: 0 })
    );
    assert_eq!(
        v3_binary_decode(&[0, 2, 0xFF, b'4', 0xFF]),
        Err(DecodeError::InvalidUtf8 { offset: 4 })
    );
    assert_eq!(
        v3_binary_decode(&[1, 2, 0xFF, 3, 1]),
        Err(DecodeError::BinaryNotMessage {
            packet_type: 3,
            offset: 3
        })
    );
    assert_eq!(
        v3_binary_decode(&[0, 0, 0xFF]),
        Err(DecodeError::EmptyPacket { offset: 3 })
    );
    assert_eq!(v3_binary_decode(&[]), Ok(vec![]));
}

#[test]
fn v3_format_picks_binary_only_when_needed_and_allowed() {
    let text_only = [Packet::text("a")];
    let with_binary = [Packet::text("a"), Packet::binary(vec![1])];
    let mut out = BytesMut::new();
    let xhr = PayloadFormat::V3 { binary: true };
    assert_eq!(xhr.encode(&text_only, &mut out), ContentType::Text);
    out.clear();
    assert_eq!(xhr.encode(&with_binary, &mut out), ContentType::Binary);
    out.clear();
    // b64=1: binary goes as base64 text.
    let b64 = PayloadFormat::V3 { binary: false };
    assert_eq!(b64.encode(&with_binary, &mut out), ContentType::Text);
    assert_eq!(&out[..], b"2:4a6:b4AQ==");
    assert_eq!(ContentType::Binary.as_str(), "application/octet-stream");
    assert_eq!(ContentType::Text.as_str(), "text/plain; charset=UTF-8");
}

// ---- JSONP ------------------------------------------------------------------------------------

#[test]
fn jsonp_response_is_a_script_call_with_line_separators_escaped() {
    let mut out = BytesMut::new();
    let ct = PayloadFormat::V3Jsonp { index: 12 }.encode(
        &[
            Packet::text("\"q\"\n\u{2028}\u{2029}\\\u{1}"),
            Packet::binary(vec![1]),
        ],
        &mut out,
    );
    assert_eq!(ct, ContentType::Javascript);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"___eio[12]("9:4\"q\"\n\u2028\u2029\\\u00016:b4AQ==");"#
    );
    let mut packets = Vec::new();
    let index = jsonp::decode_response(&out, &DecodeLimits::default(), &mut packets).unwrap();
    assert_eq!(index, 12);
    assert_eq!(packets[1], Packet::binary(vec![1]));
}

#[test]
fn jsonp_form_body_unescapes_newlines_like_the_reference() {
    let mut out = Vec::new();
    // The client wrote newline as `\n` and a literal `\n` as `\\n`.
    let body = b"d=6%3A4a%5Cnb%5C%5Cn";
    jsonp::decode_form_body(body, &DecodeLimits::default(), &mut out).unwrap();
    assert_eq!(out, [Packet::text("a\nb\\n")]);
    // `+` is a space in a form body.
    out.clear();
    jsonp::decode_form_body(b"d=4%3A4a+b", &DecodeLimits::default(), &mut out).unwrap();
    assert_eq!(out, [Packet::text("a b")]);
}

#[test]
fn jsonp_form_body_round_trips_through_the_client_escaping() {
    let packets = [
        Packet::text("line\nbreak \\n literal \\\\n"),
        Packet::binary(vec![0xff]),
    ];
    let body = jsonp::encode_form_body(&packets);
    let mut out = Vec::new();
    jsonp::decode_form_body(&body, &DecodeLimits::default(), &mut out).unwrap();
    assert_eq!(out, packets);
}

#[test]
fn jsonp_form_body_without_d_is_an_error() {
    let mut out = Vec::new();
    assert_eq!(
        jsonp::decode_form_body(b"x=1%3A2", &DecodeLimits::default(), &mut out),
        Err(DecodeError::MissingJsonpData)
    );
}

#[test]
fn jsonp_index_must_be_digits_only() {
    assert_eq!(RequestQuery::parse("j=3").unwrap().jsonp, Some(3));
    assert_eq!(
        RequestQuery::parse("j=4294967295").unwrap().jsonp,
        Some(u32::MAX)
    );
    for bad in [
        "j=",
        "j=abc",
        "j=1a",
        "j=-1",
        "j=4294967296",
        "j=12345678901",
        "j=%2B1",
    ] {
        assert_eq!(
            RequestQuery::parse(bad),
            Err(QueryError::InvalidJsonpIndex),
            "{bad}"
        );
    }
}

// ---- handshake --------------------------------------------------------------------------------

#[test]
fn handshake_matches_the_reference_byte_for_byte() {
    let h = Handshake {
        sid: "AAAAAAAAAAAAAAAAAAAA".into(),
        upgrades: vec![Transport::Websocket],
        ping_interval: 25000,
        ping_timeout: 20000,
        max_payload: Some(1_000_000),
    };
    assert_eq!(
        h.to_json(),
        r#"{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
    );
    let mut out = BytesMut::new();
    h.to_packet().encode_text(V4, &mut out);
    assert_eq!(out[0], b'0');
    let v3 = Handshake {
        max_payload: None,
        upgrades: vec![],
        ..h
    };
    assert_eq!(
        v3.to_json(),
        r#"{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#
    );
}

#[test]
fn handshake_decoding_is_lenient_where_peers_differ() {
    // Unknown fields and transports ignored, float times accepted, any sid accepted as is.
    let h = Handshake::from_json(
        r#"{"sid":"x-16-chars-sid_==","upgrades":["webtransport","websocket"],"pingInterval":25000.0,"pingTimeout":5000,"maxPayload":100,"extra":{"a":1}}"#,
    )
    .unwrap();
    assert_eq!(h.sid, "x-16-chars-sid_==");
    assert_eq!(h.upgrades, [Transport::Websocket]);
    assert_eq!(
        (h.ping_interval, h.ping_timeout, h.max_payload),
        (25000, 5000, Some(100))
    );
    for bad in [
        "",
        "{}",
        r#"{"sid":1,"upgrades":[],"pingInterval":1,"pingTimeout":1}"#,
        r#"{"sid":"a","upgrades":[],"pingInterval":-1,"pingTimeout":1}"#,
        r#"{"sid":"a","upgrades":"websocket","pingInterval":1,"pingTimeout":1}"#,
    ] {
        assert!(Handshake::from_json(bad).is_err(), "{bad}");
    }
}

// ---- query ------------------------------------------------------------------------------------

#[test]
fn eio_must_be_exactly_4_or_3() {
    assert_eq!(RequestQuery::parse("EIO=4").unwrap().eio, Some(V4));
    assert_eq!(RequestQuery::parse("EIO=3").unwrap().eio, Some(V3));
    for q in [
        "", "EIO=", "EIO=5", "EIO=abc", "EIO=04", "EIO=4.0", "EIO=%204", "eio=4",
    ] {
        assert_eq!(RequestQuery::parse(q).unwrap().eio, None, "{q}");
    }
}

#[test]
fn proto_transport_and_sid_are_plain_values() {
    let q = RequestQuery::parse("EIO=4&transport=__proto__&sid=__proto__").unwrap();
    assert_eq!(q.transport, None);
    assert_eq!(q.sid.as_deref(), Some("__proto__"));
    for t in ["constructor", "Polling", "websocket ", "webtransport", ""] {
        assert_eq!(Transport::from_name(t), None, "{t}");
    }
}

#[test]
fn query_parses_every_engineio_parameter() {
    let q =
        RequestQuery::parse("EIO=3&transport=websocket&sid=a%20b+c&b64=1&j=0&t=abc&x=y").unwrap();
    assert_eq!(q.eio, Some(V3));
    assert_eq!(q.transport, Some(Transport::Websocket));
    assert_eq!(q.sid.as_deref(), Some("a b c"));
    assert!(q.b64);
    assert_eq!(q.jsonp, Some(0));
    // `b64` counts when non-empty (as in the reference, where any non-empty string is truthy).
    assert!(RequestQuery::parse("b64=0").unwrap().b64);
    assert!(!RequestQuery::parse("b64=").unwrap().b64);
    // An empty sid is no sid: a handshake.
    assert_eq!(RequestQuery::parse("sid=").unwrap().sid, None);
}

#[test]
fn repeated_parameters_are_bad_requests() {
    assert_eq!(
        RequestQuery::parse("transport=polling&transport=websocket"),
        Err(QueryError::Repeated("transport"))
    );
    assert_eq!(
        RequestQuery::parse("sid=a&sid=b"),
        Err(QueryError::Repeated("sid"))
    );
    assert!(RequestQuery::parse("t=1&t=2").is_ok());
}

#[test]
fn sid_is_borrowed_when_no_decoding_is_needed() {
    let query = String::from("sid=abcdef");
    let q = RequestQuery::parse(&query).unwrap();
    assert!(matches!(q.sid, Some(std::borrow::Cow::Borrowed(_))));
}

// ---- error codes ------------------------------------------------------------------------------

#[test]
fn error_codes_render_as_the_reference() {
    let expected = [
        (0, "Transport unknown", 400),
        (1, "Session ID unknown", 400),
        (2, "Bad handshake method", 400),
        (3, "Bad request", 400),
        (4, "Forbidden", 403),
        (5, "Unsupported protocol version", 400),
    ];
    for (code, message, status) in expected {
        let e = ErrorCode::from_code(code).unwrap();
        assert_eq!(e.code(), code);
        assert_eq!(e.message(), message);
        assert_eq!(e.status(), status);
        assert_eq!(
            e.to_json(None),
            format!(r#"{{"code":{code},"message":"{message}"}}"#)
        );
        let parsed: serde_json::Value = serde_json::from_str(&e.to_json(None)).unwrap();
        assert!(parsed["code"].is_number());
    }
    assert_eq!(ErrorCode::from_code(6), None);
    assert_eq!(ErrorCode::CONTENT_TYPE, "application/json");
}

// ---- limits -----------------------------------------------------------------------------------

#[test]
fn huge_bodies_are_refused_before_decoding() {
    let limits = DecodeLimits {
        max_bytes: 10,
        max_packets: 100,
    };
    let body = Bytes::from(vec![b'6'; 11]);
    for format in [
        PayloadFormat::V4,
        PayloadFormat::V3 { binary: true },
        PayloadFormat::V3Jsonp { index: 0 },
    ] {
        for binary in [false, true] {
            let mut out = Vec::new();
            let r = format.decode(binary, body.clone(), &limits, &mut out);
            if format == PayloadFormat::V4 && binary {
                assert_eq!(r, Err(DecodeError::BinaryBodyV4));
            } else {
                assert_eq!(
                    r,
                    Err(DecodeError::TooLarge { len: 11, limit: 10 }),
                    "{format:?}"
                );
            }
        }
    }
}

#[test]
fn thousands_of_tiny_packets_are_capped() {
    let n = 100_000;
    let mut body = vec![b'6'; 2 * n - 1];
    for i in (1..body.len()).step_by(2) {
        body[i] = 0x1e;
    }
    let limits = DecodeLimits {
        max_bytes: usize::MAX,
        max_packets: 10_000,
    };
    let mut out = Vec::new();
    let r = v4::decode(Bytes::from(body.clone()), &limits, &mut out);
    assert_eq!(r, Err(DecodeError::TooManyPackets { limit: 10_000 }));
    assert!(out.is_empty());
    // Under a large enough cap, all of them decode.
    let limits = DecodeLimits {
        max_bytes: usize::MAX,
        max_packets: n,
    };
    v4::decode(Bytes::from(body), &limits, &mut out).unwrap();
    assert_eq!(out.len(), n);
    // The same for v3 text records.
    let v3 = "1:6".repeat(20_000);
    let limits = DecodeLimits {
        max_bytes: usize::MAX,
        max_packets: 10_000,
    };
    assert_eq!(
        v3_text::decode(Bytes::from(v3), &limits, &mut Vec::new()),
        Err(DecodeError::TooManyPackets { limit: 10_000 })
    );
}

#[test]
fn v4_binary_post_is_refused() {
    let mut out = Vec::new();
    assert_eq!(
        PayloadFormat::V4.decode(
            true,
            Bytes::from_static(b"4a"),
            &DecodeLimits::default(),
            &mut out
        ),
        Err(DecodeError::BinaryBodyV4)
    );
}

#[test]
fn failed_decode_delivers_no_packet_of_the_payload() {
    let mut out = vec![Packet::Noop];
    let r = v4_decode(b"4a\x1e4b\x1e9");
    assert!(r.is_err());
    let err = v4::decode(
        Bytes::from_static(b"4a\x1e4b\x1e9"),
        &DecodeLimits::default(),
        &mut out,
    );
    assert_eq!(
        err,
        Err(DecodeError::UnknownPacketType {
            byte: b'9',
            offset: 6
        })
    );
    assert_eq!(out, [Packet::Noop]);
    let err = v3_text::decode(
        Bytes::from_static(b"2:4a2:4"),
        &DecodeLimits::default(),
        &mut out,
    );
    assert!(err.is_err());
    let err = v3_binary::decode(
        Bytes::from_static(&[0, 2, 0xFF, b'4', b'a', 7]),
        &DecodeLimits::default(),
        &mut out,
    );
    assert!(err.is_err());
    assert_eq!(out, [Packet::Noop]);
}
