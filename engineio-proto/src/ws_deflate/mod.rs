//! A sans-IO permessage-deflate ([RFC 7692]) codec for WebSocket frame byte streams.
//!
//! It sits under a WebSocket library that knows nothing of the extension: bytes read from the
//! network go through an [`Inflater`], which turns every compressed message into one plain,
//! unfragmented frame, before the library parses them; bytes the library writes go through a
//! [`Deflater`], which compresses whole data frames and sets RSV1, before the network. The
//! negotiation (`Sec-WebSocket-Extensions`) happens elsewhere; the window is always 15 bits.
//!
//! Memory: an idle codec holds no heap. Without context takeover, the (de)compressor is a
//! per-thread one, reset before each message; with context takeover, each codec keeps its own
//! boxed one, made on the first compressed message.
//!
//! ```
//! use bytes::BytesMut;
//! use engineio_proto::ws_deflate::{Deflater, Inflater, Role};
//!
//! // An unmasked server frame: text "Hello, Hello, Hello, Hello".
//! let text = b"Hello, Hello, Hello, Hello";
//! let mut frame = BytesMut::from(&[0x81, text.len() as u8][..]);
//! frame.extend_from_slice(text);
//!
//! let mut deflater = Deflater::new(Role::Server, false, 0, 6);
//! let mut wire = BytesMut::new();
//! deflater.feed(&mut frame, &mut wire).unwrap();
//! assert_eq!(wire[0], 0xc1); // FIN, RSV1, text
//! assert!(wire.len() < 2 + text.len());
//!
//! let mut inflater = Inflater::new(Role::Client, false, 1 << 20);
//! let mut plain = BytesMut::new();
//! inflater.feed(&mut wire, &mut plain).unwrap();
//! assert_eq!(&plain[..2], &[0x81, text.len() as u8]);
//! assert_eq!(&plain[2..], text);
//! ```
//!
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692

use std::cell::RefCell;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress};

mod deflate;
mod header;
mod inflate;

pub use deflate::Deflater;
pub use inflate::Inflater;

/// Which end of the WebSocket a codec runs at. A client's frames are masked, a server's not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The accepting end: reads masked frames, writes unmasked ones.
    Server,
    /// The connecting end: reads unmasked frames, writes masked ones.
    Client,
}

/// Why a byte stream cannot go on; [`close_code`](DeflateError::close_code) is the close code
/// to send.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeflateError {
    /// A message inflates (or arrives compressed) over the size limit (close code 1009).
    #[error("compressed message over the size limit")]
    TooBig,
    /// Compressed data that does not inflate (close code 1007).
    #[error("compressed data does not inflate")]
    BadData,
    /// A frame the extension forbids (close code 1002).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
}

impl DeflateError {
    /// The WebSocket close code for this error: 1009, 1007 or 1002.
    pub fn close_code(&self) -> u16 {
        match self {
            DeflateError::TooBig => 1009,
            DeflateError::BadData => 1007,
            DeflateError::Protocol(_) => 1002,
        }
    }
}

/// Appends a close frame with `code` and an empty reason, as `role` sends it, to `out`: a
/// client's frame is masked with `mask`, a server's is not (`mask` is then ignored).
///
/// ```
/// use bytes::BytesMut;
/// use engineio_proto::ws_deflate::{close_frame, Role};
/// let mut out = BytesMut::new();
/// close_frame(Role::Server, 1009, [0; 4], &mut out);
/// assert_eq!(&out[..], &[0x88, 0x02, 0x03, 0xf1]);
/// ```
pub fn close_frame(role: Role, code: u16, mask: [u8; 4], out: &mut BytesMut) {
    let mask = (role == Role::Client).then_some(mask);
    header::write(out, header::FIN | header::OP_CLOSE, mask, 2);
    let mut payload = code.to_be_bytes();
    if let Some(key) = mask {
        header::apply_mask(&mut payload, key, 0);
    }
    out.extend_from_slice(&payload);
}

/// The highest deflate level; higher ones are clamped to it.
const MAX_LEVEL: u32 = 9;

/// The window sizes the compressor can use: 2^9 to 2^15 bytes (zlib cannot deflate with 8).
pub const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// A raw-deflate compressor for `level` and `window_bits` (clamped to [`WINDOW_BITS`]).
fn compressor(level: u32, window_bits: u8) -> Compress {
    let bits = window_bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
    Compress::new_with_window_bits(Compression::new(level), false, bits)
}

thread_local! {
    /// Per-thread compressors, one per level and window, for codecs without context
    /// takeover.
    static COMPRESSORS: RefCell<Vec<(u32, u8, Compress)>> = const { RefCell::new(Vec::new()) };
    /// The per-thread decompressor for codecs without context takeover.
    static DECOMPRESSOR: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's compressor for `level`, reset (a fresh one should the
/// thread-local be unavailable).
fn with_thread_compressor<R>(
    level: u32,
    window_bits: u8,
    mut f: impl FnMut(&mut Compress) -> R,
) -> R {
    let level = level.min(MAX_LEVEL);
    let pooled = COMPRESSORS.try_with(|cell| {
        let mut slots = cell.try_borrow_mut().ok()?;
        let at = match slots
            .iter()
            .position(|(l, b, _)| *l == level && *b == window_bits)
        {
            Some(at) => at,
            None => {
                slots.push((level, window_bits, compressor(level, window_bits)));
                slots.len() - 1
            }
        };
        let c = &mut slots[at].2;
        c.reset();
        Some(f(c))
    });
    match pooled {
        Ok(Some(r)) => r,
        _ => f(&mut compressor(level, window_bits)),
    }
}

/// Runs `f` with this thread's decompressor, reset (a fresh one should the thread-local be
/// unavailable).
fn with_thread_decompressor<R>(mut f: impl FnMut(&mut Decompress) -> R) -> R {
    let pooled = DECOMPRESSOR.try_with(|cell| {
        let mut slot = cell.try_borrow_mut().ok()?;
        let d = slot.get_or_insert_with(|| Decompress::new(false));
        d.reset(false);
        Some(f(d))
    });
    match pooled {
        Ok(Some(r)) => r,
        _ => f(&mut Decompress::new(false)),
    }
}
