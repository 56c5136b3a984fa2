//! The permessage-deflate codec (`engineio_proto::ws_deflate`).
//!
//! Input: a configuration byte, then the bytes. Bit 0: context takeover; bits 1-2: the
//! Inflaters' `max_message` (0, 1, 125 or 4096); bits 3-7: the chunk size (1 to 32) the bytes
//! are fed in.
//!
//! 1. The bytes go, as a frame stream, into a server and a client `Inflater`, in chunks and at
//!    once: both ways give the same output, remainder and error; no output frame carries RSV1
//!    or a payload over both `max_message` and the input's length; masked exactly at the
//!    server.
//! 2. The same bytes go into a server and a client `Deflater` (arbitrary frames, flags from the
//!    bytes), in chunks and at once: the same output both ways.
//! 3. The bytes, cut at `0xfe` into messages, are framed as each role's library would write
//!    them, deflated, inflated by the other role's `Inflater` and must come back exactly.
#![no_main]

use bytes::BytesMut;
use engineio_proto::ws_deflate::{DeflateError, Deflater, Inflater, Role};
use libfuzzer_sys::fuzz_target;

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

/// Feeds `bytes` to `feed` in chunks of `chunk` (all at once for `usize::MAX`), stopping at
/// the first error. Returns the output, what stayed in the input, and the error.
fn run(
    bytes: &[u8],
    chunk: usize,
    mut feed: impl FnMut(&mut BytesMut, &mut BytesMut) -> Result<(), DeflateError>,
) -> (Vec<u8>, Vec<u8>, Option<DeflateError>) {
    let mut input = BytesMut::new();
    let mut out = BytesMut::new();
    for piece in bytes.chunks(chunk.max(1)) {
        input.extend_from_slice(piece);
        if let Err(e) = feed(&mut input, &mut out) {
            // The error sticks.
            assert_eq!(
                feed(&mut BytesMut::from(&b"\x81\x00"[..]), &mut out),
                Err(e.clone())
            );
            return (out.to_vec(), Vec::new(), Some(e));
        }
    }
    (out.to_vec(), input.to_vec(), None)
}

/// The complete frames of `stream`: `(first byte, mask key, payload unmasked)` of each.
fn frames(mut stream: &[u8]) -> Vec<(u8, Option<[u8; 4]>, Vec<u8>)> {
    let mut v = Vec::new();
    while stream.len() >= 2 {
        let (first, second) = (stream[0], stream[1]);
        let (len, mut size) = match second & 0x7f {
            126 if stream.len() >= 4 => (u64::from(u16::from_be_bytes([stream[2], stream[3]])), 4),
            127 if stream.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&stream[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            126 | 127 => break,
            n => (u64::from(n), 2),
        };
        let mut mask = None;
        if second & 0x80 != 0 {
            let Some(key) = stream.get(size..size + 4) else {
                break;
            };
            mask = Some([key[0], key[1], key[2], key[3]]);
            size += 4;
        }
        let end = (size as u64).saturating_add(len);
        if end > stream.len() as u64 {
            break;
        }
        let end = end as usize;
        let mut payload = stream[size..end].to_vec();
        if let Some(key) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        v.push((first, mask, payload));
        stream = &stream[end..];
    }
    v
}

/// A frame with `first` as its first byte, masked with `mask` if given.
fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
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
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, bytes)) = data.split_first() else {
        return;
    };
    let takeover = config & 1 != 0;
    let max = [0, 1, 125, 4096][usize::from((config >> 1) & 3)];
    let chunk = usize::from(config >> 3) + 1;

    // 1. Arbitrary bytes into Inflaters.
    for role in ROLES {
        let mut inflater = Inflater::new(role, !takeover, max);
        let whole_one = run(bytes, usize::MAX, |i, o| inflater.feed(i, o));
        let mut inflater = Inflater::new(role, !takeover, max);
        let chunked = run(bytes, chunk, |i, o| inflater.feed(i, o));
        assert_eq!(whole_one, chunked, "chunking changed the result");
        let (out, rest, err) = chunked;
        assert!(rest.len() < 14, "more than a header left over");
        assert!(err.is_some() || inflater.heap_bytes() <= 2 * bytes.len() + 16);
        for (first, mask, payload) in frames(&out) {
            assert_eq!(first & 0x70, 0, "RSV bits in the output");
            assert_eq!(
                mask.is_some(),
                role == Role::Server,
                "masking does not match the role"
            );
            assert!(
                payload.len() <= max.max(bytes.len()),
                "output frame of {} bytes",
                payload.len()
            );
        }
    }

    // 2. Arbitrary bytes into Deflaters.
    for role in ROLES {
        let threshold = usize::from(config >> 4);
        let mut d = Deflater::new(role, !takeover, threshold, u32::from(config % 10));
        for f in bytes.iter().map(|b| b & 1 == 0).take(8) {
            d.push_flag(f);
        }
        let whole = run(bytes, usize::MAX, |i, o| d.feed(i, o));
        let mut d = Deflater::new(role, !takeover, threshold, u32::from(config % 10));
        for f in bytes.iter().map(|b| b & 1 == 0).take(8) {
            d.push_flag(f);
        }
        let chunked = run(bytes, chunk, |i, o| d.feed(i, o));
        assert_eq!(whole, chunked, "chunking changed the deflated stream");
    }

    // 3. Messages through a Deflater and back through the peer's Inflater.
    for writer in ROLES {
        let reader = peer(writer);
        let threshold = usize::from(config >> 5) * 8;
        let mut d = Deflater::new(writer, !takeover, threshold, u32::from(config % 10));
        let mut inf = Inflater::new(reader, !takeover, 4096);
        let mut written = Vec::new();
        let mut expected = Vec::new();
        for (i, payload) in bytes.split(|&b| b == 0xfe).enumerate() {
            let key =
                (writer == Role::Client).then_some([i as u8, 0x5a, payload.len() as u8, 0xa5]);
            let opcode = if i % 2 == 0 { 0x81 } else { 0x82 };
            let ping = &payload[..payload.len().min(125)];
            d.push_flag(i % 3 != 2);
            written.extend(frame(opcode, payload, key));
            written.extend(frame(0x89, ping, key));
            expected.push((opcode, payload.to_vec()));
            expected.push((0x89, ping.to_vec()));
        }
        let (wire, rest, err) = run(&written, chunk, |i, o| d.feed(i, o));
        assert!(err.is_none() && rest.is_empty());
        for (first, mask, _) in frames(&wire) {
            assert_eq!(mask.is_some(), writer == Role::Client);
            assert!(
                first & 0x40 == 0 || first & 0x0f != 0,
                "RSV1 on a continuation"
            );
        }
        let (plain, rest, err) = run(&wire, chunk, |i, o| inf.feed(i, o));
        assert!(rest.is_empty());
        match err {
            None => {
                let got = frames(&plain);
                assert!(got
                    .iter()
                    .all(|f| f.1.is_some() == (reader == Role::Server)));
                let got: Vec<(u8, Vec<u8>)> = got.into_iter().map(|(f, _, p)| (f, p)).collect();
                assert!(got == expected, "the round trip changed the messages");
            }
            Some(e) => {
                assert_eq!(e, DeflateError::TooBig);
                assert!(bytes.len() > 4096);
            }
        }
    }
});
