//! Single packets and WebSocket frames: `Packet::decode_text` (v3 and v4),
//! `Packet::decode_binary_v3`, and `Frame::decode` for text and binary frames in both versions.
//!
//! Input: a configuration byte (its `max_bytes` bounds the frames), then the packet bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::{DecodeError, Frame, Packet, ProtocolVersion, Str};
use engineio_proto_fuzz::{
    assert_text_sliced, canonical_segment, check_error_position, check_packet_roundtrip,
    split_config, VERSIONS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (limits, data) = split_config(data);
    let max = limits.max_bytes;
    let bytes = Bytes::copy_from_slice(data);
    let too_large = || {
        Err(DecodeError::TooLarge {
            len: data.len(),
            limit: max,
        })
    };

    // Text: the packet form shared by polling payloads and text frames.
    if let Ok(s) = Str::try_from(bytes.clone()) {
        for v in VERSIONS {
            let decoded = Packet::decode_text(s.clone(), v);
            match &decoded {
                Ok(p) => {
                    assert_text_sliced(p, &bytes);
                    check_packet_roundtrip(p, v);
                    // Canonical: re-encoding gives the input back, except for the data that
                    // close, upgrade and noop ignore.
                    let mut out = BytesMut::new();
                    p.encode_text(v, &mut out);
                    assert_eq!(
                        &out[..],
                        canonical_segment(data),
                        "{v:?} text packet is not re-encoded canonically"
                    );
                }
                Err(e) => check_error_position(e, data),
            }
            let framed = Frame::Text(s.clone()).decode(v, max);
            if data.len() > max {
                assert_eq!(framed, too_large());
            } else {
                assert_eq!(framed, decoded, "text frame and text packet disagree");
            }
        }
    }

    // v3 binary packet: a type byte that must be 4, then the data as it is.
    let v3 = Packet::decode_binary_v3(bytes.clone());
    match data.first() {
        Some(4) => assert_eq!(v3, Ok(Packet::binary(bytes.slice(1..)))),
        _ => assert!(
            v3.is_err(),
            "v3 binary packet without type 4 accepted: {v3:?}"
        ),
    }
    if let Err(e) = &v3 {
        check_error_position(e, data);
    }
    if let Ok(p) = &v3 {
        check_packet_roundtrip(p, ProtocolVersion::V3);
        let frame = Frame::encode(p, ProtocolVersion::V3, &mut BytesMut::new());
        assert_eq!(
            frame,
            Frame::Binary(bytes.clone()),
            "v3 binary frame not canonical"
        );
    }

    // Binary frames.
    for v in VERSIONS {
        let framed = Frame::Binary(bytes.clone()).decode(v, max);
        if data.len() > max {
            assert_eq!(framed, too_large());
            continue;
        }
        match v {
            ProtocolVersion::V4 => {
                assert_eq!(framed, Ok(Packet::binary(bytes.clone())));
                let p = framed.unwrap_or(Packet::Noop);
                check_packet_roundtrip(&p, v);
                let frame = Frame::encode(&p, v, &mut BytesMut::new());
                assert_eq!(frame, Frame::Binary(bytes.clone()));
            }
            ProtocolVersion::V3 => assert_eq!(framed, v3, "v3 binary frame and packet disagree"),
        }
    }
});
