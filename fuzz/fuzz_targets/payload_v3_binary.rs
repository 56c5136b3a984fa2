//! v3 binary polling payloads (`payload::v3_binary::decode`, and `PayloadFormat::V3` with an
//! `application/octet-stream` body): per packet a marker (0 string, 1 binary), length digits
//! (one byte each, 0..9), 0xFF, the packet.
//!
//! Input: a configuration byte (limits), then the body.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{v3_binary, v3_text::MAX_LENGTH_DIGITS};
use engineio_proto::{
    ContentType, DecodeError, DecodeLimits, Message, Packet, PayloadFormat, ProtocolVersion,
};
use engineio_proto_fuzz::{
    assert_text_sliced, check_error_position, check_packet_roundtrip, decode_checked,
    decode_text_part, is_slice_of, sentinel, shifted, split_config,
};
use libfuzzer_sys::fuzz_target;

const V3: ProtocolVersion = ProtocolVersion::V3;

/// Expected result, computed independently: the packets, and the canonical payload (lengths
/// without leading zeros, close/upgrade/noop without data, base64 string packets as binary
/// records).
fn oracle(bytes: &Bytes) -> Result<(Vec<Packet>, Vec<u8>), DecodeError> {
    let mut packets = Vec::new();
    let mut canonical = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let record = pos;
        let marker = bytes[pos];
        if marker > 1 {
            return Err(DecodeError::InvalidMarker {
                byte: marker,
                offset: pos,
            });
        }
        let digits = bytes[pos + 1..].iter().take_while(|&&d| d <= 9).count();
        if digits == 0 || digits > MAX_LENGTH_DIGITS || bytes.get(pos + 1 + digits) != Some(&0xFF) {
            return Err(DecodeError::InvalidLength { offset: record });
        }
        let len = bytes[pos + 1..pos + 1 + digits]
            .iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d));
        let start = pos + digits + 2;
        let end = start + len;
        if end > bytes.len() {
            return Err(DecodeError::LengthPastEnd { offset: record });
        }
        let packet = if marker == 0 {
            if let Err(e) = std::str::from_utf8(&bytes[start..end]) {
                return Err(DecodeError::InvalidUtf8 {
                    offset: start + e.valid_up_to(),
                });
            }
            decode_text_part(bytes, start, end, V3)?
        } else {
            Packet::decode_binary_v3(bytes.slice(start..end)).map_err(|e| shifted(e, start))?
        };
        let (marker, data) = match &packet {
            Packet::Message(Message::Binary(b)) => (1, [&[4u8][..], b].concat()),
            _ => (
                0,
                engineio_proto_fuzz::canonical_segment(&bytes[start..end]).to_vec(),
            ),
        };
        canonical.push(marker);
        canonical.extend(data.len().to_string().bytes().map(|d| d - b'0'));
        canonical.push(0xFF);
        canonical.extend_from_slice(&data);
        packets.push(packet);
        pos = end;
    }
    Ok((packets, canonical))
}

fuzz_target!(|data: &[u8]| {
    let (limits, body) = split_config(data);
    let bytes = Bytes::copy_from_slice(body);
    let d = decode_checked(body.len(), &limits, |l, out| {
        v3_binary::decode(bytes.clone(), l, out)
    });
    let expected = oracle(&bytes);
    assert_eq!(
        d.unlimited,
        expected.clone().map(|(p, _)| p),
        "v3_binary::decode disagrees with the oracle"
    );

    // The format dispatcher gives the same answer for binary bodies.
    for binary in [false, true] {
        let mut out = vec![sentinel()];
        let r = PayloadFormat::V3 { binary }.decode(true, bytes.clone(), &limits, &mut out);
        assert_eq!(r.map(|()| out[1..].to_vec()), d.limited);
    }

    match (&d.unlimited, &expected) {
        (Ok(packets), Ok((_, canonical))) => {
            for p in packets {
                assert_text_sliced(p, &bytes);
                check_packet_roundtrip(p, V3);
            }
            let mut out = BytesMut::new();
            v3_binary::encode(packets, &mut out);
            assert_eq!(&out[..], &canonical[..], "not re-encoded canonically");
            let tight = DecodeLimits {
                max_bytes: out.len(),
                max_packets: packets.len(),
            };
            let mut again = Vec::new();
            v3_binary::decode(out.clone().freeze(), &tight, &mut again)
                .expect("re-encoded payload fails");
            assert_eq!(&again, packets);
            // Raw binary records are sliced from the body, not copied.
            let raw_records = body.first() == Some(&1);
            if let (true, Some(Packet::Message(Message::Binary(b)))) =
                (raw_records, packets.first())
            {
                assert!(
                    b.is_empty() || is_slice_of(b, &bytes),
                    "binary data was copied"
                );
            }
            // Through the format: a binary body when a packet is binary, text otherwise.
            let mut out2 = BytesMut::new();
            let ct = PayloadFormat::V3 { binary: true }.encode(packets, &mut out2);
            let binary_body = packets.iter().any(Packet::is_binary);
            assert_eq!(ct == ContentType::Binary, binary_body);
            if binary_body {
                assert_eq!(out2, out);
            }
            let mut again = Vec::new();
            PayloadFormat::V3 { binary: true }
                .decode(
                    binary_body,
                    out2.freeze(),
                    &DecodeLimits::UNLIMITED,
                    &mut again,
                )
                .expect("PayloadFormat::V3 output fails");
            assert_eq!(&again, packets);
        }
        (Err(e), _) => check_error_position(e, body),
        _ => unreachable!("compared above"),
    }
});
