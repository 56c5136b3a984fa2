//! permessage-deflate codec: the RFC 7692 examples, hostile input, memory at rest.
#![cfg(feature = "ws-deflate")]

use bytes::BytesMut;
use engineio_proto::ws_deflate::{close_frame, DeflateError, Deflater, Inflater, Role};
use flate2::{Compress, Compression, FlushCompress};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Re-encodes unmasked frames (as a server sends) as masked ones (as a client sends).
fn mask_frames(mut unmasked: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    while !unmasked.is_empty() {
        let (first, second) = (unmasked[0], unmasked[1]);
        assert_eq!(second & 0x80, 0);
        let (len, size) = match second {
            126 => (u16::from_be_bytes([unmasked[2], unmasked[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(unmasked[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        out.push(first);
        out.push(second | 0x80);
        out.extend_from_slice(&unmasked[2..size]);
        out.extend_from_slice(&key);
        let payload = &unmasked[size..size + len];
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        unmasked = &unmasked[size + len..];
    }
    out
}

/// A plain unfragmented frame as an `Inflater` for `role` gives it out.
fn plain(role: Role, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if role == Role::Server { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if role == Role::Server {
        out.extend_from_slice(&[0; 4]);
    }
    out.extend_from_slice(payload);
    out
}

/// Feeds all of `input` at once; returns the output and what stayed in the input.
fn inflate(inf: &mut Inflater, input: &[u8]) -> Result<(Vec<u8>, usize), DeflateError> {
    let mut i = BytesMut::from(input);
    let mut out = BytesMut::new();
    inf.feed(&mut i, &mut out)?;
    Ok((out.to_vec(), i.len()))
}

/// The server frames (unmasked) of an RFC 7692 example, fed to a client Inflater and, masked,
/// to a server one: both give `expected` (as server frames; masked with zeros for the
/// server).
fn check_both_roles(context_takeover: bool, frames: &[u8], expected: &[(u8, &[u8])]) {
    for role in [Role::Client, Role::Server] {
        let input = match role {
            Role::Client => frames.to_vec(),
            Role::Server => mask_frames(frames, MASK),
        };
        let want: Vec<u8> = expected
            .iter()
            .flat_map(|&(op, p)| plain(role, op, p))
            .collect();
        let mut inf = Inflater::new(role, !context_takeover, 1 << 20);
        assert_eq!(
            inflate(&mut inf, &input).unwrap(),
            (want.clone(), 0),
            "{role:?}"
        );
        // Byte by byte gives the same.
        let mut inf = Inflater::new(role, !context_takeover, 1 << 20);
        let mut out = BytesMut::new();
        let mut pending = BytesMut::new();
        for &b in &input {
            pending.extend_from_slice(&[b]);
            inf.feed(&mut pending, &mut out).unwrap();
        }
        assert!(pending.is_empty());
        assert_eq!(out.to_vec(), want, "{role:?} byte by byte");
    }
}

#[test]
fn rfc7692_hello_single_frame() {
    // 7.2.3.1
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    check_both_roles(false, &frame, &[(1, b"Hello")]);
    check_both_roles(true, &frame, &[(1, b"Hello")]);
}

#[test]
fn rfc7692_shared_window_second_hello() {
    // 7.2.3.2: the second message refers to the first one's "Hello".
    let frames = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // first
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // second
    ];
    check_both_roles(true, &frames, &[(1, b"Hello"), (1, b"Hello")]);
}

#[test]
fn rfc7692_fragmented_message() {
    // 7.2.3.3: the compressed data split over two frames, RSV1 only on the first.
    let frames = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    check_both_roles(false, &frames, &[(1, b"Hello")]);
    check_both_roles(true, &frames, &[(1, b"Hello")]);
}

#[test]
fn rfc7692_stored_block() {
    // 7.2.3.4: a "no compression" block.
    let frame = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    check_both_roles(false, &frame, &[(1, b"Hello")]);
}

#[test]
fn rfc7692_bfinal_block() {
    // 7.2.3.5: a final block; with context takeover the next message starts a new stream.
    let frame = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    check_both_roles(false, &frame, &[(1, b"Hello")]);
    let twice: Vec<u8> = frame.iter().chain(&frame).copied().collect();
    check_both_roles(true, &twice, &[(1, b"Hello"), (1, b"Hello")]);
}

#[test]
fn rfc7692_empty_message() {
    // 7.2.3.6: an empty message is a single 0x00 byte; binary keeps its opcode.
    check_both_roles(false, &[0xc2, 0x01, 0x00], &[(2, b"")]);
    check_both_roles(
        true,
        &[0xc1, 0x01, 0x00, 0xc2, 0x01, 0x00],
        &[(1, b""), (2, b"")],
    );
}

#[test]
fn control_frames_inside_a_compressed_message_come_first() {
    let frames = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, // first fragment
        0x89, 0x02, b'h', b'i', // ping
        0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00, // last fragment
    ];
    let mut want = vec![0x89, 0x02, b'h', b'i'];
    want.extend(plain(Role::Client, 1, b"Hello"));
    let mut inf = Inflater::new(Role::Client, true, 100);
    assert_eq!(inflate(&mut inf, &frames).unwrap(), (want, 0));
}

#[test]
fn uncompressed_frames_stream_through_unchanged() {
    let mut frames = vec![0x01, 0x03, b'a', b'b', b'c']; // text, not final
    frames.extend([0x8a, 0x00]); // pong between
    frames.extend([0x80, 0x01, b'd']); // last continuation
    frames.extend([0x82, 0x7e, 0x01, 0x00]); // binary of 256 bytes
    frames.extend([7u8; 256]);
    frames.extend([0x88, 0x02, 0x03, 0xe8]); // close
    let mut inf = Inflater::new(Role::Client, true, 10);
    assert_eq!(inflate(&mut inf, &frames).unwrap(), (frames.clone(), 0));
    // Payloads stream as they come, headers only once whole.
    let mut inf = Inflater::new(Role::Client, true, 10);
    assert_eq!(
        inflate(&mut inf, &frames[..4]).unwrap(),
        (frames[..4].to_vec(), 0)
    );
    // The binary frame's header is incomplete at 13: it stays in the input.
    assert_eq!(
        inflate(&mut inf, &frames[4..13]).unwrap(),
        (frames[4..10].to_vec(), 3)
    );
    assert_eq!(
        inflate(&mut inf, &frames[10..]).unwrap(),
        (frames[10..].to_vec(), 0)
    );
}

#[test]
fn forbidden_frames_are_protocol_errors() {
    let hello = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let cases: [(&str, Vec<u8>); 7] = [
        ("RSV1 on a reserved opcode", vec![0xc3, 0x00]),
        ("RSV1 on a ping", vec![0xc9, 0x00]),
        ("RSV1 on a close", vec![0xc8, 0x00]),
        ("RSV1 on a continuation", {
            let mut v = vec![0x41, 0x03, 0xf2, 0x48, 0xcd];
            v.extend([0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
            v
        }),
        ("continuation without a message", vec![0x80, 0x00]),
        ("new message inside a compressed one", {
            let mut v = vec![0x41, 0x03, 0xf2, 0x48, 0xcd];
            v.extend(hello);
            v
        }),
        ("RSV2", vec![0xa1, 0x00]),
    ];
    for (what, frames) in cases {
        for role in [Role::Client, Role::Server] {
            let input = match role {
                Role::Client => frames.clone(),
                Role::Server => mask_frames(&frames, MASK),
            };
            let mut inf = Inflater::new(role, false, 1 << 20);
            let e = inflate(&mut inf, &input).unwrap_err();
            assert!(matches!(e, DeflateError::Protocol(_)), "{what}: {e:?}");
            assert_eq!(e.close_code(), 1002);
            // The error sticks.
            assert_eq!(inflate(&mut inf, &hello), Err(e));
        }
    }
    // Masking must match the role.
    let mut inf = Inflater::new(Role::Server, true, 100);
    assert!(matches!(
        inflate(&mut inf, &hello),
        Err(DeflateError::Protocol(_))
    ));
    let mut inf = Inflater::new(Role::Client, true, 100);
    let masked = mask_frames(&hello, MASK);
    assert!(matches!(
        inflate(&mut inf, &masked),
        Err(DeflateError::Protocol(_))
    ));
}

#[test]
fn bad_deflate_data() {
    // Block type 3 does not exist; a stored block's length and its complement must agree.
    for data in [
        &[0xff][..],
        &[0x07, 0x00, 0x01],
        &[0x00, 0x05, 0x00, 0x00, 0x00],
    ] {
        let mut frame = vec![0xc2, data.len() as u8];
        frame.extend_from_slice(data);
        let mut inf = Inflater::new(Role::Client, true, 1 << 20);
        let e = inflate(&mut inf, &frame).unwrap_err();
        assert_eq!(e, DeflateError::BadData, "{data:02x?}");
        assert_eq!(e.close_code(), 1007);
    }
}

/// Raw deflate with a sync flush, the trailer stripped.
fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(9), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Unmasked frames carrying `compressed` as one message, in `fragments` frames.
fn compressed_frames(opcode: u8, compressed: &[u8], fragments: usize) -> Vec<u8> {
    let step = compressed.len().div_ceil(fragments).max(1);
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = compressed.chunks(step).collect();
    for (i, p) in pieces.iter().enumerate() {
        let mut first = if i == 0 { 0x40 | opcode } else { 0 };
        if i + 1 == pieces.len() {
            first |= 0x80;
        }
        let mut f = plain(Role::Client, 0, p);
        f[0] = first;
        out.extend(f);
    }
    out
}

#[test]
fn decompression_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 10 << 20];
    let bomb = deflate_raw(&zeros);
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let max = 1 << 20;
    for fragments in [1, 3] {
        for ctx in [false, true] {
            for role in [Role::Client, Role::Server] {
                let frames = compressed_frames(2, &bomb, fragments);
                let input = match role {
                    Role::Client => frames,
                    Role::Server => mask_frames(&frames, MASK),
                };
                let mut inf = Inflater::new(role, !ctx, max);
                let mut i = BytesMut::from(&input[..]);
                let mut out = BytesMut::new();
                assert_eq!(inf.feed(&mut i, &mut out), Err(DeflateError::TooBig));
                assert_eq!(DeflateError::TooBig.close_code(), 1009);
                // Nothing of the message came out, and the output never grew far past the
                // limit.
                assert!(out.is_empty());
                assert!(out.capacity() < 4 * max, "{}", out.capacity());
                assert_eq!(inf.heap_bytes(), 0);
            }
        }
    }
    // Exactly at the limit passes; one byte over does not.
    for (len, ok) in [(max, true), (max + 1, false)] {
        let frames = compressed_frames(2, &deflate_raw(&zeros[..len]), 1);
        let mut inf = Inflater::new(Role::Client, true, max);
        let r = inflate(&mut inf, &frames);
        assert_eq!(r.is_ok(), ok, "{len}");
    }
}

#[test]
fn compressed_size_over_the_bound_is_too_big() {
    // A header claiming a huge compressed frame fails at once, before any payload.
    let mut inf = Inflater::new(Role::Client, true, 4096);
    let frame = [0xc2, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(inflate(&mut inf, &frame), Err(DeflateError::TooBig));
    let mut inf = Inflater::new(Role::Client, true, 4096);
    let frame = [0xc2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(inflate(&mut inf, &frame), Err(DeflateError::TooBig));
    // Fragments add up: 4096 + 64 + 1024 compressed bytes is the most accepted.
    let mut inf = Inflater::new(Role::Client, true, 4096);
    let mut frames = vec![0x42, 0x7e, 0x10, 0x00];
    frames.extend([0u8; 4096]);
    frames.extend([0x80, 0x7e, 0x04, 0x41]); // 1089 more
    assert_eq!(inflate(&mut inf, &frames), Err(DeflateError::TooBig));
}

#[test]
fn truncated_input_never_panics_and_resumes() {
    let mut stream = Vec::new();
    stream.extend([0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    stream.extend([0x89, 0x00]);
    stream.extend([
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ]);
    stream.extend(compressed_frames(2, &deflate_raw(&[5u8; 3000]), 2));
    stream.extend([0x02, 0x02, 1, 2, 0x80, 0x7e, 0x00, 0x80]);
    stream.extend([9u8; 128]);
    stream.extend([0xc1, 0x01, 0x00]);
    for role in [Role::Client, Role::Server] {
        let input = match role {
            Role::Client => stream.clone(),
            Role::Server => mask_frames(&stream, MASK),
        };
        for ctx in [false, true] {
            let whole = inflate(&mut Inflater::new(role, !ctx, 1 << 20), &input).unwrap();
            for cut in 0..=input.len() {
                let mut inf = Inflater::new(role, !ctx, 1 << 20);
                let mut i = BytesMut::from(&input[..cut]);
                let mut out = BytesMut::new();
                inf.feed(&mut i, &mut out).unwrap();
                assert!(i.len() < 14, "only an incomplete header stays");
                i.extend_from_slice(&input[cut..]);
                inf.feed(&mut i, &mut out).unwrap();
                assert_eq!((out.to_vec(), i.len()), whole, "cut at {cut}");
            }
        }
    }
    // Every prefix of hostile bytes too.
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 151 + 7) as u8).collect();
    for role in [Role::Client, Role::Server] {
        for cut in 0..junk.len() {
            let _ = inflate(&mut Inflater::new(role, false, 4096), &junk[..cut]);
            let mut d = Deflater::new(role, false, 0, 6);
            let _ = d.feed(&mut BytesMut::from(&junk[..cut]), &mut BytesMut::new());
        }
    }
}

#[test]
fn deflater_honours_flags_threshold_and_fragments() {
    let text = vec![b'a'; 2000];
    let frame = plain(Role::Client, 1, &text);
    let mut d = Deflater::new(Role::Server, true, 1024, 6);
    d.push_flag(false);
    d.push_flag(true);
    let mut input = BytesMut::new();
    input.extend_from_slice(&frame); // flag false: as is
    input.extend_from_slice(&[0x89, 0x00]); // ping: consumes no flag
    input.extend_from_slice(&frame); // flag true: compressed
    input.extend_from_slice(&plain(Role::Client, 2, &[1; 1000])); // under the threshold
    input.extend_from_slice(&[0x01, 0x01, b'x', 0x80, 0x01, b'y']); // fragmented: as is
    input.extend_from_slice(&frame); // no flag queued: compressed
    input.extend_from_slice(&frame[..10]); // partial: stays
    let mut out = BytesMut::new();
    d.feed(&mut input, &mut out).unwrap();
    assert_eq!(&input[..], &frame[..10]);

    let mut want = frame.clone();
    want.extend([0x89, 0x00]);
    let compressed = deflate_raw(&text);
    let mut c = plain(Role::Client, 1, &compressed);
    c[0] |= 0x40;
    want.extend(&c);
    want.extend(plain(Role::Client, 2, &[1; 1000]));
    want.extend([0x01, 0x01, b'x', 0x80, 0x01, b'y']);
    want.extend(&c);
    // Same level as deflate_raw is not required: compare by inflating.
    let mut inf = Inflater::new(Role::Client, true, 1 << 20);
    let (a, _) = inflate(&mut inf, &out).unwrap();
    let mut inf = Inflater::new(Role::Client, true, 1 << 20);
    let (b, _) = inflate(&mut inf, &want).unwrap();
    assert_eq!(a, b);
    assert!(out.len() < 2 * frame.len() + 1100);
    assert_eq!(out[frame.len() + 2], 0xc1);
}

#[test]
fn deflater_empty_message_is_one_zero_byte() {
    for ctx in [false, true] {
        let mut d = Deflater::new(Role::Server, !ctx, 0, 6);
        let mut input = BytesMut::from(&[0x82, 0x00, 0x81, 0x00][..]);
        let mut out = BytesMut::new();
        d.feed(&mut input, &mut out).unwrap();
        assert_eq!(&out[..3], &[0xc2, 0x01, 0x00]);
        let mut inf = Inflater::new(Role::Client, !ctx, 10);
        assert_eq!(
            inflate(&mut inf, &out).unwrap().0,
            [plain(Role::Client, 2, b""), plain(Role::Client, 1, b"")].concat()
        );
    }
}

#[test]
fn close_frames() {
    let mut out = BytesMut::new();
    close_frame(Role::Server, 1002, [1, 2, 3, 4], &mut out);
    assert_eq!(&out[..], &[0x88, 0x02, 0x03, 0xea]);
    let mut out = BytesMut::new();
    close_frame(Role::Client, 1007, [1, 2, 3, 4], &mut out);
    assert_eq!(&out[..], &[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xef ^ 2]);
}

#[test]
fn idle_codecs_hold_no_heap() {
    assert!(
        std::mem::size_of::<Inflater>() <= 96,
        "{}",
        std::mem::size_of::<Inflater>()
    );
    assert!(
        std::mem::size_of::<Deflater>() <= 96,
        "{}",
        std::mem::size_of::<Deflater>()
    );
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let compressed = deflate_raw(&big);
    for role in [Role::Client, Role::Server] {
        let frames = compressed_frames(2, &compressed, 4);
        let input = match role {
            Role::Client => frames,
            Role::Server => mask_frames(&frames, MASK),
        };
        // Fed in pieces so the message is gathered in the Inflater's own buffer.
        let mut inf = Inflater::new(role, true, 1 << 20);
        let mut out = BytesMut::new();
        let mut peak = 0;
        for piece in input.chunks(1000) {
            inf.feed(&mut BytesMut::from(piece), &mut out).unwrap();
            peak = peak.max(inf.heap_bytes());
        }
        assert!(peak >= compressed.len() / 2, "the message was gathered");
        assert_eq!(inf.heap_bytes(), 0);
        assert!(!inf.has_context());
        assert_eq!(out.len(), plain(role, 2, &big).len());

        let mut d = Deflater::new(role, true, 0, 6);
        let frame = match role {
            Role::Server => plain(Role::Client, 2, &big),
            Role::Client => mask_frames(&plain(Role::Client, 2, &big), MASK),
        };
        d.push_flag(true);
        d.feed(&mut BytesMut::from(&frame[..]), &mut BytesMut::new())
            .unwrap();
        assert_eq!(d.heap_bytes(), 0);
        assert!(!d.has_context());
    }
    // With context takeover, the (de)compressor stays, made on first use.
    let mut inf = Inflater::new(Role::Client, false, 100);
    assert!(!inf.has_context());
    inflate(
        &mut inf,
        &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    )
    .unwrap();
    assert!(inf.has_context());
    assert_eq!(inf.heap_bytes(), 0);
    let mut d = Deflater::new(Role::Server, false, 0, 6);
    assert!(!d.has_context());
    d.feed(
        &mut BytesMut::from(&[0x81, 0x01, b'a'][..]),
        &mut BytesMut::new(),
    )
    .unwrap();
    assert!(d.has_context());
}

#[test]
fn a_smaller_window_is_honoured() {
    use engineio_proto::ws_deflate::{Deflater, Role};
    // Repeats 4 KiB apart: a 32 KiB window refers back to them, a 1 KiB one cannot.
    let block: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let payload: Vec<u8> = block.iter().chain(&block).chain(&block).copied().collect();
    let mut frame = vec![0x82, 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&payload);
    let compressed = |bits: Option<u8>| {
        let mut d = Deflater::new(Role::Server, true, 0, 6);
        if let Some(bits) = bits {
            d = d.with_window_bits(bits);
        }
        let mut input = bytes::BytesMut::from(&frame[..]);
        let mut out = bytes::BytesMut::new();
        d.feed(&mut input, &mut out).unwrap();
        assert!(input.is_empty());
        assert_eq!(out[0], 0xc2, "compressed");
        let len = out[1] & 0x7f;
        let at = match len {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        out[at..].to_vec()
    };
    // Inflates with a decoder whose window is 2^bits, 64 bytes of output per call (within
    // one call zlib reads back into its output, not its window): fails on a reference
    // further back than the window.
    let inflate = |data: &[u8], bits: u8| -> Result<Vec<u8>, flate2::DecompressError> {
        let mut d = flate2::Decompress::new_with_window_bits(false, bits);
        let mut input = data.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::new();
        while (d.total_in() as usize) < input.len() {
            let mut chunk = [0u8; 64];
            let (i0, o0) = (d.total_in(), d.total_out());
            d.decompress(
                &input[i0 as usize..],
                &mut chunk,
                flate2::FlushDecompress::Sync,
            )?;
            let wrote = (d.total_out() - o0) as usize;
            out.extend_from_slice(&chunk[..wrote]);
            if wrote == 0 && d.total_in() == i0 {
                break;
            }
        }
        Ok(out)
    };
    let wide = compressed(None);
    assert!(
        inflate(&wide, 10).is_err(),
        "a 32 KiB window reaches 4 KiB back"
    );
    let narrow = compressed(Some(10));
    assert_eq!(inflate(&narrow, 10).unwrap(), payload);
    assert!(
        narrow.len() > wide.len(),
        "the small window compresses less"
    );
    // Out-of-range windows are clamped: 8 compresses with 9 bits.
    let clamped = compressed(Some(8));
    assert_eq!(inflate(&clamped, 9).unwrap(), payload);
}
