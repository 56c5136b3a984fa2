//! Client options, with `engine.io-client`'s names and defaults.

use std::time::Duration;

use engineio_proto::{ProtocolVersion, Transport};
use http::{HeaderMap, Uri};

/// How a [`ClientSession`](crate::ClientSession) connects.
///
/// ```
/// use engineio_session::ClientConfig;
/// let config = ClientConfig::new("http://127.0.0.1:3000".parse().unwrap());
/// assert_eq!(config.path, "/engine.io/");
/// assert!(config.upgrade);
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Where the server is: scheme (`http`, `https`, `ws`, `wss`) and authority. Its path is
    /// ignored; see [`path`](Self::path).
    pub url: Uri,
    /// `path` (default `/engine.io/`).
    pub path: String,
    /// `transports`, in the order tried: the first is used for the handshake (default polling,
    /// then websocket).
    pub transports: Vec<Transport>,
    /// `upgrade`: probe WebSocket after a polling handshake (default true).
    pub upgrade: bool,
    /// `rememberUpgrade`: start directly on WebSocket when the last connection's upgrade
    /// succeeded ([`prior_websocket_success`](Self::prior_websocket_success)). Default false.
    pub remember_upgrade: bool,
    /// Whether a previous connection upgraded to WebSocket (the reconnecting layer sets it from
    /// [`ClientSession::websocket_succeeded`](crate::ClientSession::websocket_succeeded)).
    pub prior_websocket_success: bool,
    /// `query`: extra query parameters on every request.
    pub query: Vec<(String, String)>,
    /// `extraHeaders`: sent with every request and the WebSocket handshake.
    pub extra_headers: HeaderMap,
    /// `timestampRequests`: a unique `t` parameter on polling requests, against caches
    /// (default true).
    pub timestamp_requests: bool,
    /// `timestampParam` (default `t`).
    pub timestamp_param: String,
    /// `forceBase64` (v3): ask the server for base64 instead of binary bodies (`b64=1`).
    pub force_base64: bool,
    /// The protocol version (default 4).
    pub version: ProtocolVersion,
    /// Give up a handshake that has not completed after this long (socket.io's `timeout`,
    /// default 20 s).
    pub connect_timeout: Duration,
    /// Most messages queued for sending before `send` answers `Full` (default 4096).
    pub max_queued_packets: usize,
    /// Most bytes of message data queued for sending (default 4 MiB).
    pub max_queued_bytes: usize,
    /// Most packets accepted in one response payload (default: no limit but the bytes of the
    /// response, as the reference client).
    pub max_packets_per_payload: usize,
    /// Most packets sent in one POST (default 16): `python-engineio` servers refuse a payload
    /// of more than 16 packets (`max_decode_packets`), so more would break interop with them.
    pub max_packets_per_post: usize,
    /// Largest response body or WebSocket message the host should accept (default 100 MB).
    pub max_response_bytes: usize,
    /// Seed for the timestamp parameter's values (deterministic runs).
    pub seed: u64,
    /// Emit [`ClientEvent::PacketIn`] and [`ClientEvent::PacketOut`] for every packet (the
    /// reference client's `packet` and `packetCreate`; default off).
    ///
    /// [`ClientEvent::PacketIn`]: crate::ClientEvent::PacketIn
    /// [`ClientEvent::PacketOut`]: crate::ClientEvent::PacketOut
    pub packet_events: bool,
    /// For the host: tell the application each time what it sent has been written (the
    /// reference client's `flush` and `drain`; default off). The machine reports
    /// [`ClientEvent::Flushed`](crate::ClientEvent::Flushed) either way.
    pub flush_events: bool,
    /// `perMessageDeflate`: offer WebSocket compression (RFC 7692) to the server; the host
    /// negotiates and compresses. On by default with a 1024-byte threshold, as the reference
    /// client's; a server that does not agree costs nothing.
    pub per_message_deflate: Option<crate::DeflateConfig>,
}

impl ClientConfig {
    /// The defaults, for the server at `url`.
    pub fn new(url: Uri) -> ClientConfig {
        ClientConfig {
            url,
            path: "/engine.io/".to_owned(),
            transports: vec![Transport::Polling, Transport::Websocket],
            upgrade: true,
            remember_upgrade: false,
            prior_websocket_success: false,
            query: Vec::new(),
            extra_headers: HeaderMap::new(),
            timestamp_requests: true,
            timestamp_param: "t".to_owned(),
            force_base64: false,
            version: ProtocolVersion::V4,
            connect_timeout: Duration::from_secs(20),
            max_queued_packets: 4096,
            max_queued_bytes: 4 << 20,
            max_packets_per_payload: usize::MAX,
            max_packets_per_post: 16,
            max_response_bytes: 100_000_000,
            seed: 0,
            packet_events: false,
            flush_events: false,
            per_message_deflate: Some(crate::DeflateConfig::default()),
        }
    }
}
