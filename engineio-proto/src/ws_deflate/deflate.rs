//! The write side: plain frames in, compressed data frames out.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use flate2::{Compress, FlushCompress};

use super::header::{self, Header, MAX_HEADER, RSV1, RSV23};
use super::{with_thread_compressor, DeflateError, Role, MAX_LEVEL};

/// The end of a sync flush, which RFC 7692 section 7.2.1 has the sender remove.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The write side of permessage-deflate: takes the bytes a WebSocket library without the
/// extension writes and gives the bytes to send.
///
/// Control frames and fragmented messages pass unchanged. A whole data frame (text or binary,
/// FIN set) whose payload is at least the threshold long and whose queued flag (see
/// [`push_flag`](Deflater::push_flag)) is true goes compressed, RSV1 set; at the client its
/// payload is unmasked, compressed and masked again with the frame's own key.
///
/// An idle `Deflater` holds no heap. After an error it keeps returning that error.
#[derive(Debug)]
pub struct Deflater {
    role: Role,
    reset_per_message: bool,
    threshold: usize,
    level: u32,
    /// The compressor's window, 2^9 to 2^15 bytes (`server_max_window_bits` at a server).
    window_bits: u8,
    flags: Flags,
    /// The compressor kept across messages under context takeover.
    context: Option<Box<Compress>>,
    failed: Option<DeflateError>,
}

impl Deflater {
    /// A writer for the end `role`. `no_context_takeover`: our compressor resets for each
    /// message (the negotiated `server_no_context_takeover` at the server,
    /// `client_no_context_takeover` at the client). Messages shorter than `threshold` bytes go
    /// uncompressed (the reference implementation's default is 1024). `level`: 0 to 9 (higher
    /// is taken as 9).
    pub fn new(role: Role, no_context_takeover: bool, threshold: usize, level: u32) -> Deflater {
        Deflater {
            role,
            reset_per_message: no_context_takeover,
            threshold,
            level: level.min(MAX_LEVEL),
            window_bits: 15,
            flags: Flags::default(),
            context: None,
            failed: None,
        }
    }

    /// This writer with a smaller compression window: 2^`bits` bytes (clamped to
    /// [`WINDOW_BITS`](super::WINDOW_BITS)), for a negotiated `server_max_window_bits`
    /// (or `client_max_window_bits`).
    pub fn with_window_bits(mut self, bits: u8) -> Deflater {
        self.window_bits = bits.clamp(*super::WINDOW_BITS.start(), *super::WINDOW_BITS.end());
        self
    }

    /// Queues the `compress` flag of the next data message the library writes: one flag per
    /// message, in order; a message with no flag queued is compressed. `false` sends it as is.
    pub fn push_flag(&mut self, compress: bool) {
        self.flags.push(compress);
    }

    /// Consumes the complete frames at the front of `input` (the bytes the library wrote; a
    /// partial frame stays there until the rest comes) and appends the bytes to send to
    /// `out`. A frame longer than memory can hold is a protocol error.
    pub fn feed(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<(), DeflateError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while let Some(h) = header::parse(input) {
            let Some(end) = usize::try_from(h.len)
                .ok()
                .and_then(|len| len.checked_add(h.size))
                .filter(|&end| end <= isize::MAX as usize)
            else {
                let e = DeflateError::Protocol("frame longer than memory");
                self.failed = Some(e.clone());
                return Err(e);
            };
            if input.len() < end {
                break;
            }
            if h.is_data() {
                let flag = self.flags.pop().unwrap_or(true);
                // A frame as the library writes it: no RSV bit, masked exactly at the client.
                let plain = h.first & (RSV1 | RSV23) == 0
                    && h.mask.is_some() == (self.role == Role::Client);
                if flag && plain && h.fin() && end - h.size >= self.threshold {
                    self.compress_frame(h, &mut input[..end], out);
                    input.advance(end);
                    continue;
                }
            }
            out.extend_from_slice(&input[..end]);
            input.advance(end);
        }
        Ok(())
    }

    /// Bytes of buffers this writer holds (a context-takeover compressor not counted).
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        self.flags.heap_bytes()
    }

    /// Whether it keeps a compressor of its own (context takeover, after the first
    /// compressed message).
    #[doc(hidden)]
    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }

    /// Appends `frame` (a whole frame, header `h`) compressed to `out`; leaves `frame`'s
    /// payload unmasked.
    fn compress_frame(&mut self, h: Header, frame: &mut [u8], out: &mut BytesMut) {
        let payload = &mut frame[h.size..];
        if let Some(key) = h.mask {
            header::apply_mask(payload, key, 0);
        }
        let payload = &*payload;
        let start = out.len();
        out.extend_from_slice(&[0; MAX_HEADER]);
        let done = if self.reset_per_message {
            with_thread_compressor(self.level, self.window_bits, |c| {
                deflate_into(c, payload, out)
            })
        } else {
            let (level, bits) = (self.level, self.window_bits);
            let c = self
                .context
                .get_or_insert_with(|| Box::new(super::compressor(level, bits)));
            let done = deflate_into(c, payload, out);
            if !done {
                // Start over: the peer's decompressor reads a fresh stream as more blocks.
                c.reset();
            }
            done
        };
        if !done {
            // Not expected from the backend; send the frame as it came.
            out.truncate(start);
            header::write(out, h.first, h.mask, payload.len());
            let at = out.len();
            out.extend_from_slice(payload);
            if let Some(key) = h.mask {
                header::apply_mask(&mut out[at..], key, 0);
            }
            return;
        }
        if let Some(key) = h.mask {
            header::apply_mask(&mut out[start + MAX_HEADER..], key, 0);
        }
        header::finish_frame(out, start, h.first | RSV1, h.mask);
    }
}

/// Compresses `data` with a sync flush, appending to `out` without the final `00 00 ff ff`.
/// Returns false if the backend failed or its output did not end so.
fn deflate_into(c: &mut Compress, data: &[u8], out: &mut BytesMut) -> bool {
    if data.is_empty() {
        // An empty stored block, without its `00 00 ff ff` (RFC 7692 section 7.2.3.6): valid
        // with or without context takeover, and it leaves the stream as it was (zlib gives
        // nothing for a second sync flush without input).
        out.extend_from_slice(&[0x00]);
        return true;
    }
    let base = out.len();
    let mut consumed = 0;
    let mut room = (data.len() / 4).saturating_add(64);
    loop {
        let at = out.len();
        out.resize(at + room, 0);
        let (in0, out0) = (c.total_in(), c.total_out());
        let status = c.compress(
            data.get(consumed..).unwrap_or_default(),
            &mut out[at..],
            FlushCompress::Sync,
        );
        let read = usize::try_from(c.total_in() - in0).unwrap_or(usize::MAX);
        let wrote = usize::try_from(c.total_out() - out0).unwrap_or(usize::MAX);
        out.truncate(at + wrote.min(room));
        consumed = consumed.saturating_add(read);
        if status.is_err() {
            return false;
        }
        if consumed >= data.len() && wrote < room {
            break;
        }
        if read == 0 && wrote == 0 {
            if consumed >= data.len() {
                break;
            }
            return false;
        }
        room = room.saturating_mul(2);
    }
    if out.len() >= base + TRAILER.len() && out.ends_with(&TRAILER) {
        out.truncate(out.len() - TRAILER.len());
        true
    } else {
        false
    }
}

/// A FIFO of booleans: the first 64 in a word, the rest (rare) on the heap, released as soon
/// as it empties.
#[derive(Debug, Default)]
struct Flags {
    bits: u64,
    len: u32,
    /// Non-empty only while `len == 64`.
    overflow: VecDeque<bool>,
}

impl Flags {
    fn push(&mut self, flag: bool) {
        if self.len < u64::BITS && self.overflow.is_empty() {
            self.bits |= u64::from(flag) << self.len;
            self.len += 1;
        } else {
            self.overflow.push_back(flag);
        }
    }

    fn pop(&mut self) -> Option<bool> {
        if self.len == 0 {
            return None;
        }
        let flag = self.bits & 1 == 1;
        self.bits >>= 1;
        self.len -= 1;
        if let Some(next) = self.overflow.pop_front() {
            self.bits |= u64::from(next) << self.len;
            self.len += 1;
        }
        if self.overflow.is_empty() && self.overflow.capacity() > 0 {
            self.overflow = VecDeque::new();
        }
        Some(flag)
    }

    fn heap_bytes(&self) -> usize {
        self.overflow.capacity() * std::mem::size_of::<bool>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keep_order_past_the_inline_word() {
        let mut f = Flags::default();
        let seq: Vec<bool> = (0..300u32).map(|i| i % 3 == 0 || i % 7 == 0).collect();
        for (i, &b) in seq.iter().enumerate() {
            f.push(b);
            if i % 5 == 4 {
                assert_eq!(f.pop(), Some(seq[i / 5]));
            }
        }
        let mut rest = Vec::new();
        while let Some(b) = f.pop() {
            rest.push(b);
        }
        assert_eq!(rest, seq[seq.len() / 5..]);
        assert_eq!(f.heap_bytes(), 0);
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn empty_input_deflates_to_one_zero_byte() {
        let mut c = Compress::new(flate2::Compression::new(6), false);
        let mut out = BytesMut::new();
        assert!(deflate_into(&mut c, b"", &mut out));
        assert_eq!(&out[..], &[0x00]);
        // And again on the same stream (context takeover), after a message.
        let mut out = BytesMut::new();
        assert!(deflate_into(&mut c, b"hello", &mut out));
        let mut out = BytesMut::new();
        assert!(deflate_into(&mut c, b"", &mut out));
        assert_eq!(&out[..], &[0x00]);
    }
}
