//! v3 JSONP: `payload::jsonp::decode_form_body` (what a server reads: `d=<payload>`) and
//! `payload::jsonp::decode_response` (what a client reads: `___eio[j]("<payload>");`), on the
//! same input.
//!
//! Input: a configuration byte (limits), then the body.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::jsonp;
use engineio_proto::{ContentType, DecodeError, Packet, PayloadFormat, ProtocolVersion};
use engineio_proto_fuzz::{
    check_packet_roundtrip, decode_checked, sentinel, split_config, text_data,
};
use libfuzzer_sys::fuzz_target;

/// Whether a packet's text holds a backslash right before a newline. The v3 client's newline
/// escaping (`\n` -> `\\\n`, then newline -> `\n`; the reference engine.io-client 3.x does the
/// same) writes that pair as `\\n`, which the server reads back as `\n`: such text cannot
/// round-trip through a JSONP form body, in any implementation.
fn has_backslash_newline(packets: &[Packet]) -> bool {
    packets
        .iter()
        .filter_map(text_data)
        .any(|s| s.contains("\\\n"))
}

fuzz_target!(|data: &[u8]| {
    let (limits, body) = split_config(data);
    let bytes = Bytes::copy_from_slice(body);

    // Server side: the form-encoded POST body.
    let form = decode_checked(body.len(), &limits, |l, out| {
        jsonp::decode_form_body(body, l, out)
    });
    for index in [0, 7] {
        let mut out = vec![sentinel()];
        let r = PayloadFormat::V3Jsonp { index }.decode(false, bytes.clone(), &limits, &mut out);
        assert_eq!(r.map(|()| out[1..].to_vec()), form.limited);
    }
    if let Ok(packets) = &form.unlimited {
        for p in packets {
            check_packet_roundtrip(p, ProtocolVersion::V3);
        }
        let encoded = jsonp::encode_form_body(packets);
        let mut again = vec![sentinel()];
        let r = jsonp::decode_form_body(
            &encoded,
            &engineio_proto::DecodeLimits::UNLIMITED,
            &mut again,
        );
        if !has_backslash_newline(packets) {
            assert_eq!(r, Ok(()), "re-encoded form body {encoded:?} fails");
            assert_eq!(&again[1..], &packets[..], "form body does not round-trip");
        }
    }

    // Client side: the script response.
    let mut out = vec![sentinel()];
    let response = jsonp::decode_response(body, &limits, &mut out);
    match response {
        Err(e) => {
            assert_eq!(
                out,
                [sentinel()],
                "failed decode_response ({e:?}) changed the vector"
            );
            if body.len() > limits.max_bytes {
                assert_eq!(
                    e,
                    DecodeError::TooLarge {
                        len: body.len(),
                        limit: limits.max_bytes
                    }
                );
            }
        }
        Ok(index) => {
            assert_eq!(out[0], sentinel());
            let packets = &out[1..];
            assert!(body.len() <= limits.max_bytes);
            assert!(packets.len() <= limits.max_packets);
            for p in packets {
                check_packet_roundtrip(p, ProtocolVersion::V3);
            }
            let mut encoded = BytesMut::new();
            jsonp::encode_response(index, packets, &mut encoded);
            let mut via_format = BytesMut::new();
            let ct = PayloadFormat::V3Jsonp { index }.encode(packets, &mut via_format);
            assert_eq!((ct, &via_format), (ContentType::Javascript, &encoded));
            assert!(std::str::from_utf8(&encoded).is_ok());
            let mut again = vec![sentinel()];
            let r = jsonp::decode_response(
                &encoded,
                &engineio_proto::DecodeLimits::UNLIMITED,
                &mut again,
            );
            assert_eq!(r, Ok(index), "re-encoded response {encoded:?} fails");
            assert_eq!(&again[1..], packets, "response does not round-trip");
            // Canonical: a response decodes to exactly one encoding.
            let mut twice = BytesMut::new();
            jsonp::encode_response(index, &again[1..], &mut twice);
            assert_eq!(twice, encoded);
        }
    }
});
