//! Polling payload codec benchmarks: ours against `engineioxide-core` (the codec of
//! socketioxide's engineioxide), on the same inputs, in the same run.
//!
//! Benchmark ids are `<op>/<version>/<kind>/<count>x<size>/<impl>`:
//!
//! - `op`: `encode` (packets into a reused `BytesMut`) or `decode` (a body into a reused `Vec`);
//! - `version`/`kind`: `v4/text`, `v4/binary`, `v3/text`, `v3/text-mb` (multibyte text, where
//!   UTF-16 length counting matters), `v3/binary` (v3 binary payload) and `v3/binary-b64` (v3
//!   text payload with base64 binary, for clients that asked for `b64=1`);
//! - `count`x`size`: 1, 16 or 128 packets of 32 B, 1 KiB or 64 KiB of data each;
//! - `impl`: `ours` or `engineioxide`.
//!
//! Throughput is the length of the encoded payload, for both operations. Both codecs are fed
//! the same body (our encoding; the setup checks that engineioxide encodes it byte for byte the
//! same and that both decoders agree). engineioxide's decoder is a stream over an
//! `http_body::Body` (here `Full<Bytes>`, one chunk, as hyper hands a small body) and its
//! encoder reads packets from a stream; both are driven with `futures_executor::block_on`.
//! Its encoder takes packets by value: their (cheap, reference-counted) clones are made in an
//! untimed setup.
//!
//! `cargo bench -p engineio-proto`, then `.ci/bench-table` for a markdown table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use engineio_proto::{DecodeLimits, Message, Packet, PayloadFormat};
use engineioxide_core as peer;
use futures_util::StreamExt;
use http::HeaderValue;
use http_body_util::Full;

/// Packets per payload.
const COUNTS: [usize; 3] = [1, 16, 128];
/// Data bytes per packet, with their label.
const SIZES: [(usize, &str); 3] = [(32, "32B"), (1024, "1KiB"), (64 * 1024, "64KiB")];

/// What the packets of a case carry.
#[derive(Clone, Copy, PartialEq)]
enum Data {
    /// JSON-like ASCII text.
    Ascii,
    /// JSON-like text whose strings are full of 2-, 3- and 4-byte characters.
    Multibyte,
    /// Pseudo-random bytes.
    Binary,
}

/// One row family: a protocol version, a payload flavour and what the packets carry.
struct Case {
    version: &'static str,
    kind: &'static str,
    format: PayloadFormat,
    data: Data,
}

const CASES: [Case; 6] = [
    Case {
        version: "v4",
        kind: "text",
        format: PayloadFormat::V4,
        data: Data::Ascii,
    },
    Case {
        version: "v4",
        kind: "binary",
        format: PayloadFormat::V4,
        data: Data::Binary,
    },
    Case {
        version: "v3",
        kind: "text",
        format: PayloadFormat::V3 { binary: true },
        data: Data::Ascii,
    },
    Case {
        version: "v3",
        kind: "text-mb",
        format: PayloadFormat::V3 { binary: true },
        data: Data::Multibyte,
    },
    Case {
        version: "v3",
        kind: "binary",
        format: PayloadFormat::V3 { binary: true },
        data: Data::Binary,
    },
    Case {
        version: "v3",
        kind: "binary-b64",
        format: PayloadFormat::V3 { binary: false },
        data: Data::Binary,
    },
];

impl Case {
    fn peer_protocol(&self) -> peer::ProtocolVersion {
        match self.format {
            PayloadFormat::V4 => peer::ProtocolVersion::V4,
            _ => peer::ProtocolVersion::V3,
        }
    }

    /// Whether the client takes binary bodies (engineioxide's `supports_binary`).
    fn supports_binary(&self) -> bool {
        !matches!(self.format, PayloadFormat::V3 { binary: false })
    }

    /// Whether the encoded body is a v3 binary payload (`application/octet-stream`).
    fn binary_body(&self) -> bool {
        self.data == Data::Binary && matches!(self.format, PayloadFormat::V3 { binary: true })
    }

    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static(if self.binary_body() {
            "application/octet-stream"
        } else {
            "text/plain; charset=UTF-8"
        })
    }
}

/// The same packets in both codecs' models, and our encoding of them.
struct Input {
    ours: Vec<Packet>,
    peer: Vec<peer::Packet>,
    body: Bytes,
    /// How long one run of each benchmark took in the setup, to size its sampling.
    once: Once,
}

/// One untimed run of each operation, cold.
#[derive(Default)]
struct Once {
    encode_ours: Duration,
    encode_peer: Duration,
    decode_ours: Duration,
    decode_peer: Duration,
}

/// A small deterministic generator (xorshift64*), so every run benchmarks the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "ok",
];

/// Words of 2-, 3- and 4-byte characters (Latin, Cyrillic, CJK, Hangul, emoji, symbols).
const WORDS_MB: &[&str] = &[
    "héllo",
    "wörld",
    "größe",
    "café",
    "привет",
    "мир",
    "你好",
    "世界",
    "こんにちは",
    "안녕하세요",
    "😀",
    "🚀👍",
    "✓",
    "€42",
    "—",
    "naïve",
];

fn word<'a>(rng: &mut Rng, multibyte: bool) -> &'a str {
    if multibyte && rng.below(2) == 0 {
        WORDS_MB[rng.below(WORDS_MB.len())]
    } else {
        WORDS[rng.below(WORDS.len())]
    }
}

/// Appends words separated by spaces until `s` is exactly `len` bytes long.
fn fill_words(s: &mut String, len: usize, multibyte: bool, rng: &mut Rng) {
    while s.len() < len {
        let w = word(rng, multibyte);
        let sep = usize::from(!s.ends_with('"') && !s.ends_with(' '));
        if s.len() + sep + w.len() <= len {
            if sep == 1 {
                s.push(' ');
            }
            s.push_str(w);
        } else {
            // Nothing fits: pad with ASCII.
            s.push('.');
        }
    }
}

/// A socket.io-like event of exactly `len` bytes: `["chat",{record},...,"<words>"]`.
fn json_text(len: usize, multibyte: bool, rng: &mut Rng) -> String {
    let mut s = String::with_capacity(len);
    s.push_str("[\"chat\",");
    for i in 0.. {
        let text: Vec<&str> = (0..6).map(|_| word(rng, multibyte)).collect();
        let text = text.join(" ");
        let id = rng.below(1_000_000);
        let record = format!(
            r#"{{"id":{id},"user":"user_{i}","room":"general","text":"{text}","ts":{},"ack":true}}"#,
            1_700_000_000_000u64 + id as u64
        );
        // Leave room for `,"` + `"]`.
        if s.len() + record.len() + 4 > len {
            break;
        }
        s.push_str(&record);
        s.push(',');
    }
    s.push('"');
    fill_words(&mut s, len - 2, multibyte, rng);
    s.push_str("\"]");
    assert_eq!(s.len(), len);
    s
}

fn binary(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

fn input(case: &Case, count: usize, size: usize) -> Input {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (count * 131 + size) as u64);
    let mut ours = Vec::with_capacity(count);
    let mut theirs = Vec::with_capacity(count);
    for _ in 0..count {
        match case.data {
            Data::Ascii | Data::Multibyte => {
                let text = json_text(size, case.data == Data::Multibyte, &mut rng);
                ours.push(Packet::text(text.as_str()));
                theirs.push(peer::Packet::Message(text.into()));
            }
            Data::Binary => {
                let data = Bytes::from(binary(size, &mut rng));
                ours.push(Packet::binary(data.clone()));
                theirs.push(match case.format {
                    PayloadFormat::V4 => peer::Packet::Binary(data),
                    _ => peer::Packet::BinaryV3(data),
                });
            }
        }
    }
    let mut body = BytesMut::new();
    let start = Instant::now();
    case.format.encode(&ours, &mut body);
    let mut input = Input {
        once: Once {
            encode_ours: start.elapsed(),
            ..Once::default()
        },
        ours,
        peer: theirs,
        body: body.freeze(),
    };
    check(case, &mut input);
    input
}

/// Both codecs must produce and understand the same bodies, or the comparison means nothing.
fn check(case: &Case, input: &mut Input) {
    let bufs = peer_bufs(&input.peer);
    let start = Instant::now();
    let peer_body = peer_encode(case, bufs);
    input.once.encode_peer = start.elapsed();
    assert!(
        peer_body == input.body,
        "engineioxide encodes {}/{} differently",
        case.version,
        case.kind
    );
    let mut ours = Vec::new();
    let start = Instant::now();
    ours_decode(case, &input.body, &mut ours);
    input.once.decode_ours = start.elapsed();
    let mut theirs = Vec::new();
    let start = Instant::now();
    peer_decode(case, &input.body, &mut theirs);
    input.once.decode_peer = start.elapsed();
    assert_eq!(ours, input.ours);
    assert_eq!(theirs.len(), ours.len());
    for (t, o) in theirs.iter().zip(&ours) {
        let same = match (t, o) {
            (peer::Packet::Message(t), Packet::Message(Message::Text(o))) => t.as_str() == o,
            (
                peer::Packet::Binary(t) | peer::Packet::BinaryV3(t),
                Packet::Message(Message::Binary(o)),
            ) => t == o,
            _ => false,
        };
        assert!(same, "decoders disagree on {}/{}", case.version, case.kind);
    }
}

const LIMITS: DecodeLimits = DecodeLimits::UNLIMITED;

fn ours_decode(case: &Case, body: &Bytes, out: &mut Vec<Packet>) {
    case.format
        .decode(case.binary_body(), body.clone(), &LIMITS, out)
        .expect("our decoder refused our encoding");
}

fn peer_decode(case: &Case, body: &Bytes, out: &mut Vec<peer::Packet>) {
    let content_type = case.content_type();
    futures_executor::block_on(async {
        let stream = peer::payload::decoder(
            Full::new(body.clone()),
            Some(&content_type),
            case.peer_protocol(),
            u64::MAX,
        );
        let mut stream = std::pin::pin!(stream);
        while let Some(packet) = stream.next().await {
            out.push(packet.expect("engineioxide refused our encoding"));
        }
    });
}

/// Packets as engineioxide's sockets queue them: one `PacketBuf` per emitted packet.
fn peer_bufs(packets: &[peer::Packet]) -> Vec<peer::PacketBuf> {
    packets
        .iter()
        .map(|p| std::iter::once(p.clone()).collect())
        .collect()
}

fn peer_encode(case: &Case, bufs: Vec<peer::PacketBuf>) -> Bytes {
    futures_executor::block_on(peer::payload::encoder(
        futures_util::stream::iter(bufs),
        case.peer_protocol(),
        case.supports_binary(),
        u64::MAX,
    ))
    .data
}

fn bench(c: &mut Criterion) {
    for case in &CASES {
        let inputs: Vec<(String, Input)> = COUNTS
            .iter()
            .flat_map(|&count| {
                SIZES
                    .iter()
                    .map(move |&(size, label)| (format!("{count}x{label}"), (count, size)))
            })
            .map(|(shape, (count, size))| (shape, input(case, count, size)))
            .collect();

        let mut group = c.benchmark_group(format!("encode/{}/{}", case.version, case.kind));
        for (shape, input) in &inputs {
            group.throughput(Throughput::Bytes(input.body.len() as u64));
            let mut out = BytesMut::new();
            tune(&mut group, input.once.encode_ours);
            group.bench_function(BenchmarkId::new(shape, "ours"), |b| {
                b.iter(|| {
                    out.clear();
                    case.format.encode(black_box(&input.ours), &mut out);
                    black_box(&out);
                })
            });
            tune(&mut group, input.once.encode_peer);
            group.bench_function(BenchmarkId::new(shape, "engineioxide"), |b| {
                b.iter_batched(
                    || peer_bufs(&input.peer),
                    |bufs| peer_encode(case, bufs),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("decode/{}/{}", case.version, case.kind));
        for (shape, input) in &inputs {
            group.throughput(Throughput::Bytes(input.body.len() as u64));
            let mut out = Vec::with_capacity(input.ours.len());
            tune(&mut group, input.once.decode_ours);
            group.bench_function(BenchmarkId::new(shape, "ours"), |b| {
                b.iter(|| {
                    out.clear();
                    ours_decode(case, black_box(&input.body), &mut out);
                })
            });
            let mut out = Vec::with_capacity(input.peer.len());
            tune(&mut group, input.once.decode_peer);
            group.bench_function(BenchmarkId::new(shape, "engineioxide"), |b| {
                b.iter(|| {
                    out.clear();
                    peer_decode(case, black_box(&input.body), &mut out);
                })
            });
        }
        group.finish();
    }
}

const WARM_UP: Duration = Duration::from_millis(150);
const MEASUREMENT: Duration = Duration::from_millis(350);
const SAMPLES: usize = 20;
/// Criterion's default (linear) sampling runs a benchmark 210 times at least (1 + 2 + ... + 20
/// iterations): past this time a run, it gets flat sampling (the same iterations per sample).
const FLAT: Duration = Duration::from_millis(1);
/// Past this time a run, a benchmark gets criterion's fewest samples (10, one run each):
/// engineioxide's v3 text decoder is quadratic in the body size (seconds a run for 8 MiB), and
/// the whole bench must stay short.
const SLOW: Duration = Duration::from_millis(40);

/// Short runs: 216 benchmarks must fit in a few minutes on a small machine.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES)
        .nresamples(10_000)
        .without_plots()
}

/// Sizes the sampling of the next benchmark of `group` from one untimed (cold) run of it.
fn tune(group: &mut BenchmarkGroup<'_, WallTime>, once: Duration) {
    let (mode, samples, warm_up, measurement) = if once > SLOW {
        (SamplingMode::Flat, 10, once, once * 12)
    } else if once > FLAT {
        // About one run a sample, with a margin: `once` is a single, noisy measure.
        let budget = once * SAMPLES as u32 * 13 / 10;
        (
            SamplingMode::Flat,
            SAMPLES,
            WARM_UP,
            MEASUREMENT.max(budget),
        )
    } else {
        (SamplingMode::Auto, SAMPLES, WARM_UP, MEASUREMENT)
    };
    group
        .sampling_mode(mode)
        .sample_size(samples)
        .warm_up_time(warm_up)
        .measurement_time(measurement);
}

/// Runs every benchmark (what `criterion_group!`/`criterion_main!` would generate, with docs).
fn main() {
    let mut c = config().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
