//! The run's trace: every input, transmit, event and delivery as one canonical line, hashed
//! with FNV-1a (stable across processes and platforms, unlike std's hasher), with the last
//! lines kept for failure reports.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};

use crate::Instant;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A hash of long data for trace lines: FNV-1a's step over 8-byte words (8 times fewer
/// multiplications than FNV-1a; stable across platforms, as it reads little-endian).
pub(crate) fn word_hash(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut h = FNV_OFFSET ^ bytes.len() as u64;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(FNV_PRIME).rotate_left(29);
    }
    fnv1a(h, chunks.remainder())
}

/// FNV-1a, 64 bits.
pub(crate) fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

pub(crate) struct Trace {
    hash: u64,
    lines: u64,
    tail: VecDeque<String>,
    cap: usize,
    buf: String,
}

impl Trace {
    pub(crate) fn new(cap: usize) -> Trace {
        Trace {
            hash: FNV_OFFSET,
            lines: 0,
            tail: VecDeque::with_capacity(cap.min(1024)),
            cap,
            buf: String::new(),
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn lines(&self) -> u64 {
        self.lines
    }

    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    pub(crate) fn record(&mut self, now: Instant, args: fmt::Arguments<'_>) {
        self.buf.clear();
        let us = u64::try_from(now.since_epoch().as_micros()).unwrap_or(u64::MAX);
        let (ms, frac) = (us / 1000, us % 1000);
        let _ = write!(self.buf, "{ms}.");
        self.buf.push(char::from(b'0' + (frac / 100) as u8));
        self.buf.push(char::from(b'0' + (frac / 10 % 10) as u8));
        self.buf.push(char::from(b'0' + (frac % 10) as u8));
        self.buf.push(' ');
        let _ = self.buf.write_fmt(args);
        self.hash = fnv1a(self.hash, self.buf.as_bytes());
        self.hash = fnv1a(self.hash, b"\n");
        self.lines += 1;
        if self.cap == 0 {
            return;
        }
        let mut line = if self.tail.len() >= self.cap {
            self.tail.pop_front().unwrap_or_default()
        } else {
            String::new()
        };
        line.clear();
        line.push_str(&self.buf);
        self.tail.push_back(line);
    }
}

/// Bytes shown in a trace line: printable ASCII as is, the rest escaped, long inputs cut with
/// their length and a hash of the rest, so the line (and the trace hash) still depends on
/// every byte.
pub(crate) struct Esc<'a>(pub &'a [u8]);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 40;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Escaped into a buffer on the stack, written once (this runs for most trace lines).
        let mut buf = [0u8; 2 + 4 * MAX];
        let mut n = 0;
        buf[n] = b'"';
        n += 1;
        for &b in &self.0[..self.0.len().min(MAX)] {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                0x20..=0x7e => {
                    buf[n] = b;
                    n += 1;
                    continue;
                }
                _ => {
                    buf[n..n + 4].copy_from_slice(&[
                        b'\\',
                        b'x',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                    n += 4;
                    continue;
                }
            };
            buf[n..n + esc.len()].copy_from_slice(esc);
            n += esc.len();
        }
        buf[n] = b'"';
        n += 1;
        // Only ASCII was written.
        f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or("?"))?;
        if self.0.len() > MAX {
            let rest = &self.0[MAX..];
            write!(f, "+{}#{:08x}", rest.len(), word_hash(rest) as u32)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(
            Esc(b"4h\xc3\xa9\n\x1e").to_string(),
            r#""4h\xc3\xa9\n\x1e""#
        );
        let long = [b'a'; 45];
        assert!(Esc(&long)
            .to_string()
            .starts_with(&format!("\"{}\"+5#", "a".repeat(40))));
    }
}
