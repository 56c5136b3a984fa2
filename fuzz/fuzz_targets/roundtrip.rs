//! Arbitrary packets (via the `arbitrary` feature) encoded through every `PayloadFormat`, every
//! payload flavour directly, the JSONP form body, and WebSocket frames in both versions;
//! decoded back under limits exactly as large as the encoding, and compared.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{jsonp, v3_binary, v3_text, v4};
use engineio_proto::{ContentType, DecodeError, DecodeLimits, Packet, PayloadFormat};
use engineio_proto_fuzz::{check_packet_roundtrip, sentinel, text_data, VERSIONS};
use libfuzzer_sys::fuzz_target;

/// Decodes `body` with limits exactly as large as it needs (and checks that one byte or one
/// packet less is refused), returning the packets. When the encoding is known not to carry
/// the packets (`expect_ok` false), decodes without limits and only checks atomicity.
fn decode_tight(
    body: &Bytes,
    packets: usize,
    expect_ok: bool,
    decode: impl Fn(Bytes, &DecodeLimits, &mut Vec<Packet>) -> Result<(), DecodeError>,
) -> Result<Vec<Packet>, DecodeError> {
    if !expect_ok {
        let mut out = vec![sentinel()];
        let r = decode(body.clone(), &DecodeLimits::UNLIMITED, &mut out);
        assert_eq!(out[0], sentinel());
        assert!(r.is_ok() || out.len() == 1);
        out.remove(0);
        return r.map(|()| out);
    }
    let tight = DecodeLimits {
        max_bytes: body.len(),
        max_packets: packets,
    };
    if let Some(less) = body.len().checked_sub(1) {
        let mut out = vec![sentinel()];
        let r = decode(
            body.clone(),
            &DecodeLimits {
                max_bytes: less,
                ..tight
            },
            &mut out,
        );
        assert!(matches!(r, Err(DecodeError::TooLarge { .. })), "{r:?}");
        assert_eq!(out, [sentinel()]);
    }
    if let Some(less) = packets.checked_sub(1) {
        let mut out = vec![sentinel()];
        let r = decode(
            body.clone(),
            &DecodeLimits {
                max_packets: less,
                ..tight
            },
            &mut out,
        );
        assert_eq!(r, Err(DecodeError::TooManyPackets { limit: less }));
        assert_eq!(out, [sentinel()]);
    }
    let mut out = vec![sentinel()];
    decode(body.clone(), &tight, &mut out)?;
    assert_eq!(out[0], sentinel());
    out.remove(0);
    Ok(out)
}

fn encoded(encode: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::new();
    encode(&mut out);
    out.freeze()
}

fuzz_target!(|input: (Vec<Packet>, u32)| {
    let (packets, index) = input;
    let n = packets.len();
    let texts = || packets.iter().filter_map(text_data);
    // v4 payloads separate packets with 0x1e, which text may contain: such packets cannot
    // travel in a v4 polling payload (the same holds for the reference implementation).
    let v4_ok = !packets.is_empty() && !texts().any(|s| s.contains('\x1e'));
    // The v3 JSONP form body's newline escaping cannot carry a backslash before a newline.
    let form_ok = !texts().any(|s| s.contains("\\\n"));
    let any_binary = packets.iter().any(Packet::is_binary);

    for p in &packets {
        for v in VERSIONS {
            check_packet_roundtrip(p, v);
        }
    }

    // Every flavour directly.
    let body = encoded(|o| v4::encode(&packets, o));
    let r = decode_tight(&body, n, v4_ok, v4::decode);
    if v4_ok {
        assert_eq!(r.as_ref(), Ok(&packets), "v4 payload {body:?}");
    } else if packets.is_empty() {
        assert_eq!(r, Err(DecodeError::EmptyPayload));
    }

    let body = encoded(|o| v3_text::encode(&packets, o));
    let r = decode_tight(&body, n, true, v3_text::decode);
    assert_eq!(r.as_ref(), Ok(&packets), "v3 text payload {body:?}");

    let body = encoded(|o| v3_binary::encode(&packets, o));
    let r = decode_tight(&body, n, true, v3_binary::decode);
    assert_eq!(r.as_ref(), Ok(&packets), "v3 binary payload {body:?}");

    let body = jsonp::encode_form_body(&packets);
    let r = decode_tight(&body, n, form_ok, |b, l, o| {
        jsonp::decode_form_body(&b, l, o)
    });
    if form_ok {
        assert_eq!(r.as_ref(), Ok(&packets), "JSONP form body {body:?}");
    }

    // Every PayloadFormat, as a server writes its responses.
    for format in [
        PayloadFormat::V4,
        PayloadFormat::V3 { binary: true },
        PayloadFormat::V3 { binary: false },
        PayloadFormat::V3Jsonp { index },
    ] {
        let mut out = BytesMut::new();
        let ct = format.encode(&packets, &mut out);
        let body = out.freeze();
        let want_ct = match format {
            PayloadFormat::V3 { binary: true } if any_binary => ContentType::Binary,
            PayloadFormat::V3Jsonp { .. } => ContentType::Javascript,
            _ => ContentType::Text,
        };
        assert_eq!(ct, want_ct, "{format:?}");
        if let PayloadFormat::V3Jsonp { .. } = format {
            let mut out = vec![sentinel()];
            let r = jsonp::decode_response(&body, &DecodeLimits::UNLIMITED, &mut out);
            assert_eq!(r, Ok(index), "JSONP response {body:?}");
            assert_eq!(&out[1..], &packets[..], "JSONP response {body:?}");
            continue;
        }
        let binary_body = ct == ContentType::Binary;
        let expect_ok = format != PayloadFormat::V4 || v4_ok;
        let r = decode_tight(&body, n, expect_ok, |b, l, o| {
            format.decode(binary_body, b, l, o)
        });
        if expect_ok {
            assert_eq!(r.as_ref(), Ok(&packets), "{format:?} body {body:?}");
        }
    }
    // And as a server reads JSONP requests.
    let body = jsonp::encode_form_body(&packets);
    let format = PayloadFormat::V3Jsonp { index };
    let r = decode_tight(&body, n, form_ok, |b, l, o| format.decode(false, b, l, o));
    if form_ok {
        assert_eq!(r.as_ref(), Ok(&packets), "JSONP form body {body:?}");
    }
});
