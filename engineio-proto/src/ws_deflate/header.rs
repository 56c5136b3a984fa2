//! WebSocket frame headers (RFC 6455 section 5.2): parsing, encoding and masking.

use bytes::{BufMut, BytesMut};

/// The FIN bit of the first header byte.
pub(crate) const FIN: u8 = 0x80;
/// The RSV1 bit ("per-message compressed" under permessage-deflate).
pub(crate) const RSV1: u8 = 0x40;
/// The RSV2 and RSV3 bits, which no negotiated extension uses.
pub(crate) const RSV23: u8 = 0x30;
/// The continuation opcode.
pub(crate) const OP_CONTINUATION: u8 = 0x0;
/// The text opcode.
pub(crate) const OP_TEXT: u8 = 0x1;
/// The binary opcode.
pub(crate) const OP_BINARY: u8 = 0x2;
/// The close opcode.
pub(crate) const OP_CLOSE: u8 = 0x8;
/// The longest header: 2 bytes, a 64-bit length, a mask key.
pub(crate) const MAX_HEADER: usize = 14;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The first byte: FIN, RSV1-3, opcode.
    pub(crate) first: u8,
    /// The mask key, when the mask bit is set.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length.
    pub(crate) len: u64,
    /// The header's own length in bytes (2 to 14).
    pub(crate) size: usize,
}

impl Header {
    /// Whether FIN is set.
    pub(crate) fn fin(&self) -> bool {
        self.first & FIN != 0
    }

    /// Whether RSV1 is set.
    pub(crate) fn rsv1(&self) -> bool {
        self.first & RSV1 != 0
    }

    /// The opcode (low four bits).
    pub(crate) fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// Whether this is a control frame (opcode 8 to 15).
    pub(crate) fn is_control(&self) -> bool {
        self.opcode() & 0x08 != 0
    }

    /// Whether this starts a data message (text or binary).
    pub(crate) fn is_data(&self) -> bool {
        matches!(self.opcode(), OP_TEXT | OP_BINARY)
    }
}

/// Parses the header at the front of `buf`; `None` while it is incomplete.
pub(crate) fn parse(buf: &[u8]) -> Option<Header> {
    let (&first, rest) = buf.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (len, rest, mut size) = match second & 0x7f {
        126 => {
            let (n, rest) = rest.split_first_chunk::<2>()?;
            (u64::from(u16::from_be_bytes(*n)), rest, 4)
        }
        127 => {
            let (n, rest) = rest.split_first_chunk::<8>()?;
            (u64::from_be_bytes(*n), rest, 10)
        }
        n => (u64::from(n), rest, 2),
    };
    let mask = if second & 0x80 != 0 {
        let (key, _) = rest.split_first_chunk::<4>()?;
        size += 4;
        Some(*key)
    } else {
        None
    };
    Some(Header {
        first,
        mask,
        len,
        size,
    })
}

/// Encodes a header into a fixed buffer; returns it and its length.
pub(crate) fn encode(first: u8, mask: Option<[u8; 4]>, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut buf = [0u8; MAX_HEADER];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    buf[0] = first;
    let mut size = match u16::try_from(len) {
        Ok(n) if n < 126 => {
            // `n < 126` fits the 7-bit length.
            buf[1] = mask_bit | n.to_be_bytes()[1];
            2
        }
        Ok(n) => {
            buf[1] = mask_bit | 126;
            buf[2..4].copy_from_slice(&n.to_be_bytes());
            4
        }
        Err(_) => {
            buf[1] = mask_bit | 127;
            buf[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    if let Some(key) = mask {
        buf[size..size + 4].copy_from_slice(&key);
        size += 4;
    }
    (buf, size)
}

/// Appends a header to `out`.
pub(crate) fn write(out: &mut BytesMut, first: u8, mask: Option<[u8; 4]>, len: usize) {
    let (buf, size) = encode(first, mask, len);
    out.put_slice(&buf[..size]);
}

/// XORs `data` with `key`, `data` starting `offset` bytes into the payload. Masking twice
/// with the same key and offset gives the data back.
pub(crate) fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *b ^= m;
    }
}

/// Fills in the header of a frame whose payload was appended to `out` after a
/// [`MAX_HEADER`]-byte placeholder starting at `start`, and closes the gap the placeholder
/// leaves when the real header is shorter.
pub(crate) fn finish_frame(out: &mut BytesMut, start: usize, first: u8, mask: Option<[u8; 4]>) {
    let payload_at = start + MAX_HEADER;
    let len = out.len().saturating_sub(payload_at);
    let (buf, size) = encode(first, mask, len);
    let header_at = payload_at - size;
    out[header_at..payload_at].copy_from_slice(&buf[..size]);
    if header_at > start {
        let end = out.len();
        out.copy_within(header_at..end, start);
        out.truncate(end - (header_at - start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_roundtrip() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let (buf, size) = encode(FIN | OP_BINARY, mask, len);
                let h = parse(&buf[..size]).unwrap();
                assert_eq!(h.len, len as u64);
                assert_eq!(h.mask, mask);
                assert_eq!(h.size, size);
                assert!(h.fin() && h.is_data() && !h.rsv1() && !h.is_control());
                for cut in 0..size {
                    assert_eq!(parse(&buf[..cut]), None);
                }
            }
        }
    }

    #[test]
    fn mask_is_an_involution_at_any_offset() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for offset in 0..8 {
            let mut d = data.clone();
            apply_mask(&mut d, [9, 8, 7, 6], offset);
            for (i, (a, b)) in d.iter().zip(&data).enumerate() {
                assert_eq!(a ^ b, [9, 8, 7, 6][(i + offset) % 4]);
            }
            apply_mask(&mut d, [9, 8, 7, 6], offset);
            assert_eq!(d, data);
        }
        // Masking in two pieces equals masking at once.
        let mut whole = data.clone();
        apply_mask(&mut whole, [1, 2, 3, 4], 0);
        let mut parts = data.clone();
        let (a, b) = parts.split_at_mut(13);
        apply_mask(a, [1, 2, 3, 4], 0);
        apply_mask(b, [1, 2, 3, 4], 13);
        assert_eq!(parts, whole);
    }

    #[test]
    fn finish_frame_shifts_over_the_placeholder() {
        for len in [0usize, 5, 200, 70000] {
            for mask in [None, Some([0; 4])] {
                let mut out = BytesMut::from(&b"xy"[..]);
                out.extend_from_slice(&[0; MAX_HEADER]);
                out.extend(std::iter::repeat_n(7u8, len));
                finish_frame(&mut out, 2, FIN | OP_TEXT, mask);
                let h = parse(&out[2..]).unwrap();
                assert_eq!(h.len, len as u64);
                assert_eq!(out.len(), 2 + h.size + len);
                assert!(out[2 + h.size..].iter().all(|&b| b == 7));
            }
        }
    }
}
