//! The deterministic Engine.IO session machines (server and client).
//!
//! Not built yet: this crate is filled by the server-machine and client-machine issues. It
//! re-exports the codec crate so dependents can already name one path.

pub use engineio_proto as proto;
