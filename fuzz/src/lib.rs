//! Checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Byte-oriented targets read their first input byte as a configuration byte (see
//! [`split_config`]): it picks the [`DecodeLimits`] for the run, so part of the runs use tiny
//! limits. The rest of the input is what the decoder sees.

use bytes::{Bytes, BytesMut};
use engineio_proto::{DecodeError, DecodeLimits, Frame, Message, Packet, ProtocolVersion, Str};

/// Both protocol versions.
pub const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3, ProtocolVersion::V4];

/// The limits a configuration byte selects: the defaults when its top bit is clear, otherwise
/// small ones: `max_packets` = bits 0..3 (0 to 7), `max_bytes` = bits 3..7 times 8 (0 to 120).
pub fn limits_from_byte(b: u8) -> DecodeLimits {
    if b & 0x80 == 0 {
        DecodeLimits::DEFAULT
    } else {
        DecodeLimits {
            max_bytes: usize::from((b >> 3) & 0x0f) * 8,
            max_packets: usize::from(b & 0x07),
        }
    }
}

/// Splits an input into the limits chosen by its first byte and the bytes to decode.
pub fn split_config(data: &[u8]) -> (DecodeLimits, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (limits_from_byte(b), rest),
        None => (DecodeLimits::DEFAULT, data),
    }
}

/// The packet pushed into the output vector before every decode: a failed decode must leave it
/// as the only element, a successful one must keep it first.
pub fn sentinel() -> Packet {
    Packet::Pong(Str::from_static("sentinel \u{1F600}"))
}

/// The outcome of a decoder run under the input's limits and without limits.
pub struct Decoded {
    /// With the limits chosen by the configuration byte.
    pub limited: Result<Vec<Packet>, DecodeError>,
    /// With [`DecodeLimits::UNLIMITED`].
    pub unlimited: Result<Vec<Packet>, DecodeError>,
}

fn run_once(
    limits: &DecodeLimits,
    decode: &mut impl FnMut(&DecodeLimits, &mut Vec<Packet>) -> Result<(), DecodeError>,
) -> Result<Vec<Packet>, DecodeError> {
    let mut out = vec![sentinel()];
    match decode(limits, &mut out) {
        Ok(()) => {
            assert_eq!(
                out.first(),
                Some(&sentinel()),
                "a successful decode lost or replaced the caller's packets"
            );
            out.remove(0);
            Ok(out)
        }
        Err(e) => {
            assert_eq!(
                out,
                [sentinel()],
                "a failed decode ({e:?}) left the caller's vector changed"
            );
            Err(e)
        }
    }
}

/// Runs an atomic payload decoder twice (with `limits` and unlimited) on an input of
/// `input_len` bytes, checking that:
/// - a failed decode leaves the caller's vector exactly as it was (a sentinel stays alone), a
///   successful one only appends;
/// - the byte limit is checked first, and a success respects both limits;
/// - limits only ever refuse: a success under limits is the unlimited success, and an
///   unlimited success that fits the limits also succeeds under them;
/// - errors other than limit errors do not depend on the limits.
pub fn decode_checked(
    input_len: usize,
    limits: &DecodeLimits,
    mut decode: impl FnMut(&DecodeLimits, &mut Vec<Packet>) -> Result<(), DecodeError>,
) -> Decoded {
    let limited = run_once(limits, &mut decode);
    let unlimited = if *limits == DecodeLimits::UNLIMITED {
        limited.clone()
    } else {
        run_once(&DecodeLimits::UNLIMITED, &mut decode)
    };
    assert!(
        !matches!(
            unlimited,
            Err(DecodeError::TooLarge { .. } | DecodeError::TooManyPackets { .. })
        ),
        "limit error without limits: {unlimited:?}"
    );
    if input_len > limits.max_bytes {
        assert_eq!(
            limited,
            Err(DecodeError::TooLarge {
                len: input_len,
                limit: limits.max_bytes
            }),
            "input over max_bytes must be refused before anything else"
        );
    }
    match &limited {
        Ok(packets) => {
            assert!(input_len <= limits.max_bytes);
            assert!(
                packets.len() <= limits.max_packets,
                "{} packets decoded under max_packets = {}",
                packets.len(),
                limits.max_packets
            );
            assert_eq!(
                unlimited.as_ref(),
                Ok(packets),
                "limits changed a successful result"
            );
        }
        Err(DecodeError::TooLarge { len, limit }) => {
            assert_eq!(*limit, limits.max_bytes);
            assert!(*len > limits.max_bytes);
        }
        Err(DecodeError::TooManyPackets { limit }) => {
            assert_eq!(*limit, limits.max_packets);
            if let Ok(all) = &unlimited {
                assert!(
                    all.len() > limits.max_packets,
                    "TooManyPackets, but the whole payload holds only {} packets",
                    all.len()
                );
            }
        }
        Err(e) => assert_eq!(
            unlimited.as_ref(),
            Err(e),
            "the error depends on the limits"
        ),
    }
    if let Ok(all) = &unlimited {
        if input_len <= limits.max_bytes && all.len() <= limits.max_packets {
            // JSONP form bodies may grow when decoded (lossy UTF-8), and the decoded payload
            // is checked against max_bytes again: that is the only refusal allowed here.
            assert!(
                limited.is_ok()
                    || matches!(&limited, Err(DecodeError::TooLarge { len, .. }) if *len != input_len),
                "payload within the limits refused: {limited:?}"
            );
        }
    }
    Decoded { limited, unlimited }
}

/// The text a packet carries after its type digit, if it carries text.
pub fn text_data(p: &Packet) -> Option<&Str> {
    match p {
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) => Some(s),
        Packet::Message(Message::Text(s)) => Some(s),
        _ => None,
    }
}

/// Whether `part` shares the storage of `whole` (the decoders promise zero-copy slices).
pub fn is_slice_of(part: &Bytes, whole: &Bytes) -> bool {
    let start = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    p >= start && p + part.len() <= start + whole.len()
}

/// Checks that a decoded packet's non-empty text is a slice of the body, not a copy.
pub fn assert_text_sliced(p: &Packet, body: &Bytes) {
    if let Some(s) = text_data(p) {
        if !s.is_empty() {
            assert!(
                is_slice_of(s.as_bytes(), body),
                "text {s:?} was copied, not sliced from the body"
            );
        }
    }
}

/// The canonical text form of a packet whose text form is `seg`: close, upgrade and noop drop
/// any data after their type digit; everything else (base64 included, decoded strictly) is
/// kept as it is.
pub fn canonical_segment(seg: &[u8]) -> &[u8] {
    match seg.first() {
        Some(b'1' | b'5' | b'6') => &seg[..1],
        _ => seg,
    }
}

/// Encodes a packet in text and as a WebSocket frame, decodes both back, and checks that the
/// packet is unchanged and the encoded sizes are what the encoder announces.
pub fn check_packet_roundtrip(p: &Packet, v: ProtocolVersion) {
    let mut out = BytesMut::new();
    p.encode_text(v, &mut out);
    assert_eq!(
        out.len(),
        p.encoded_text_len(v),
        "encoded_text_len is wrong for {p:?}"
    );
    let text = Str::try_from(out.clone().freeze()).expect("encode_text wrote invalid UTF-8");
    assert_eq!(
        Packet::decode_text(text.clone(), v).as_ref(),
        Ok(p),
        "text form {text:?} ({v:?}) does not decode back"
    );

    let mut buf = BytesMut::new();
    let frame = Frame::encode(p, v, &mut buf);
    match (p, v) {
        (Packet::Message(Message::Binary(b)), ProtocolVersion::V4) => {
            assert_eq!(frame, Frame::Binary(b.clone()))
        }
        (Packet::Message(Message::Binary(b)), ProtocolVersion::V3) => {
            let mut want = vec![4u8];
            want.extend_from_slice(b);
            assert_eq!(frame, Frame::Binary(Bytes::from(want)))
        }
        _ => assert_eq!(
            frame,
            Frame::Text(text),
            "text frame differs from encode_text"
        ),
    }
    assert_eq!(
        frame.clone().decode(v, frame.len()).as_ref(),
        Ok(p),
        "frame {frame:?} ({v:?}) does not decode back"
    );
    if !frame.is_empty() {
        assert!(matches!(
            frame.clone().decode(v, frame.len() - 1),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}

/// Checks that an error's offset points where the error says it does in `body` (the input the
/// decoder was given).
pub fn check_error_position(e: &DecodeError, body: &[u8]) {
    let at = |i: usize| body.get(i).copied();
    match *e {
        DecodeError::InvalidUtf8 { offset } => assert!(
            at(offset).is_some_and(|b| !b.is_ascii()),
            "{e:?}: no invalid sequence starts there"
        ),
        // The type byte itself, or the digit after a `b` (v3 base64 packets), whose `b` the
        // offset then points to.
        DecodeError::UnknownPacketType { byte, offset } => assert!(
            at(offset) == Some(byte) || (at(offset) == Some(b'b') && at(offset + 1) == Some(byte)),
            "{e:?} does not point at the type"
        ),
        DecodeError::BinaryNotMessage {
            packet_type,
            offset,
        } => assert!(
            at(offset) == Some(packet_type)
                || (at(offset) == Some(b'b') && at(offset + 1) == Some(b'0' + packet_type)),
            "{e:?} does not point at the packet"
        ),
        DecodeError::InvalidBase64 { offset } => {
            assert_eq!(
                at(offset),
                Some(b'b'),
                "{e:?} does not point at a `b` packet"
            )
        }
        DecodeError::EmptyPacket { offset } => assert!(offset <= body.len(), "{e:?} out of range"),
        DecodeError::InvalidLength { offset } => assert!(offset < body.len(), "{e:?} out of range"),
        DecodeError::LengthPastEnd { offset } | DecodeError::SplitSurrogate { offset } => {
            assert!(offset < body.len(), "{e:?} out of range")
        }
        DecodeError::InvalidMarker { byte, offset } => {
            assert!(
                byte > 1 && at(offset) == Some(byte),
                "{e:?} does not point at the marker"
            )
        }
        _ => {}
    }
}

/// `e`, from a decoder given a slice that starts `by` bytes into a larger input, with its
/// offset moved to count from the start of that input.
pub fn shifted(e: DecodeError, by: usize) -> DecodeError {
    match e {
        DecodeError::EmptyPacket { offset } => DecodeError::EmptyPacket {
            offset: offset + by,
        },
        DecodeError::UnknownPacketType { byte, offset } => DecodeError::UnknownPacketType {
            byte,
            offset: offset + by,
        },
        DecodeError::BinaryNotMessage {
            packet_type,
            offset,
        } => DecodeError::BinaryNotMessage {
            packet_type,
            offset: offset + by,
        },
        DecodeError::InvalidBase64 { offset } => DecodeError::InvalidBase64 {
            offset: offset + by,
        },
        DecodeError::InvalidUtf8 { offset } => DecodeError::InvalidUtf8 {
            offset: offset + by,
        },
        other => panic!("unexpected error from a single-packet decoder: {other:?}"),
    }
}

/// Decodes `body[start..end]`, known to be UTF-8, as one text packet, with error offsets
/// counted from the start of `body`.
pub fn decode_text_part(
    body: &Bytes,
    start: usize,
    end: usize,
    v: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let s = Str::try_from(body.slice(start..end)).expect("the caller checked UTF-8");
    Packet::decode_text(s, v).map_err(|e| shifted(e, start))
}
