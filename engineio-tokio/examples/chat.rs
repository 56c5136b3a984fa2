//! A small chat, served for real on Tokio: the server logic of `common/chat.rs`, which
//! engineio-driver's `sim_chat` example checks under simulation (100 clients, faults, 1,000
//! seeds). The logic is generic over the runtime, so the same code runs in both.
//!
//! cargo run -p engineio-tokio --example chat -- [ADDR]
//!
//! A client joins with `join <room> <name>`; see `common/chat.rs` for the rest.

use std::time::Duration;

#[path = "../../engineio-session/driver/examples/common/chat.rs"]
mod chat;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let (engine, connections) = engineio_tokio::EngineIo::new(Default::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("chat on http://{}", listener.local_addr()?);
    let rooms = chat::ChatConfig {
        room_size: 10,
        start_after: Duration::from_secs(5),
    };
    tokio::spawn(chat::serve_chat(engineio_tokio::Tokio, connections, rooms));
    engineio_tokio::serve(listener, engine).await
}
