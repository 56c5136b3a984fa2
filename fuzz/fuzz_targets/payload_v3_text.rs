//! v3 text polling payloads (`payload::v3_text::decode`, and `PayloadFormat::V3` with a text
//! body): `<len>:<packet>` records, lengths in UTF-16 code units.
//!
//! Input: a configuration byte (limits), then the body.
#![no_main]

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::v3_text::{self, MAX_LENGTH_DIGITS};
use engineio_proto::{DecodeError, DecodeLimits, Packet, PayloadFormat, ProtocolVersion};
use engineio_proto_fuzz::{
    assert_text_sliced, canonical_segment, check_error_position, check_packet_roundtrip,
    decode_checked, decode_text_part, sentinel, split_config,
};
use libfuzzer_sys::fuzz_target;

const V3: ProtocolVersion = ProtocolVersion::V3;

/// Expected result, computed independently with `char::len_utf16`: the packets, and the
/// canonical payload (`<len>:<packet>` without leading zeros or empty records, close/upgrade/
/// noop without data; `0:` for no packets).
fn oracle(bytes: &Bytes) -> Result<(Vec<Packet>, Vec<u8>), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut packets = Vec::new();
    let mut canonical = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let record = pos;
        let rest = &text.as_bytes()[pos..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_LENGTH_DIGITS || rest.get(digits) != Some(&b':') {
            return Err(DecodeError::InvalidLength { offset: record });
        }
        let units: usize = text[pos..pos + digits].parse().expect("at most 10 digits");
        let start = pos + digits + 1;
        let (mut seen, mut end) = (0, start);
        for c in text[start..].chars() {
            if seen == units {
                break;
            }
            if seen + c.len_utf16() > units {
                return Err(DecodeError::SplitSurrogate { offset: record });
            }
            seen += c.len_utf16();
            end += c.len_utf8();
        }
        if seen < units {
            return Err(DecodeError::LengthPastEnd { offset: record });
        }
        if end > start {
            packets.push(decode_text_part(bytes, start, end, V3)?);
            let seg = canonical_segment(&bytes[start..end]);
            let seg_units = std::str::from_utf8(seg).unwrap().encode_utf16().count();
            canonical.extend_from_slice(format!("{seg_units}:").as_bytes());
            canonical.extend_from_slice(seg);
        }
        pos = end;
    }
    if packets.is_empty() {
        canonical.extend_from_slice(b"0:");
    }
    Ok((packets, canonical))
}

fuzz_target!(|data: &[u8]| {
    let (limits, body) = split_config(data);
    let bytes = Bytes::copy_from_slice(body);
    let d = decode_checked(body.len(), &limits, |l, out| {
        v3_text::decode(bytes.clone(), l, out)
    });
    let expected = oracle(&bytes);
    assert_eq!(
        d.unlimited,
        expected.clone().map(|(p, _)| p),
        "v3_text::decode disagrees with the oracle"
    );

    // The format dispatcher gives the same answer for text bodies, whatever `binary` says.
    for binary in [false, true] {
        let mut out = vec![sentinel()];
        let r = PayloadFormat::V3 { binary }.decode(false, bytes.clone(), &limits, &mut out);
        assert_eq!(r.map(|()| out[1..].to_vec()), d.limited);
    }

    match (&d.unlimited, &expected) {
        (Ok(packets), Ok((_, canonical))) => {
            for p in packets {
                assert_text_sliced(p, &bytes);
                check_packet_roundtrip(p, V3);
            }
            let mut out = BytesMut::new();
            v3_text::encode(packets, &mut out);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(canonical),
                "not re-encoded canonically"
            );
            // Text-only v3 formats encode the same text payload.
            if !packets.iter().any(Packet::is_binary) {
                for binary in [false, true] {
                    let mut out2 = BytesMut::new();
                    PayloadFormat::V3 { binary }.encode(packets, &mut out2);
                    assert_eq!(out2, out);
                }
            }
            let tight = DecodeLimits {
                max_bytes: out.len(),
                max_packets: packets.len(),
            };
            let mut again = Vec::new();
            v3_text::decode(out.freeze(), &tight, &mut again).expect("re-encoded payload fails");
            assert_eq!(&again, packets);
        }
        (Err(e), _) => check_error_position(e, body),
        _ => unreachable!("compared above"),
    }
});
