//! Counts heap allocations made by the decoders: text packets must cost none.

use bytes::{Bytes, BytesMut};
use engineio_proto::payload::{v3_binary, v3_text, v4};
use engineio_proto::{DecodeLimits, Frame, Packet, ProtocolVersion};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Heap blocks allocated while `f` runs. dhat counts every allocation of the process, so this
/// file runs without libtest's harness (`harness = false`): no other thread allocates.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn text_packets(n: usize) -> Vec<Packet> {
    (0..n)
        .map(|i| {
            Packet::text(format!(
                "{{\"event\":\"chat\",\"n\":{i},\"text\":\"héllo 😀\"}}"
            ))
        })
        .collect()
}

/// Decodes `body` into a warm vector and returns the allocations the decode made.
fn decode_allocations(
    decode: fn(Bytes, &DecodeLimits, &mut Vec<Packet>) -> Result<(), engineio_proto::DecodeError>,
    body: Bytes,
    expected: usize,
) -> u64 {
    let mut out = Vec::with_capacity(expected);
    let n = allocations_during(|| {
        decode(body, &DecodeLimits::UNLIMITED, &mut out).unwrap();
    });
    assert_eq!(out.len(), expected);
    n
}

fn text_packets_decode_without_allocating() {
    for n in [1, 16, 128] {
        let packets = text_packets(n);
        type Encode = fn(&[Packet], &mut BytesMut);
        type Decode =
            fn(Bytes, &DecodeLimits, &mut Vec<Packet>) -> Result<(), engineio_proto::DecodeError>;
        let flavours: [(&str, Encode, Decode); 3] = [
            ("v4", v4::encode, v4::decode),
            ("v3 text", v3_text::encode, v3_text::decode),
            ("v3 binary", v3_binary::encode, v3_binary::decode),
        ];
        for (name, encode, decode) in flavours {
            let mut body = BytesMut::new();
            encode(&packets, &mut body);
            // A body that arrives from the network is shared `Bytes` (as hyper hands it over):
            // slicing it is a reference count, never an allocation.
            let body = body.freeze();
            let _warm = body.clone();
            let allocs = decode_allocations(decode, body, n);
            assert_eq!(
                allocs, 0,
                "{name}: {allocs} allocations decoding {n} text packets"
            );
        }
    }
}

fn text_frames_decode_without_allocating() {
    let frame = Frame::Text("4{\"a\":1}".into());
    for v in [ProtocolVersion::V4, ProtocolVersion::V3] {
        let f = frame.clone();
        let n = allocations_during(|| {
            f.decode(v, usize::MAX).unwrap();
        });
        assert_eq!(n, 0, "{v:?}");
    }
}

fn encoding_into_a_warm_buffer_does_not_allocate() {
    let packets = text_packets(128);
    let mut out = BytesMut::with_capacity(64 * 1024);
    for encode in [v4::encode, v3_text::encode, v3_binary::encode] {
        out.clear();
        let n = allocations_during(|| encode(&packets, &mut out));
        assert_eq!(n, 0);
    }
    // WebSocket frames split off a lent buffer that has room: no allocation per frame once the
    // buffer's capacity is reclaimed.
    let mut buf = BytesMut::with_capacity(4096);
    let p = Packet::text("hello");
    let n = allocations_during(|| {
        for _ in 0..100 {
            let f = Frame::encode(&p, ProtocolVersion::V4, &mut buf);
            drop(f);
        }
    });
    assert!(n <= 1, "{n} allocations for 100 frames");
}

fn the_counter_counts() {
    // Guards the test itself: a decode of base64 binary must allocate (its bytes are new).
    let body = Bytes::from_static(b"bAQID");
    let n = decode_allocations(v4::decode, body, 1);
    assert!(n >= 1);
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    the_counter_counts();
    text_packets_decode_without_allocating();
    text_frames_decode_without_allocating();
    encoding_into_a_warm_buffer_does_not_allocate();
    println!("allocations: ok");
}
