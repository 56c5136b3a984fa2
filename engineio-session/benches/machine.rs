#![allow(missing_docs)] // criterion's macros generate undocumented items
//! The server machine alone, no I/O: messages per second through a session on WebSocket and
//! on polling, and sessions opened per second.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use engineio_session::proto::{Frame, Packet, PayloadFormat, ProtocolVersion, Str, Transport};
use engineio_session::{
    Input, Instant, ReqId, RequestKind, Route, Server, ServerConfig, Session, SessionRequest,
    Transmit, Verdict,
};
use std::hint::black_box;
use std::time::Duration;

fn handshake(server: &mut Server, target: &str, ws: bool) -> Session {
    let mut b = http::Request::get(target);
    if ws {
        b = b.header("upgrade", "websocket");
    }
    let req = b.body(()).unwrap();
    let Route::Handshake(hs) = server.route((&req).into()) else {
        panic!("no handshake")
    };
    server
        .accept(Instant::ZERO, hs, ReqId(0), Verdict::Allow)
        .unwrap()
        .1
}

fn drain(s: &mut Session) -> usize {
    let mut n = 0;
    while let Some(t) = s.poll_transmit() {
        black_box(&t);
        n += 1;
    }
    while let Some(e) = s.poll_event() {
        black_box(&e);
        n += 1;
    }
    n
}

fn config() -> ServerConfig {
    ServerConfig {
        seed: Some(1),
        ping_interval: Duration::from_secs(3600),
        ..ServerConfig::default()
    }
}

fn websocket(c: &mut Criterion) {
    let mut g = c.benchmark_group("websocket");
    for size in [32usize, 1024] {
        let mut server = Server::new(config());
        let mut s = handshake(&mut server, "/engine.io/?EIO=4&transport=websocket", true);
        drain(&mut s);
        let payload = format!("4{}", "x".repeat(size));
        let frame = Frame::Text(Str::from(payload.as_str()));
        let reply = Str::from("y".repeat(size));
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("echo/{size}B"), |b| {
            b.iter(|| {
                s.handle_input(Instant::ZERO, Input::WsFrame(ReqId(0), frame.clone()));
                s.send(reply.clone()).unwrap();
                drain(&mut s)
            })
        });
    }
    g.finish();
}

fn polling(c: &mut Criterion) {
    let mut g = c.benchmark_group("polling");
    let n = 16;
    let mut server = Server::new(config());
    let mut s = handshake(&mut server, "/engine.io/?EIO=4&transport=polling", false);
    drain(&mut s);
    let packets: Vec<Packet> = (0..n)
        .map(|i| Packet::text(format!("{{\"n\":{i}}}")))
        .collect();
    let mut body = bytes::BytesMut::new();
    PayloadFormat::V4.encode(&packets, &mut body);
    let body: Bytes = body.freeze();
    let get = SessionRequest::new(RequestKind::Get, Transport::Polling, ProtocolVersion::V4);
    let post = SessionRequest::new(
        RequestKind::Post { binary: false },
        Transport::Polling,
        ProtocolVersion::V4,
    );
    let reply = Str::from("{\"ok\":true}");
    let mut id = 1;
    // One POST of 16 messages in, one GET of 16 messages out, per iteration.
    g.throughput(Throughput::Elements(2 * n as u64));
    g.bench_function("post16+get16", |b| {
        b.iter(|| {
            id += 2;
            s.handle_input(Instant::ZERO, Input::Request(ReqId(id), post.clone()));
            s.handle_input(Instant::ZERO, Input::PostBody(ReqId(id), body.clone()));
            for _ in 0..n {
                s.send(reply.clone()).unwrap();
            }
            s.handle_input(Instant::ZERO, Input::Request(ReqId(id + 1), get.clone()));
            drain(&mut s)
        })
    });
    g.finish();
}

fn sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("sessions");
    g.throughput(Throughput::Elements(1));
    for (name, target, ws) in [
        ("open/polling", "/engine.io/?EIO=4&transport=polling", false),
        (
            "open/websocket",
            "/engine.io/?EIO=4&transport=websocket",
            true,
        ),
    ] {
        let mut server = Server::new(config());
        g.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut s = handshake(&mut server, target, ws);
                    let first = s.poll_transmit();
                    assert!(matches!(
                        first,
                        Some(Transmit::Respond { .. } | Transmit::AcceptWebSocket { .. })
                    ));
                    drain(&mut s);
                    s
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = websocket, polling, sessions
}
criterion_main!(benches);
