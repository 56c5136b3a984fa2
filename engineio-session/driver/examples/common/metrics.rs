//! The server's counters as JSON, shared by the `demo` (its `/metrics`) and the `echo` (its
//! answer to `__stats`).

use engineio_driver::MetricsSnapshot;
use serde_json::json;

/// The server's counters as a JSON object (the demo's `/metrics`, the echo's `__stats`).
pub fn metrics_json(m: &MetricsSnapshot, runtime: &str) -> String {
    json!({
        "runtime": runtime,
        "sessions_open": m.sessions_open,
        "on_polling": m.on_polling,
        "on_websocket": m.on_websocket,
        "sessions_total": m.sessions_total,
        "upgrades": m.upgrades,
        "closes": m.closes,
        "bytes_in": m.bytes_in,
        "bytes_out": m.bytes_out,
        "messages_in": m.messages_in,
        "messages_out": m.messages_out,
    })
    .to_string()
}
