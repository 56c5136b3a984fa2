//! Server options, with the reference server's names and defaults.

use std::time::Duration;

use engineio_proto::{DecodeLimits, Message};

/// Everything a server decides by configuration. Defaults are the reference server's
/// (`engine.io` 6.6) where it has the option.
///
/// ```
/// use std::time::Duration;
/// use engineio_session::ServerConfig;
/// let config = ServerConfig {
///     ping_interval: Duration::from_secs(10),
///     allow_eio3: true,
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.ping_timeout, Duration::from_secs(20));
/// assert_eq!(config.max_payload, 1_000_000);
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `pingInterval`: time between heartbeats (default 25 s).
    pub ping_interval: Duration,
    /// `pingTimeout`: how long a heartbeat may go unanswered (default 20 s).
    pub ping_timeout: Duration,
    /// `upgradeTimeout`: how long a probed WebSocket may take to send `5` (default 10 s).
    pub upgrade_timeout: Duration,
    /// `maxHttpBufferSize`: largest polling body and WebSocket message accepted, in bytes
    /// (default 1e6). Also announced to v4 clients as `maxPayload`.
    pub max_payload: usize,
    /// `transports`: which transports are served.
    pub transports: Transports,
    /// `allowUpgrades`: whether polling sessions may upgrade to WebSocket (default true).
    pub allow_upgrades: bool,
    /// `allowEIO3`: whether protocol v3 clients are served (default false).
    pub allow_eio3: bool,
    /// `path`: where the server listens; matched with and without its trailing slash
    /// (default `/engine.io/`).
    pub path: String,
    /// `initialPacket`: a message sent to every new session right after the handshake.
    pub initial_packet: Option<Message>,
    /// `cookie`: the sticky-session cookie set on the handshake response (off by default).
    pub cookie: Option<CookieConfig>,
    /// `cors`: CORS headers and preflight answers (off by default).
    pub cors: Option<CorsConfig>,
    /// `httpCompression`: gzip/deflate of polling responses (on, threshold 1024 bytes).
    pub http_compression: Option<CompressionConfig>,
    /// `perMessageDeflate`: WebSocket compression (RFC 7692), off by default as in the
    /// reference; the host negotiates it and compresses, the machine only marks messages sent
    /// with `compress: false`.
    pub per_message_deflate: Option<DeflateConfig>,
    /// `allowRequest`: when true, every handshake waits for the host's verdict
    /// (see [`Server::accept`](crate::Server::accept)), so authentication can run before a
    /// session exists.
    pub allow_request: bool,
    /// Most packets a session buffers for sending before [`send`](crate::Session::send)
    /// answers [`SendError::Full`](crate::SendError::Full) (default 4096).
    pub max_buffered_packets: usize,
    /// Most bytes of message data a session buffers for sending (default 4 MiB).
    pub max_buffered_bytes: usize,
    /// Most packets accepted in one polling body (default: no limit but `max_payload`, as
    /// the reference: a body of 200,000 tiny packets within 1 MB is taken). Decoding is
    /// linear and each packet costs one slice of the body, so `max_payload` bounds the memory.
    pub max_packets_per_payload: usize,
    /// Most packets sent in one polling response; the rest wait for the next poll (default:
    /// no limit, as the reference). Set it to 16 for `python-engineio` clients, which refuse
    /// larger payloads.
    pub max_packets_per_response: usize,
    /// Emit [`Event::PacketIn`](crate::Event::PacketIn) and
    /// [`Event::PacketOut`](crate::Event::PacketOut) for every packet (default off).
    pub packet_events: bool,
    /// How long a polling session closed by the application waits for the client's next GET
    /// to carry the close packet (the reference's `closeTimeout`, 30 s).
    pub close_timeout: Duration,
    /// How often a parked GET is answered with a noop while an upgrade is under way (100 ms).
    pub upgrade_noop_interval: Duration,
    /// A prefix before every session id the server generates (default none), naming this
    /// node so that a load balancer routes a session's requests by their `sid` (see
    /// [`SidPrefix`](crate::SidPrefix)). Ids from the host's own generator
    /// (`generate_id`) are taken as they are.
    pub sid_prefix: Option<crate::SidPrefix>,
    /// Seed for session ids; `None` means the host supplies entropy (the runtime adapters
    /// seed from the OS). Simulations set it to replay exactly.
    pub seed: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            transports: Transports::default(),
            allow_upgrades: true,
            allow_eio3: false,
            path: "/engine.io/".to_owned(),
            initial_packet: None,
            cookie: None,
            cors: None,
            http_compression: Some(CompressionConfig::default()),
            per_message_deflate: None,
            allow_request: false,
            max_buffered_packets: 4096,
            max_buffered_bytes: 4 << 20,
            max_packets_per_payload: usize::MAX,
            max_packets_per_response: usize::MAX,
            packet_events: false,
            close_timeout: Duration::from_secs(30),
            upgrade_noop_interval: Duration::from_millis(100),
            sid_prefix: None,
            seed: None,
        }
    }
}

impl ServerConfig {
    /// The decoding bounds for polling bodies and WebSocket messages.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_bytes: self.max_payload,
            max_packets: self.max_packets_per_payload,
        }
    }
}

/// Which transports a server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            polling: true,
            websocket: true,
        }
    }
}

impl Transports {
    /// Whether `t` is offered.
    pub fn allows(&self, t: engineio_proto::Transport) -> bool {
        match t {
            engineio_proto::Transport::Polling => self.polling,
            engineio_proto::Transport::Websocket => self.websocket,
        }
    }
}

/// The `SameSite` attribute of the sticky cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

/// The sticky-session cookie (`io=<sid>`), set on the handshake response so a load balancer
/// can route a session's requests to the node that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name (default `io`).
    pub name: String,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `Domain` (default none).
    pub domain: Option<String>,
    /// `HttpOnly` (default true).
    pub http_only: bool,
    /// `Secure` (default false).
    pub secure: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: Option<SameSite>,
    /// `Max-Age` in seconds (default none: a session cookie).
    pub max_age: Option<u64>,
    /// `Expires`, an HTTP date as the application writes it (`Wed, 21 Oct 2026 07:28:00 GMT`;
    /// default none). The machine reads no clock, so it does not make one.
    pub expires: Option<String>,
    /// `Partitioned` (CHIPS; default false).
    pub partitioned: bool,
    /// `Priority` (default none).
    pub priority: Option<CookiePriority>,
}

/// The `Priority` attribute of the sticky cookie (a Chromium extension the reference's
/// `cookie` package writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookiePriority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "io".to_owned(),
            path: Some("/".to_owned()),
            domain: None,
            http_only: true,
            secure: false,
            same_site: Some(SameSite::Lax),
            max_age: None,
            expires: None,
            partitioned: false,
            priority: None,
        }
    }
}

/// A function deciding whether CORS allows an origin (the reference's `cors.origin` given as
/// a function). Compared by identity.
#[derive(Clone)]
pub struct OriginPredicate(pub std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl OriginPredicate {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> OriginPredicate {
        OriginPredicate(std::sync::Arc::new(f))
    }
}

impl std::fmt::Debug for OriginPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginPredicate(..)")
    }
}

impl PartialEq for OriginPredicate {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OriginPredicate {}

/// Which origins CORS allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigin {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Echo the request's `Origin`, whatever it is.
    Mirror,
    /// Echo the request's `Origin` when it is one of these; otherwise send no
    /// `Access-Control-Allow-Origin` (the browser then refuses the response).
    List(Vec<String>),
    /// Echo the request's `Origin` when the function allows it (the text of the header).
    ///
    /// ```
    /// use engineio_session::{CorsOrigin, OriginPredicate};
    /// let origin = CorsOrigin::Predicate(OriginPredicate::new(|o| o.ends_with(".example.com")));
    /// ```
    Predicate(OriginPredicate),
}

impl CorsOrigin {
    /// Whether `origin` (the `Origin` header's bytes) is allowed: always for
    /// [`Any`](CorsOrigin::Any) and [`Mirror`](CorsOrigin::Mirror), otherwise when it is
    /// listed or the predicate accepts it.
    ///
    /// ```
    /// use engineio_session::CorsOrigin;
    /// let list = CorsOrigin::List(vec!["https://app.example".into()]);
    /// assert!(list.allows(b"https://app.example"));
    /// assert!(!list.allows(b"https://evil.example"));
    /// assert!(CorsOrigin::Any.allows(b"https://evil.example"));
    /// ```
    pub fn allows(&self, origin: &[u8]) -> bool {
        match self {
            CorsOrigin::Any | CorsOrigin::Mirror => true,
            CorsOrigin::List(list) => list.iter().any(|l| l.as_bytes() == origin),
            CorsOrigin::Predicate(allows) => {
                std::str::from_utf8(origin).is_ok_and(|text| (allows.0)(text))
            }
        }
    }
}

/// CORS, as the reference server does it through the `cors` package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsConfig {
    /// Allowed origins (default [`CorsOrigin::Any`]).
    pub origin: CorsOrigin,
    /// `Access-Control-Allow-Credentials: true` (default false).
    pub credentials: bool,
    /// `Access-Control-Allow-Methods` on preflight (default `GET,HEAD,PUT,PATCH,POST,DELETE`).
    pub methods: String,
    /// `Access-Control-Allow-Headers` on preflight; `None` echoes the request's
    /// `Access-Control-Request-Headers` (default).
    pub allowed_headers: Option<String>,
    /// `Access-Control-Expose-Headers` (default none).
    pub exposed_headers: Option<String>,
    /// `Access-Control-Max-Age` in seconds on preflight (default none).
    pub max_age: Option<u64>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            origin: CorsOrigin::Any,
            credentials: false,
            methods: "GET,HEAD,PUT,PATCH,POST,DELETE".to_owned(),
            allowed_headers: None,
            exposed_headers: None,
            max_age: None,
        }
    }
}

/// Compression of polling responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressionConfig {
    /// Responses shorter than this many bytes go uncompressed (default 1024).
    pub threshold: usize,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig { threshold: 1024 }
    }
}

/// permessage-deflate (RFC 7692), for either role: the reference's `perMessageDeflate`.
///
/// With context takeover (the default, as the reference's), each side keeps a compressor and
/// a decompressor per WebSocket between messages: better ratios, at about 446 KB per
/// connection that has compressed both ways (measured at level 6). With `server_no_context_takeover` and
/// `client_no_context_takeover`, messages are compressed on their own and a connection keeps
/// no compression state between them (the cost per idle session stays nil).
///
/// ```
/// use engineio_session::{DeflateConfig, ServerConfig};
///
/// let config = ServerConfig {
///     per_message_deflate: Some(DeflateConfig {
///         server_no_context_takeover: true,
///         client_no_context_takeover: true,
///         ..DeflateConfig::default()
///     }),
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.per_message_deflate.unwrap().threshold, 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Messages shorter than this many bytes go uncompressed (default 1024, the reference's).
    pub threshold: usize,
    /// Compression level, 0 to 9 (default 6, zlib's default).
    pub level: u32,
    /// The server compresses every message on its own (asked for by the server, or granted
    /// when a client asks).
    pub server_no_context_takeover: bool,
    /// The client compresses every message on its own.
    pub client_no_context_takeover: bool,
    /// The server compresses with a window of at most 2^this bytes, 9 to 15 (default 15):
    /// the reference's `serverMaxWindowBits`. A client offering a smaller
    /// `server_max_window_bits` gets it (down to 9); a server-side value under 15 is used
    /// without being announced (every client inflates any window). On our client, a value
    /// under 15 is offered to the server.
    pub server_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            threshold: 1024,
            level: 6,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
        }
    }
}
