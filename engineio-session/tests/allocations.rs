//! Heap allocations per message through a warm session (counted with dhat): the target is zero
//! for a text message on WebSocket, both ways.
//!
//! dhat counts every allocation of the process, so this test runs without libtest's harness
//! (`harness = false`): no other thread allocates while it measures.

use engineio_session::proto::{Frame, Str};
use engineio_session::{Input, Instant, ReqId, Route, Server, ServerConfig, Verdict};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn websocket_text_messages_allocate_nothing_once_warm() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut server = Server::new(ServerConfig {
        seed: Some(1),
        ..ServerConfig::default()
    });
    let req = http::Request::get("/engine.io/?EIO=4&transport=websocket")
        .header("upgrade", "websocket")
        .body(())
        .unwrap();
    let Route::Handshake(hs) = server.route((&req).into()) else {
        panic!()
    };
    let (_, mut s) = server
        .accept(Instant::ZERO, hs, ReqId(0), Verdict::Allow)
        .unwrap();
    let frame = Frame::Text(Str::from("4{\"event\":\"chat\",\"text\":\"héllo\"}"));
    let reply = Str::from("{\"event\":\"ack\"}");
    let round = |s: &mut engineio_session::Session| {
        s.handle_input(Instant::ZERO, Input::WsFrame(ReqId(0), frame.clone()));
        s.send(reply.clone()).unwrap();
        let mut n = 0;
        while let Some(t) = s.poll_transmit() {
            drop(t);
            n += 1;
        }
        while let Some(e) = s.poll_event() {
            drop(e);
            n += 1;
        }
        n
    };
    for _ in 0..100 {
        round(&mut s);
    }
    let before = dhat::HeapStats::get().total_blocks;
    let mut handled = 0;
    for _ in 0..1000 {
        handled += round(&mut s);
    }
    let allocations = dhat::HeapStats::get().total_blocks - before;
    assert!(handled >= 3000, "{handled}");
    println!("{allocations} allocations for 1000 messages in and 1000 out");
    assert_eq!(allocations, 0);
    // The counter itself counts (guards against a test that cannot fail).
    let before = dhat::HeapStats::get().total_blocks;
    let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(16));
    drop(v);
    assert_eq!(dhat::HeapStats::get().total_blocks - before, 1);
}

fn main() {
    websocket_text_messages_allocate_nothing_once_warm();
    println!("allocations: ok");
}
