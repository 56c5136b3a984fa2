//! Bounds a caller puts on decoding.

/// Bounds on what a decoder accepts. Decoding fails with a typed error, before doing work
/// proportional to the excess, as soon as a bound is crossed.
///
/// ```
/// use engineio_proto::DecodeLimits;
/// let limits = DecodeLimits { max_bytes: 1 << 20, ..DecodeLimits::default() };
/// assert_eq!(limits.max_packets, usize::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes (the reference server's `maxHttpBufferSize`,
    /// default 1e6). Checked before any other work.
    pub max_bytes: usize,
    /// Most packets accepted in one polling payload. Tiny packets are cheap to send and each
    /// one costs a `Packet` slot on the receiving side, so this bounds that memory too.
    pub max_packets: usize,
}

impl DecodeLimits {
    /// The defaults: 1,000,000 bytes and no bound on packets but the bytes (as the reference:
    /// decoding is linear and a packet costs one slice of the input).
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_bytes: 1_000_000,
        max_packets: usize::MAX,
    };

    /// No bound on either (for trusted input, such as tests of our own encoder).
    pub const UNLIMITED: DecodeLimits = DecodeLimits {
        max_bytes: usize::MAX,
        max_packets: usize::MAX,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::DEFAULT
    }
}
