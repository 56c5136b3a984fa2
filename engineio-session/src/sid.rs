//! Session ids and their generators.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A session id: 1 to [`Sid::MAX_LEN`] characters from the URL-safe set `A-Z a-z 0-9 - _`,
/// stored inline (no heap, `Copy`).
///
/// ```
/// use engineio_session::Sid;
/// let sid = Sid::new("lv_VI97HAXpY6yYWAAAC").unwrap();
/// assert_eq!(sid.as_str(), "lv_VI97HAXpY6yYWAAAC");
/// assert!(Sid::new("a b").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    len: u8,
    buf: [u8; Sid::MAX_LEN],
}

/// A string that cannot be a [`Sid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sid is 1 to 32 characters from A-Z a-z 0-9 - _")]
pub struct InvalidSid;

impl Sid {
    /// The longest sid, in bytes.
    pub const MAX_LEN: usize = 32;

    /// Validates and stores `s`.
    pub fn new(s: &str) -> Result<Sid, InvalidSid> {
        let b = s.as_bytes();
        if b.is_empty()
            || b.len() > Sid::MAX_LEN
            || !b
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return Err(InvalidSid);
        }
        let mut buf = [0; Sid::MAX_LEN];
        buf[..b.len()].copy_from_slice(b);
        Ok(Sid {
            len: b.len() as u8,
            buf,
        })
    }

    /// The sid as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this never falls back.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A prefix put before every generated session id: 1 to [`SidPrefix::MAX_LEN`] characters
/// from the sid's set (`A-Z a-z 0-9 - _`). Naming the node in the sid lets a load balancer (or
/// a cluster's other nodes) tell from any request which node owns its session, with no cookie
/// and no shared state: `n1-` before `lv_VI97HAXpY6yYWAAAC` gives `n1-lv_VI97HAXpY6yYWAAAC`,
/// which HAProxy's `url_param(sid) -m beg n1-` or nginx's `map $arg_sid` routes.
///
/// ```
/// use engineio_session::{Sid, SidPrefix};
/// let prefix = SidPrefix::new("n1-").unwrap();
/// let sid = prefix.apply(Sid::new("lv_VI97HAXpY6yYWAAAC").unwrap());
/// assert_eq!(sid.as_str(), "n1-lv_VI97HAXpY6yYWAAAC");
/// assert!(SidPrefix::new("a.b").is_err());
/// assert!(SidPrefix::new("thirteen-long").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SidPrefix(Sid);

/// A string that cannot be a [`SidPrefix`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sid prefix is 1 to 12 characters from A-Z a-z 0-9 - _")]
pub struct InvalidSidPrefix;

impl SidPrefix {
    /// The longest prefix, in bytes: with the 20 characters of a [`RandomSids`] id, a
    /// prefixed id still fits [`Sid::MAX_LEN`].
    pub const MAX_LEN: usize = 12;

    /// Validates `prefix`.
    pub fn new(prefix: &str) -> Result<SidPrefix, InvalidSidPrefix> {
        if prefix.len() > SidPrefix::MAX_LEN {
            return Err(InvalidSidPrefix);
        }
        Sid::new(prefix)
            .map(SidPrefix)
            .map_err(|_| InvalidSidPrefix)
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// `sid` with the prefix before it. What does not fit [`Sid::MAX_LEN`] is cut from the
    /// end of `sid` (never the case for ids of [`RandomSids`], 20 characters).
    pub fn apply(&self, sid: Sid) -> Sid {
        let p = usize::from(self.0.len);
        let n = usize::from(sid.len).min(Sid::MAX_LEN - p);
        let mut buf = [0; Sid::MAX_LEN];
        buf[..p].copy_from_slice(&self.0.buf[..p]);
        buf[p..p + n].copy_from_slice(&sid.buf[..n]);
        Sid {
            len: (p + n) as u8,
            buf,
        }
    }
}

impl fmt::Debug for SidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::str::FromStr for SidPrefix {
    type Err = InvalidSidPrefix;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SidPrefix::new(s)
    }
}

/// Makes session ids. The server calls it once per handshake; ids must be unguessable when
/// they guard anything (a sid is the only credential of a polling request).
pub trait SidGenerator: Send {
    /// The next id.
    fn generate(&mut self) -> Sid;
}

/// The default generator: 15 bytes from a ChaCha20 stream, as 20 characters of URL-safe
/// base64 (the shape of the reference server's ids). Seed it from the OS in production (the
/// runtime adapters do) and from a number in tests and simulations, which then replay exactly.
pub struct RandomSids(ChaCha20Rng);

impl RandomSids {
    /// A generator seeded with 32 bytes of entropy.
    pub fn from_entropy(seed: [u8; 32]) -> RandomSids {
        RandomSids(ChaCha20Rng::from_seed(seed))
    }

    /// A reproducible generator (tests, simulations).
    pub fn from_u64(seed: u64) -> RandomSids {
        RandomSids(ChaCha20Rng::seed_from_u64(seed))
    }
}

impl SidGenerator for RandomSids {
    fn generate(&mut self) -> Sid {
        use base64::Engine as _;
        let mut raw = [0u8; 15];
        self.0.fill_bytes(&mut raw);
        let mut buf = [0u8; Sid::MAX_LEN];
        // 15 bytes are exactly 20 base64 characters, which fit the buffer.
        let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(raw, &mut buf);
        Sid { len: 20, buf }
    }
}

impl<F: FnMut() -> Sid + Send> SidGenerator for F {
    fn generate(&mut self) -> Sid {
        self()
    }
}
