//! Protocol versions and transport names.

use std::fmt;

/// The Engine.IO protocol revision a session speaks, chosen at the handshake (`EIO=4` or `EIO=3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ProtocolVersion {
    /// Protocol 3 (`engine.io` 3.x, `engine.io-client` 3.x): length-prefixed payloads, clients ping.
    V3 = 3,
    /// Protocol 4 (`engine.io` 4+, `engine.io-client` 4+): `\x1e`-separated payloads, servers ping.
    V4 = 4,
}

impl ProtocolVersion {
    /// Parses the `EIO` query value: exactly `"4"` or `"3"`, nothing else (not `"04"`, not `""`).
    ///
    /// ```
    /// use engineio_proto::ProtocolVersion;
    /// assert_eq!(ProtocolVersion::from_query("4"), Some(ProtocolVersion::V4));
    /// assert_eq!(ProtocolVersion::from_query("04"), None);
    /// ```
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "4" => Some(ProtocolVersion::V4),
            "3" => Some(ProtocolVersion::V3),
            _ => None,
        }
    }

    /// The value as it appears in the `EIO` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V3 => "3",
            ProtocolVersion::V4 => "4",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport a session can run over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Transport {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    Websocket,
}

impl Transport {
    /// Parses a transport name exactly as the protocol spells it; anything else (including
    /// `__proto__`) is `None`.
    ///
    /// ```
    /// use engineio_proto::Transport;
    /// assert_eq!(Transport::from_name("websocket"), Some(Transport::Websocket));
    /// assert_eq!(Transport::from_name("__proto__"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "polling" => Some(Transport::Polling),
            "websocket" => Some(Transport::Websocket),
            _ => None,
        }
    }

    /// The transport's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::Websocket => "websocket",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
