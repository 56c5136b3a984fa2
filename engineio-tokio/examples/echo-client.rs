//! Echo client: sends N text and binary messages of random sizes to an echo server, checks
//! each echo byte-exact and in order, prints `N passed, M failed`.
//!
//! cargo run --release -p engineio-tokio --example echo-client -- --url http://127.0.0.1:3000/engine.io/
//!     --transport polling|websocket|upgrade --eio 4|3 --count N [--max-size UNITS]
//!
//! The command line and the exchange are shared with engineio-smol's `echo-client`.

#[path = "../../engineio-session/driver/examples/common/echo_client.rs"]
mod common;

#[tokio::main]
async fn main() {
    common::run(engineio_tokio::Tokio).await
}
