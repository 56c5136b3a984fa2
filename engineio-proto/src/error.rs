//! The decoding error.

/// Why an input could not be decoded. Offsets are byte positions in the input given to the
/// decoder that failed (for a JSONP form body: in the payload once unescaped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input was larger than [`DecodeLimits::max_bytes`](crate::DecodeLimits::max_bytes).
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit it crossed.
        limit: usize,
    },
    /// The payload held more packets than [`DecodeLimits::max_packets`](crate::DecodeLimits::max_packets).
    #[error("payload holds more than {limit} packets")]
    TooManyPackets {
        /// The limit it crossed.
        limit: usize,
    },
    /// A text payload with no bytes at all.
    #[error("empty payload")]
    EmptyPayload,
    /// A packet with no bytes at all (not even a type).
    #[error("empty packet at byte {offset}")]
    EmptyPacket {
        /// Where the packet starts.
        offset: usize,
    },
    /// Text that is not valid UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// The first byte that is not part of a valid sequence.
        offset: usize,
    },
    /// A packet type that is not one of `0`..`6` (or `b` for base64 binary).
    #[error("unknown packet type {byte:#04x} in the packet at byte {offset}")]
    UnknownPacketType {
        /// The offending type byte.
        byte: u8,
        /// Where its packet starts (the type byte itself, or the `b` before it).
        offset: usize,
    },
    /// Binary data on a packet other than a message (only messages carry binary).
    #[error(
        "binary data on packet type {packet_type} at byte {offset}; only messages carry binary"
    )]
    BinaryNotMessage {
        /// The packet type digit (0..6) that was found.
        packet_type: u8,
        /// Where the packet starts.
        offset: usize,
    },
    /// Base64 that is not standard, padded base64.
    #[error("invalid base64 in the packet at byte {offset}")]
    InvalidBase64 {
        /// Where the packet starts.
        offset: usize,
    },
    /// A v4 polling body sent as binary (`application/octet-stream`): v4 payloads are text only.
    #[error("binary polling body in protocol v4")]
    BinaryBodyV4,
    /// A v3 length prefix that is not a run of ASCII digits (at most 10) ended by its terminator.
    #[error("invalid length prefix at byte {offset}")]
    InvalidLength {
        /// Where the prefix starts.
        offset: usize,
    },
    /// A v3 length that runs past the end of the payload.
    #[error("packet length at byte {offset} runs past the end of the payload")]
    LengthPastEnd {
        /// Where the prefix starts.
        offset: usize,
    },
    /// A v3 text length that ends between the two halves of a UTF-16 surrogate pair.
    #[error("packet length at byte {offset} splits a UTF-16 surrogate pair")]
    SplitSurrogate {
        /// Where the prefix starts.
        offset: usize,
    },
    /// A v3 binary payload record that starts with neither `0x00` (string) nor `0x01` (binary).
    #[error("invalid record marker {byte:#04x} at byte {offset}")]
    InvalidMarker {
        /// The marker found.
        byte: u8,
        /// Where it stands.
        offset: usize,
    },
    /// A JSONP POST body without a `d` form field.
    #[error("JSONP body has no `d` field")]
    MissingJsonpData,
    /// A JSONP response that is not `___eio[N]("...");`.
    #[error("malformed JSONP response")]
    MalformedJsonp,
}
