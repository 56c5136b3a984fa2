//! The handshake: the JSON in the open packet (`0{...}`).

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Packet, Str, Transport};

/// The open packet's data.
///
/// Encoded with the reference server's field order, so the bytes match it exactly:
/// `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`
/// (v3 servers omit `maxPayload`). Decoding ignores unknown fields and upgrade names we do not
/// know (such as `webtransport`), accepts times written as floats, and never looks inside
/// the sid: its length and alphabet are the server's business.
///
/// ```
/// use engineio_proto::{Handshake, Transport};
/// let h = Handshake {
///     sid: "lv_VI97HAXpY6yYWAAAC".into(),
///     upgrades: vec![Transport::Websocket],
///     ping_interval: 25000,
///     ping_timeout: 20000,
///     max_payload: Some(1_000_000),
/// };
/// let json = h.to_json();
/// assert_eq!(json, r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#);
/// assert_eq!(Handshake::from_json(&json).unwrap(), h);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id, opaque.
    pub sid: String,
    /// Transports the client may upgrade to.
    #[serde(deserialize_with = "known_transports")]
    pub upgrades: Vec<Transport>,
    /// Milliseconds between heartbeats.
    #[serde(deserialize_with = "millis")]
    pub ping_interval: u64,
    /// Milliseconds a heartbeat may go unanswered.
    #[serde(deserialize_with = "millis")]
    pub ping_timeout: u64,
    /// Largest body or frame the server accepts (v4 only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_millis"
    )]
    pub max_payload: Option<u64>,
}

/// Why handshake JSON could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid handshake: {0}")]
pub struct HandshakeError(#[from] serde_json::Error);

impl Handshake {
    /// Appends the JSON to `out`.
    pub fn write_json(&self, out: &mut BytesMut) {
        // Serializing plain strings and numbers into memory cannot fail.
        let _ = serde_json::to_writer(out.writer(), self);
    }

    /// The JSON as a string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The open packet carrying this handshake.
    pub fn to_packet(&self) -> Packet {
        Packet::Open(Str::from(self.to_json()))
    }

    /// Parses handshake JSON (the data of an open packet).
    pub fn from_json(json: &str) -> Result<Handshake, HandshakeError> {
        Ok(serde_json::from_str(json)?)
    }
}

impl Serialize for Transport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Transport::from_name(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &["polling", "websocket"]))
    }
}

fn known_transports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Transport>, D::Error> {
    let names = Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?;
    Ok(names
        .iter()
        .filter_map(|n| Transport::from_name(n))
        .collect())
}

/// A non-negative number of milliseconds, written as an integer or a float.
#[derive(Deserialize)]
#[serde(untagged)]
enum Millis {
    Int(u64),
    Float(f64),
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Millis::deserialize(d)? {
        Millis::Int(n) => Ok(n),
        Millis::Float(f) if f.is_finite() && f >= 0.0 => Ok(f as u64),
        Millis::Float(f) => Err(serde::de::Error::custom(format!("invalid duration {f}"))),
    }
}

fn opt_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    millis(d).map(Some)
}
