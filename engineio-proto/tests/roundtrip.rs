//! Property tests: every packet sequence survives every encoding, and no input makes a decoder
//! panic.

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{jsonp, v3_binary, v3_text, v4};
use engineio_proto::{
    DecodeLimits, Frame, Handshake, Message, Packet, PayloadFormat, ProtocolVersion, RequestQuery,
    Str,
};
use proptest::prelude::*;

const LIMITS: DecodeLimits = DecodeLimits::UNLIMITED;

/// Text with a bias towards what breaks codecs: multibyte and non-BMP characters, digits,
/// colons, quotes, backslashes, control characters and the line separators.
fn text(allow_record_separator: bool) -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('€'),
        Just('😀'),
        Just('\u{10FFFF}'),
        Just(':'),
        Just('"'),
        Just('\\'),
        Just('\n'),
        Just('\u{2028}'),
        Just('\u{2029}'),
        Just('\0'),
        Just('b'),
        Just('4'),
    ];
    let ch = prop_oneof![3 => any::<char>(), 2 => special, 5 => proptest::char::range(' ', '~')];
    proptest::collection::vec(ch, 0..40).prop_map(move |cs| {
        cs.into_iter()
            .filter(|&c| allow_record_separator || c != '\u{1e}')
            .collect()
    })
}

fn packet(allow_record_separator: bool) -> impl Strategy<Value = Packet> {
    let t = move || text(allow_record_separator).prop_map(Str::from);
    prop_oneof![
        1 => t().prop_map(Packet::Open),
        1 => Just(Packet::Close),
        1 => t().prop_map(Packet::Ping),
        1 => t().prop_map(Packet::Pong),
        1 => Just(Packet::ping_probe()),
        5 => t().prop_map(|s| Packet::Message(Message::Text(s))),
        5 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Packet::binary),
        1 => Just(Packet::Upgrade),
        1 => Just(Packet::Noop),
    ]
}

fn packets(min: usize, allow_record_separator: bool) -> impl Strategy<Value = Vec<Packet>> {
    proptest::collection::vec(packet(allow_record_separator), min..12)
}

fn decode_with(
    decode: impl Fn(Bytes, &DecodeLimits, &mut Vec<Packet>) -> Result<(), engineio_proto::DecodeError>,
    body: BytesMut,
) -> Vec<Packet> {
    let mut out = Vec::new();
    decode(body.freeze(), &LIMITS, &mut out).expect("our own encoding must decode");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// v4 payloads cannot carry U+001E inside text (it is the separator, unescaped in the
    /// protocol), so those sequences are left to the WebSocket test below.
    #[test]
    fn v4_payload_round_trips(ps in packets(1, false)) {
        let mut body = BytesMut::new();
        v4::encode(&ps, &mut body);
        prop_assert_eq!(decode_with(v4::decode, body), ps);
    }

    #[test]
    fn v3_text_payload_round_trips(ps in packets(0, true)) {
        let mut body = BytesMut::new();
        v3_text::encode(&ps, &mut body);
        prop_assert_eq!(decode_with(v3_text::decode, body), ps);
    }

    #[test]
    fn v3_binary_payload_round_trips(ps in packets(0, true)) {
        let mut body = BytesMut::new();
        v3_binary::encode(&ps, &mut body);
        prop_assert_eq!(decode_with(v3_binary::decode, body), ps);
    }

    #[test]
    fn jsonp_round_trips_both_ways(ps in packets(0, true), index in 0u32..999_999_999) {
        let mut body = BytesMut::new();
        PayloadFormat::V3Jsonp { index }.encode(&ps, &mut body);
        // The response is valid JavaScript string syntax: no raw line terminators inside.
        prop_assert!(!body.iter().any(|&b| b == b'\n' || b == b'\r'));
        let mut out = Vec::new();
        prop_assert_eq!(jsonp::decode_response(&body, &LIMITS, &mut out), Ok(index));
        prop_assert_eq!(&out, &ps);
        // The v3 client's newline escaping is ambiguous for a backslash followed by a newline
        // (it arrives as a backslash and `n`, in the reference too): outside the round trip.
        let ambiguous = ps.iter().any(|p| matches!(p, Packet::Message(Message::Text(s)) | Packet::Ping(s) | Packet::Pong(s) | Packet::Open(s) if s.contains("\\\n")));
        prop_assume!(!ambiguous);
        let form = jsonp::encode_form_body(&ps);
        out.clear();
        jsonp::decode_form_body(&form, &LIMITS, &mut out).unwrap();
        prop_assert_eq!(out, ps);
    }

    #[test]
    fn every_format_round_trips(ps in packets(1, false), binary_body in any::<bool>()) {
        for format in [
            PayloadFormat::V4,
            PayloadFormat::V3 { binary: true },
            PayloadFormat::V3 { binary: false },
            PayloadFormat::V3Jsonp { index: 7 },
        ] {
            let mut body = BytesMut::new();
            let ct = format.encode(&ps, &mut body);
            let is_binary = ct == engineio_proto::ContentType::Binary;
            let _ = binary_body;
            let mut out = Vec::new();
            let body = body.freeze();
            match format {
                PayloadFormat::V3Jsonp { .. } => {
                    jsonp::decode_response(&body, &LIMITS, &mut out).unwrap();
                }
                _ => format.decode(is_binary, body, &LIMITS, &mut out).unwrap(),
            }
            prop_assert_eq!(&out, &ps, "{:?}", format);
        }
    }

    #[test]
    fn frames_round_trip(ps in packets(1, true)) {
        let mut buf = BytesMut::new();
        for v in [ProtocolVersion::V4, ProtocolVersion::V3] {
            for p in &ps {
                let frame = Frame::encode(p, v, &mut buf);
                prop_assert_eq!(matches!(frame, Frame::Binary(_)), p.is_binary());
                prop_assert_eq!(&frame.decode(v, usize::MAX).unwrap(), p);
            }
        }
    }

    #[test]
    fn text_form_round_trips(p in packet(true)) {
        for v in [ProtocolVersion::V4, ProtocolVersion::V3] {
            let mut out = BytesMut::new();
            p.encode_text(v, &mut out);
            prop_assert_eq!(out.len(), p.encoded_text_len(v));
            let s = Str::try_from(out.freeze()).unwrap();
            prop_assert_eq!(&Packet::decode_text(s, v).unwrap(), &p);
        }
    }

    #[test]
    fn utf16_len_matches_std(s in text(true)) {
        prop_assert_eq!(Str::from(s.as_str()).utf16_len(), s.encode_utf16().count());
    }

    #[test]
    fn handshake_round_trips(
        sid in "[A-Za-z0-9_=-]{0,24}",
        ws in any::<bool>(),
        ping_interval in any::<u32>(),
        ping_timeout in any::<u32>(),
        max_payload in proptest::option::of(any::<u64>()),
    ) {
        let h = Handshake {
            sid,
            upgrades: if ws { vec![engineio_proto::Transport::Websocket] } else { vec![] },
            ping_interval: u64::from(ping_interval),
            ping_timeout: u64::from(ping_timeout),
            max_payload,
        };
        prop_assert_eq!(Handshake::from_json(&h.to_json()).unwrap(), h);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        max_packets in 0usize..8,
    ) {
        let limits = DecodeLimits { max_bytes: 150, max_packets };
        let body = Bytes::from(bytes.clone());
        let mut out = vec![Packet::Noop];
        for format in [PayloadFormat::V4, PayloadFormat::V3 { binary: true }, PayloadFormat::V3Jsonp { index: 1 }] {
            for binary in [false, true] {
                let before = out.len();
                if format.decode(binary, body.clone(), &limits, &mut out).is_err() {
                    prop_assert_eq!(out.len(), before);
                } else {
                    prop_assert!(out.len() - before <= max_packets);
                }
            }
        }
        let _ = jsonp::decode_response(&bytes, &limits, &mut out);
        for v in [ProtocolVersion::V4, ProtocolVersion::V3] {
            let _ = Frame::Binary(body.clone()).decode(v, 150);
            let _ = Packet::decode_binary_v3(body.clone());
            if let Ok(s) = Str::try_from(body.clone()) {
                let _ = Frame::Text(s.clone()).decode(v, 150);
                let _ = Handshake::from_json(&s);
                let _ = RequestQuery::parse(&s);
            }
        }
    }

    #[test]
    fn decoders_never_panic_on_near_valid_payloads(
        ps in packets(1, true),
        cut in any::<proptest::sample::Index>(),
        flip in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
    ) {
        for format in [PayloadFormat::V4, PayloadFormat::V3 { binary: true }, PayloadFormat::V3 { binary: false }] {
            let mut body = BytesMut::new();
            let ct = format.encode(&ps, &mut body);
            let mut bytes = body.to_vec();
            let i = flip.index(bytes.len());
            bytes[i] = byte;
            bytes.truncate(cut.index(bytes.len() + 1));
            let mut out = Vec::new();
            let _ = format.decode(ct == engineio_proto::ContentType::Binary, Bytes::from(bytes), &LIMITS, &mut out);
        }
    }
}
