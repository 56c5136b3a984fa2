//! v4 polling payloads (`payload::v4::decode`, and `PayloadFormat::V4::decode`).
//!
//! Input: a configuration byte (limits), then the body.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::v4;
use engineio_proto::{DecodeError, DecodeLimits, Packet, PayloadFormat, ProtocolVersion};
use engineio_proto_fuzz::{
    assert_text_sliced, canonical_segment, check_error_position, check_packet_roundtrip,
    decode_checked, decode_text_part, sentinel, split_config,
};
use libfuzzer_sys::fuzz_target;

const V4: ProtocolVersion = ProtocolVersion::V4;

/// The expected result, computed independently: the body split on 0x1e, each part decoded as
/// a single packet, the first failure reported at its offset in the body.
fn oracle(bytes: &Bytes) -> Result<Vec<Packet>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        });
    }
    let mut packets = Vec::new();
    let mut start = 0;
    for part in bytes.split(|&b| b == v4::SEPARATOR) {
        packets.push(decode_text_part(bytes, start, start + part.len(), V4)?);
        start += part.len() + 1;
    }
    Ok(packets)
}

fuzz_target!(|data: &[u8]| {
    let (limits, body) = split_config(data);
    let bytes = Bytes::copy_from_slice(body);
    let d = decode_checked(body.len(), &limits, |l, out| {
        v4::decode(bytes.clone(), l, out)
    });
    assert_eq!(
        d.unlimited,
        oracle(&bytes),
        "v4::decode disagrees with the oracle"
    );

    // The format dispatcher gives the same answer; a binary body is refused untouched.
    let mut out = vec![sentinel()];
    let r = PayloadFormat::V4.decode(false, bytes.clone(), &limits, &mut out);
    assert_eq!(r.map(|()| out[1..].to_vec()), d.limited);
    let mut out = vec![sentinel()];
    let r = PayloadFormat::V4.decode(true, bytes.clone(), &limits, &mut out);
    assert_eq!((r, out), (Err(DecodeError::BinaryBodyV4), vec![sentinel()]));

    match &d.unlimited {
        Ok(packets) => {
            for p in packets {
                assert_text_sliced(p, &bytes);
                check_packet_roundtrip(p, V4);
            }
            // Re-encode: canonical bytes, and the same packets again.
            let mut out = BytesMut::new();
            v4::encode(packets, &mut out);
            let canonical: Vec<&[u8]> = body
                .split(|&b| b == v4::SEPARATOR)
                .map(canonical_segment)
                .collect();
            assert_eq!(
                &out[..],
                canonical.join(&v4::SEPARATOR).as_slice(),
                "not canonical"
            );
            let tight = DecodeLimits {
                max_bytes: out.len(),
                max_packets: packets.len(),
            };
            let mut again = Vec::new();
            v4::decode(out.freeze(), &tight, &mut again).expect("re-encoded payload fails");
            assert_eq!(&again, packets);
        }
        Err(e) => check_error_position(e, body),
    }
});
