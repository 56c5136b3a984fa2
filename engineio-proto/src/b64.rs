//! Strict standard base64 into and out of caller buffers (SIMD where the CPU has it).

use base64_simd::{Out, STANDARD};
use bytes::{Bytes, BytesMut};

/// Appends the padded standard base64 of `data` to `out`.
pub(crate) fn encode_into(data: &[u8], out: &mut BytesMut) {
    let start = out.len();
    let len = STANDARD.encoded_length(data.len());
    out.resize(start + len, 0);
    // The slice is exactly the encoded length, so encoding cannot run out of room.
    let written = STANDARD
        .encode(data, Out::from_slice(&mut out[start..]))
        .len();
    out.truncate(start + written);
}

/// Length of the padded base64 of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Decodes padded standard base64; `None` if it is anything else (bad alphabet, missing or
/// extra padding, non-zero trailing bits).
pub(crate) fn decode(text: &[u8]) -> Option<Bytes> {
    let n = STANDARD.decoded_length(text).ok()?;
    let mut buf = BytesMut::zeroed(n);
    let len = STANDARD.decode(text, Out::from_slice(&mut buf)).ok()?.len();
    buf.truncate(len);
    Some(buf.freeze())
}
