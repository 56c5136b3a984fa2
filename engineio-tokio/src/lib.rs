//! Engine.IO server and client on Tokio, hyper 1 and tungstenite.
//!
//! Not built yet: this crate is filled by the Tokio issue.

pub use engineio_proto as proto;
