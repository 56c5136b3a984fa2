//! Engine.IO server and client on smol.
//!
//! Not built yet: this crate is filled by the smol issue.

pub use engineio_proto as proto;
