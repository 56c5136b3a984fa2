//! Strict standard base64 into and out of caller buffers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};

/// Appends the padded standard base64 of `data` to `out`.
pub(crate) fn encode_into(data: &[u8], out: &mut BytesMut) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(usize::MAX);
    out.resize(start + len, 0);
    // The slice is exactly the encoded length, so encoding cannot run out of room.
    let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// Length of the padded base64 of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Decodes padded standard base64; `None` if it is anything else (bad alphabet, missing or
/// extra padding, non-zero trailing bits).
pub(crate) fn decode(text: &[u8]) -> Option<Bytes> {
    let mut buf = BytesMut::zeroed(base64::decoded_len_estimate(text.len()));
    let n = STANDARD.decode_slice(text, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf.freeze())
}
