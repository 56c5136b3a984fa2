//! [`Str`]: a validated UTF-8 view over [`Bytes`].

use std::fmt;
use std::ops::{Deref, Range};

use bytes::Bytes;
use bytestring::ByteString;

/// An immutable, cheaply cloneable UTF-8 string backed by [`Bytes`].
///
/// Decoders hand out `Str`s that are slices of the received body: no copy is made for text
/// packets. Cloning is a reference-count increment.
///
/// ```
/// use engineio_proto::Str;
/// let s = Str::from_static("héllo");
/// assert_eq!(&*s, "héllo");
/// assert_eq!(s.utf16_len(), 5);
/// assert!(Str::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str(ByteString);

impl Str {
    /// The empty string.
    pub const fn new() -> Self {
        Str(ByteString::new())
    }

    /// A `Str` over a static string, without allocating.
    pub const fn from_static(s: &'static str) -> Self {
        Str(ByteString::from_static(s))
    }

    /// The string as `&str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UTF-8 bytes, sharing this string's storage.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The UTF-8 bytes, sharing this string's storage.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// Length in UTF-16 code units, as JavaScript's `String.length` counts it
    /// (`€` is 1, `😀` is 2). Protocol v3 text payloads count lengths this way.
    pub fn utf16_len(&self) -> usize {
        utf16_len(self.as_str())
    }

    /// A sub-slice sharing this string's storage, or `None` if `range` is out of bounds or does
    /// not fall on character boundaries.
    pub fn slice(&self, range: Range<usize>) -> Option<Str> {
        let sub = self.0.get(range)?;
        Some(Str(self.0.slice_ref(sub)))
    }
}

/// Length of `s` in UTF-16 code units: one per scalar value, two for those above the BMP.
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    // Every byte that is not a continuation byte starts a scalar value (one unit); every
    // four-byte lead (0xF0..) starts a supplementary one (a second unit). Counting in u8 lanes
    // over chunks of at most 127 bytes (at most 254 per chunk, no overflow) vectorizes well.
    s.as_bytes()
        .chunks(127)
        .map(|chunk| {
            let units = chunk
                .iter()
                .map(|&b| u8::from((b as i8) >= -0x40) + u8::from(b >= 0xF0))
                .fold(0u8, u8::wrapping_add);
            usize::from(units)
        })
        .sum()
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(ByteString::from(s))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(ByteString::from(s))
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Self {
        s.into_bytes()
    }
}

impl From<Str> for String {
    fn from(s: Str) -> Self {
        String::from(s.0)
    }
}

impl TryFrom<Bytes> for Str {
    type Error = std::str::Utf8Error;
    /// Validates `bytes` as UTF-8 and wraps them without copying.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        ByteString::try_from(bytes).map(Str)
    }
}

impl TryFrom<Vec<u8>> for Str {
    type Error = std::str::Utf8Error;
    fn try_from(v: Vec<u8>) -> Result<Self, Self::Error> {
        Str::try_from(Bytes::from(v))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Str {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Str::from(String::arbitrary(u)?))
    }
}
