//! The load's messages: each names its session and sequence number and carries a checksum of
//! the rest, so an echo that comes back altered, twice, out of order or from another session
//! is told apart.
//!
//! - Text: `INDEX SEQ CHECKSUM PAYLOAD`, the checksum (16 hex digits) the FNV-1a of
//!   `INDEX SEQ PAYLOAD`; the payload mixes ASCII with two-, three- and four-byte characters.
//! - Binary: `B`, INDEX (u32, little-endian), SEQ (u64), CHECKSUM (u64) of the index, sequence
//!   and payload bytes, then the payload (random bytes).

use bytes::Bytes;
use engineio_tokio::proto::Message;

/// One message in this many is binary.
const BINARY_EVERY: u64 = 4;

/// What a text payload is made of (no U+001E: protocol 4's polling separator).
const PIECES: [&str; 8] = ["a", "b", "z", "0", " ", "é", "€", "😀"];

/// FNV-1a over several byte strings.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// A small deterministic generator (xorshift64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The message `seq` of session `index`, about `max_size` bytes at most (one in a hundred up
/// to 16 times more).
pub fn make(index: u32, seq: u64, rng: &mut Rng, max_size: usize) -> Message {
    let mut size = rng.below(max_size as u64 + 1) as usize;
    if rng.below(100) == 0 {
        size *= 16;
    }
    if seq % BINARY_EVERY == BINARY_EVERY - 1 {
        let payload: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        let sum = fnv1a(&[&index.to_le_bytes(), &seq.to_le_bytes(), &payload]);
        let mut bytes = Vec::with_capacity(21 + size);
        bytes.push(b'B');
        bytes.extend_from_slice(&index.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&sum.to_le_bytes());
        bytes.extend_from_slice(&payload);
        Message::Binary(Bytes::from(bytes))
    } else {
        let mut payload = String::with_capacity(size);
        while payload.len() < size {
            payload.push_str(PIECES[rng.below(PIECES.len() as u64) as usize]);
        }
        let (i, s) = (index.to_string(), seq.to_string());
        let sum = fnv1a(&[i.as_bytes(), b" ", s.as_bytes(), b" ", payload.as_bytes()]);
        Message::from(format!("{i} {s} {sum:016x} {payload}"))
    }
}

/// The sequence number of an echo for session `index`, or why it is not one of its messages.
pub fn check(index: u32, m: &Message) -> Result<u64, String> {
    match m {
        Message::Text(t) => check_text(index, t.as_str()),
        Message::Binary(b) => check_binary(index, b),
    }
}

fn check_text(index: u32, t: &str) -> Result<u64, String> {
    let shown = || t.chars().take(60).collect::<String>();
    let mut parts = t.splitn(4, ' ');
    let (Some(i), Some(s), Some(sum), Some(payload)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("text echo not of the load's form: {:?}", shown()));
    };
    let good = fnv1a(&[i.as_bytes(), b" ", s.as_bytes(), b" ", payload.as_bytes()]);
    if u64::from_str_radix(sum, 16).ok() != Some(good) {
        return Err(format!("text echo with a bad checksum: {:?}", shown()));
    }
    if i.parse() != Ok(index) {
        return Err(format!("text echo of session {i} on session {index}"));
    }
    s.parse()
        .map_err(|_| format!("text echo with a bad sequence number: {:?}", shown()))
}

fn check_binary(index: u32, b: &[u8]) -> Result<u64, String> {
    if b.len() < 21 || b[0] != b'B' {
        return Err(format!(
            "binary echo not of the load's form ({} bytes)",
            b.len()
        ));
    }
    let (i, s, sum, payload) = (&b[1..5], &b[5..13], &b[13..21], &b[21..]);
    let u64_of = |x: &[u8]| u64::from_le_bytes(x.try_into().unwrap_or_default());
    if u64_of(sum) != fnv1a(&[i, s, payload]) {
        return Err(format!(
            "binary echo with a bad checksum ({} bytes)",
            b.len()
        ));
    }
    let from = u32::from_le_bytes(i.try_into().unwrap_or_default());
    if from != index {
        return Err(format!("binary echo of session {from} on session {index}"));
    }
    Ok(u64_of(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_check_and_alterations_are_caught() {
        let mut rng = Rng::new(7);
        for seq in 0..200 {
            let m = make(42, seq, &mut rng, 300);
            assert_eq!(check(42, &m), Ok(seq));
            assert!(check(43, &m).is_err(), "another session's message");
            let altered = match &m {
                Message::Text(t) => {
                    let mut s = t.as_str().to_owned();
                    s.push('x');
                    Message::from(s)
                }
                Message::Binary(b) => {
                    let mut v = b.to_vec();
                    let last = v.len() - 1;
                    v[last] ^= 1;
                    Message::Binary(Bytes::from(v))
                }
            };
            assert!(check(42, &altered).is_err(), "an altered message");
        }
    }
}
