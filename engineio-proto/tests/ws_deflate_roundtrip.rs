//! permessage-deflate codec between two tungstenite WebSockets: what one writes goes through a
//! `Deflater`, then an `Inflater`, and the other reads the same messages.
#![cfg(feature = "ws-deflate")]

use std::io::{self, Read, Write};

use bytes::{Buf, BytesMut};
use engineio_proto::ws_deflate::{Deflater, Inflater, Role};
use proptest::prelude::*;
use tungstenite::protocol::{Role as WsRole, WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Message};

/// An in-memory stream: reads what the test put in `rx` (`WouldBlock` when empty), writes
/// to `tx`.
#[derive(Default)]
struct Duplex {
    rx: BytesMut,
    tx: Vec<u8>,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rx.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.rx.len());
        buf[..n].copy_from_slice(&self.rx[..n]);
        self.rx.advance(n);
        Ok(n)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn socket(role: Role) -> WebSocket<Duplex> {
    let role = match role {
        Role::Server => WsRole::Server,
        Role::Client => WsRole::Client,
    };
    let config = WebSocketConfig::default().max_message_size(Some(4 << 20));
    WebSocket::from_raw_socket(Duplex::default(), role, Some(config))
}

fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

/// Chunk sizes to cut a byte stream into: the sequence given, cycled (0 taken as 1).
struct Chunks<'a>(&'a [usize], usize);

impl Chunks<'_> {
    fn next(&mut self) -> usize {
        let n = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(1 << 30);
        self.1 += 1;
        n.max(1)
    }
}

/// Feeds `bytes` in chunks through `f` (a codec's `feed` over a pending buffer).
fn pump(
    bytes: &[u8],
    chunks: &mut Chunks<'_>,
    pending: &mut BytesMut,
    out: &mut BytesMut,
    mut f: impl FnMut(&mut BytesMut, &mut BytesMut),
) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = chunks.next().min(rest.len());
        pending.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        f(pending, out);
    }
    f(pending, out);
}

/// The outcome of a run: the messages read, the bytes the writer's library wrote and the
/// bytes on the wire.
struct Run {
    read: Vec<Message>,
    written: usize,
    wire: Vec<u8>,
}

/// Sends `messages` (with their `compress` flags) from a `writer`-role WebSocket through a
/// `Deflater`, then an `Inflater` for the other role, to a WebSocket that reads them.
fn run(
    writer: Role,
    context_takeover: bool,
    messages: &[(Message, bool)],
    chunks: &[usize],
) -> Run {
    let reader = peer(writer);
    let mut tx = socket(writer);
    let mut rx = socket(reader);
    let mut deflater = Deflater::new(writer, !context_takeover, 64, 6);
    let mut inflater = Inflater::new(reader, !context_takeover, 2 << 20);
    let (mut d_in, mut i_in) = (BytesMut::new(), BytesMut::new());
    let mut wire = Vec::new();
    let mut written = 0;
    let mut read = Vec::new();
    let mut cut = Chunks(chunks, 0);
    for (m, compress) in messages {
        if matches!(m, Message::Text(_) | Message::Binary(_)) {
            deflater.push_flag(*compress);
        }
        tx.send(m.clone()).unwrap();
        let bytes = std::mem::take(&mut tx.get_mut().tx);
        written += bytes.len();
        let mut sent = BytesMut::new();
        pump(&bytes, &mut cut, &mut d_in, &mut sent, |i, o| {
            deflater.feed(i, o).unwrap()
        });
        assert!(d_in.is_empty());
        wire.extend_from_slice(&sent);
        let mut plain = BytesMut::new();
        pump(&sent, &mut cut, &mut i_in, &mut plain, |i, o| {
            inflater.feed(i, o).unwrap()
        });
        assert!(i_in.is_empty());
        rx.get_mut().rx.extend_from_slice(&plain);
        loop {
            match rx.read() {
                Ok(m) => read.push(m),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("the reader refused our output: {e}"),
            }
        }
    }
    assert_eq!(deflater.heap_bytes(), 0);
    assert_eq!(inflater.heap_bytes(), 0);
    Run {
        read,
        written,
        wire,
    }
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Compressible text of `len` bytes (ASCII).
fn prose(len: usize) -> String {
    "the quick brown fox jumps over the lazy dog; "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

/// Whether the wire holds a frame with RSV1 set (it walks unfragmented frames).
fn compressed_frames(mut wire: &[u8]) -> usize {
    let mut n = 0;
    while wire.len() >= 2 {
        if wire[0] & 0x40 != 0 {
            n += 1;
        }
        let (len, size) = match wire[1] & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
                10,
            ),
            l => (l as usize, 2),
        };
        let size = size + if wire[1] & 0x80 != 0 { 4 } else { 0 };
        wire = &wire[size + len..];
    }
    n
}

const SIZES: [usize; 11] = [0, 1, 63, 64, 125, 126, 1024, 65535, 65536, 300_000, 1 << 20];

fn sample_messages() -> Vec<(Message, bool)> {
    let mut v = Vec::new();
    for (i, &n) in SIZES.iter().enumerate() {
        v.push((Message::text(prose(n)), true));
        v.push((Message::binary(Bytes::from(noise(n, i as u64 + 1))), true));
        v.push((Message::binary(Bytes::from(vec![i as u8; n])), true));
        v.push((Message::Ping(Bytes::from_static(b"ping")), true));
    }
    v
}

fn data_only(messages: &[(Message, bool)]) -> Vec<Message> {
    messages.iter().map(|(m, _)| m.clone()).collect()
}

#[test]
fn tungstenite_reads_what_we_inflate_both_directions() {
    let messages = sample_messages();
    for writer in [Role::Client, Role::Server] {
        for ctx in [false, true] {
            let r = run(writer, ctx, &messages, &[]);
            assert_eq!(r.read, data_only(&messages), "{writer:?} ctx {ctx}");
            // Every data message of 64 bytes or more went compressed.
            let big = messages
                .iter()
                .filter(|(m, _)| !matches!(m, Message::Ping(_)) && m.len() >= 64)
                .count();
            assert_eq!(compressed_frames(&r.wire), big);
        }
    }
}

#[test]
fn compressible_data_gets_smaller() {
    for writer in [Role::Client, Role::Server] {
        for ctx in [false, true] {
            for n in [1024, 65536, 1 << 20] {
                let m = vec![(Message::text(prose(n)), true)];
                let r = run(writer, ctx, &m, &[]);
                assert_eq!(r.read, data_only(&m));
                assert!(
                    r.wire.len() * 10 < r.written,
                    "{n}: {} vs {}",
                    r.wire.len(),
                    r.written
                );
            }
        }
    }
    // Context takeover: a repeated message costs next to nothing the second time.
    let m = vec![(Message::binary(noise(4000, 9)), true); 2];
    for writer in [Role::Client, Role::Server] {
        let shared = run(writer, true, &m, &[]);
        let alone = run(writer, false, &m, &[]);
        assert_eq!(shared.read, data_only(&m));
        assert_eq!(alone.read, data_only(&m));
        assert!(shared.wire.len() + 3000 < alone.wire.len());
    }
}

#[test]
fn compress_false_goes_uncompressed() {
    let m = vec![
        (Message::text(prose(5000)), false),
        (Message::Ping(Bytes::new()), true),
        (Message::text(prose(5000)), true),
        (Message::binary(vec![0; 5000]), false),
    ];
    for writer in [Role::Client, Role::Server] {
        let r = run(writer, true, &m, &[]);
        assert_eq!(r.read, data_only(&m));
        assert_eq!(compressed_frames(&r.wire), 1);
    }
}

#[test]
fn one_byte_at_a_time() {
    let messages: Vec<(Message, bool)> = [0, 70, 200, 5000, 70_000]
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| {
            [
                (Message::text(prose(n)), true),
                (Message::Ping(Bytes::from(vec![1, 2, 3])), true),
                (Message::binary(noise(n, i as u64 + 7)), i % 2 == 0),
            ]
        })
        .collect();
    for writer in [Role::Client, Role::Server] {
        for ctx in [false, true] {
            let r = run(writer, ctx, &messages, &[1]);
            assert_eq!(r.read, data_only(&messages), "{writer:?} ctx {ctx}");
        }
    }
}

fn message() -> impl Strategy<Value = (Message, bool)> {
    let size = prop_oneof![0usize..200, 200usize..5000, 5000usize..40_000];
    (0u8..5, size, any::<u64>(), any::<bool>()).prop_map(|(kind, n, seed, compress)| {
        let m = match kind {
            0 => Message::text(prose(n)),
            1 => Message::binary(noise(n, seed)),
            2 => Message::binary(vec![seed as u8; n]),
            3 => Message::Ping(Bytes::from(noise(n % 126, seed))),
            _ => Message::text(String::from_utf8_lossy(&noise(n, seed)).into_owned()),
        };
        (m, compress)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_messages_in_random_chunks(
        messages in prop::collection::vec(message(), 1..12),
        chunks in prop::collection::vec(1usize..3000, 1..16),
        ctx in any::<bool>(),
        client_writes in any::<bool>(),
    ) {
        let writer = if client_writes { Role::Client } else { Role::Server };
        let r = run(writer, ctx, &messages, &chunks);
        prop_assert_eq!(r.read, data_only(&messages));
    }
}
