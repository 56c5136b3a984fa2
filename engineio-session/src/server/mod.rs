//! The server side: [`Server`] routes requests and opens sessions; each [`Session`] is an
//! independent machine.

mod session;

pub use session::{Event, Input, Session, Transmit};

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use engineio_proto::{ErrorCode, PayloadFormat, ProtocolVersion, RequestQuery, Transport};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Uri};

use crate::config::ServerConfig;
use crate::headers::{self, ContentEncoding};
use crate::sid::{RandomSids, Sid, SidGenerator};
use crate::Instant;

/// Identifies one HTTP request for the host. A WebSocket keeps the id of its upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ReqId(pub u64);

/// The parts of an HTTP request the server looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target (path and query).
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(p: &'a http::request::Parts) -> Self {
        RequestHead {
            method: &p.method,
            uri: &p.uri,
            headers: &p.headers,
        }
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    fn from(r: &'a http::Request<B>) -> Self {
        RequestHead {
            method: r.method(),
            uri: r.uri(),
            headers: r.headers(),
        }
    }
}

/// What to do with a request, as [`Server::route`] decides.
#[derive(Debug)]
pub enum Route {
    /// Not the Engine.IO path: hand the request to the rest of the application.
    Pass,
    /// Answer with this response now (errors, CORS preflight).
    Respond(Response<Bytes>),
    /// A new session: call [`Server::accept`], after the application's verdict when
    /// [`HandshakeRequest::needs_verdict`] says so.
    Handshake(HandshakeRequest),
    /// A request for the session `sid`: give `request` to that session as
    /// [`Input::Request`]. If no session with that sid lives here, forward the request to the
    /// node that has it, or answer [`Server::unknown_session`].
    Session {
        /// The session addressed.
        sid: Sid,
        /// The request, for [`Input::Request`].
        request: SessionRequest,
    },
}

/// What kind of request a session receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RequestKind {
    /// A polling GET (held open until there is something to send).
    Get,
    /// A polling POST; `binary` when sent as `application/octet-stream`.
    Post {
        /// Whether the body is a v3 binary payload.
        binary: bool,
    },
    /// A WebSocket upgrade request.
    WebSocket,
}

/// A request routed to an existing session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRequest {
    pub(crate) kind: RequestKind,
    pub(crate) transport: Transport,
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) origin: Option<HeaderValue>,
    pub(crate) encoding: Option<ContentEncoding>,
}

impl SessionRequest {
    /// A request of `kind` on `transport` in `version`, without CORS origin or compression
    /// (for custom hosts and tests; [`Server::route`] builds these from real requests).
    pub fn new(kind: RequestKind, transport: Transport, version: ProtocolVersion) -> Self {
        SessionRequest {
            kind,
            transport,
            version: Some(version),
            origin: None,
            encoding: None,
        }
    }

    /// The kind: tells the host whether to keep the body (POST) or the upgrade (WebSocket).
    pub fn kind(&self) -> RequestKind {
        self.kind
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SessionRequest {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(SessionRequest {
            kind: u.arbitrary()?,
            transport: u.arbitrary()?,
            version: u.arbitrary()?,
            origin: None,
            encoding: None,
        })
    }
}

/// A handshake waiting for [`Server::accept`].
#[derive(Clone, Debug)]
pub struct HandshakeRequest {
    transport: Transport,
    version: ProtocolVersion,
    format: PayloadFormat,
    origin: Option<HeaderValue>,
    encoding: Option<ContentEncoding>,
    needs_verdict: bool,
}

impl HandshakeRequest {
    /// Whether the application must decide (`allow_request` is on) before `accept`.
    pub fn needs_verdict(&self) -> bool {
        self.needs_verdict
    }

    /// The transport the session opens on.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The protocol version asked for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }
}

/// The application's answer to a handshake that needs a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Open the session.
    Allow,
    /// Refuse with 403 (code 4), with this message instead of `Forbidden` if given.
    Deny(Option<String>),
}

/// Server-wide events, for the application and for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A session opened.
    Connection {
        /// Its id.
        sid: Sid,
        /// The transport it opened on.
        transport: Transport,
        /// Its protocol version.
        version: ProtocolVersion,
    },
    /// A request was refused with an error code (the reference's `connection_error`).
    ConnectionError {
        /// The code sent.
        code: ErrorCode,
        /// Why, in a word (the reference's context `name`, where it has one).
        context: &'static str,
    },
}

/// Why a request was refused with an error code, carried in the refusal's response
/// extensions (for a host's `connection_error` hook: a session's refusals are decided by the
/// session, not the [`Server`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The code sent.
    pub code: ErrorCode,
    /// Why, in a word (the reference's context `name`).
    pub context: &'static str,
}

/// The server factory: routes requests and opens sessions. It holds no session: each
/// [`Session`] is an independent machine owned by the host (one task per session in the
/// runtime adapters), and the host's sid map is only for routing.
///
/// ```
/// use engineio_session::{Instant, ReqId, Route, Server, ServerConfig, Transmit, Verdict};
///
/// let mut server = Server::new(ServerConfig { seed: Some(7), ..ServerConfig::default() });
/// let req = http::Request::get("/engine.io/?EIO=4&transport=polling").body(()).unwrap();
/// let Route::Handshake(hs) = server.route((&req).into()) else { panic!() };
/// let (sid, mut session) = server.accept(Instant::ZERO, hs, ReqId(1), Verdict::Allow).unwrap();
/// let Some(Transmit::Respond { req, response }) = session.poll_transmit() else { panic!() };
/// assert_eq!(req, ReqId(1));
/// assert!(response.body().starts_with(format!("0{{\"sid\":\"{sid}\"").as_bytes()));
/// ```
pub struct Server {
    config: Arc<ServerConfig>,
    sids: Box<dyn SidGenerator>,
    shutting_down: bool,
    events: std::collections::VecDeque<ServerEvent>,
    /// Polling sessions this server closed lately (see [`Server::session_ended`]), oldest
    /// first, at most [`Server::MAX_LINGERING`].
    lingering: std::collections::VecDeque<(Sid, Instant)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with `config`. Session ids come from [`RandomSids`] seeded with
    /// `config.seed`, or with 0 if unset: hosts in production must call
    /// [`with_sid_generator`](Self::with_sid_generator) with OS entropy (the runtime adapters do).
    pub fn new(config: ServerConfig) -> Server {
        let seed = config.seed.unwrap_or(0);
        Server::with_sid_generator(config, RandomSids::from_u64(seed))
    }

    /// A server whose session ids come from `sids`.
    pub fn with_sid_generator(config: ServerConfig, sids: impl SidGenerator + 'static) -> Server {
        Server {
            config: Arc::new(config),
            sids: Box::new(sids),
            shutting_down: false,
            events: Default::default(),
            lingering: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Refuse new sessions from now on (503); existing sessions are closed by the host with
    /// [`Session::shutdown`].
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
    }

    /// The next server-wide event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Whether a request is for the Engine.IO path (with or without its trailing slash).
    pub fn matches_path(&self, path: &str) -> bool {
        let ours = self.config.path.trim_end_matches('/');
        path.strip_prefix(ours)
            .is_some_and(|rest| rest.is_empty() || rest == "/")
    }

    /// Decides what to do with a request: every check that needs no session (path, CORS
    /// preflight, query, transport, origin, method, protocol version) in the reference
    /// server's order.
    pub fn route(&mut self, req: RequestHead<'_>) -> Route {
        if !self.matches_path(req.uri.path()) {
            return Route::Pass;
        }
        let origin = req.headers.get(header::ORIGIN);
        if *req.method == Method::OPTIONS {
            if let Some(cors) = &self.config.cors {
                return Route::Respond(headers::preflight(cors, req.headers));
            }
        }
        let query = RequestQuery::parse(req.uri.query().unwrap_or("")).ok();
        let Some(q) = query else {
            return self.refuse(ErrorCode::BadRequest, "INVALID_QUERY", origin);
        };
        let transport = match q.transport {
            Some(t) if self.config.transports.allows(t) => t,
            _ => return self.refuse(ErrorCode::UnknownTransport, "UNKNOWN_TRANSPORT", origin),
        };
        if origin.is_some_and(|o| headers::origin_is_invalid(o.as_bytes())) {
            return self.refuse(ErrorCode::BadRequest, "INVALID_ORIGIN", None);
        }
        let upgrade = is_websocket_upgrade(req.headers);
        // A browser applies no CORS to a WebSocket: it opens one from any page, with the
        // user's cookies, and lets the page read everything (cross-site WebSocket hijacking,
        // python-engineio's CVE-2019-13611). Where CORS names the allowed origins, a WebSocket
        // from any other origin is refused here (the reference leaves this to allowRequest).
        if upgrade && self.origin_refused(origin) {
            return self.refuse(ErrorCode::Forbidden, "ORIGIN_NOT_ALLOWED", None);
        }
        let encoding = self
            .config
            .http_compression
            .and(req.headers.get(header::ACCEPT_ENCODING))
            .and_then(|v| v.to_str().ok())
            .and_then(ContentEncoding::negotiate);
        if let Some(sid) = q.sid {
            let Ok(sid) = Sid::new(&sid) else {
                return self.refuse(ErrorCode::UnknownSid, "UNKNOWN_SID", origin);
            };
            let kind = match (req.method, upgrade) {
                (&Method::GET, true) => RequestKind::WebSocket,
                (&Method::GET, false) => RequestKind::Get,
                (&Method::POST, false) => RequestKind::Post {
                    binary: req
                        .headers
                        .get(header::CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes() == b"application/octet-stream"),
                },
                _ => return self.refuse(ErrorCode::BadRequest, "BAD_METHOD", origin),
            };
            return Route::Session {
                sid,
                request: SessionRequest {
                    kind,
                    transport,
                    version: q.eio,
                    origin: origin.cloned(),
                    encoding,
                },
            };
        }
        if *req.method != Method::GET {
            return self.refuse(
                ErrorCode::BadHandshakeMethod,
                "BAD_HANDSHAKE_METHOD",
                origin,
            );
        }
        if (transport == Transport::Websocket) != upgrade {
            return self.refuse(ErrorCode::BadRequest, "TRANSPORT_HANDSHAKE_ERROR", origin);
        }
        let version = match q.eio {
            Some(ProtocolVersion::V4) => ProtocolVersion::V4,
            Some(ProtocolVersion::V3) if self.config.allow_eio3 => ProtocolVersion::V3,
            _ => {
                return self.refuse(
                    ErrorCode::UnsupportedProtocolVersion,
                    "UNSUPPORTED_PROTOCOL_VERSION",
                    origin,
                )
            }
        };
        if self.shutting_down {
            let mut h = self.cors_headers(origin);
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Route::Respond(headers::bare(StatusCode::SERVICE_UNAVAILABLE, h));
        }
        let format = match (version, q.jsonp) {
            (ProtocolVersion::V4, _) => PayloadFormat::V4,
            (ProtocolVersion::V3, Some(index)) => PayloadFormat::V3Jsonp { index },
            (ProtocolVersion::V3, None) => PayloadFormat::V3 { binary: !q.b64 },
        };
        Route::Handshake(HandshakeRequest {
            transport,
            version,
            format,
            origin: origin.cloned(),
            encoding,
            needs_verdict: self.config.allow_request,
        })
    }

    /// Opens a session for a handshake. Its first transmits answer the request `req`: the open
    /// packet on the polling response, or the WebSocket acceptance followed by the open
    /// packet. `verdict` is the application's answer when the handshake needed one (pass
    /// [`Verdict::Allow`] otherwise).
    pub fn accept(
        &mut self,
        now: Instant,
        hs: HandshakeRequest,
        req: ReqId,
        verdict: Verdict,
    ) -> Result<(Sid, Session), Response<Bytes>> {
        self.accept_as(now, hs, req, verdict, None)
    }

    /// [`accept`](Self::accept), with the session id the application chose (the reference's
    /// `generateId`) instead of the generator's when `sid` is given. The host keeps ids unique.
    pub fn accept_as(
        &mut self,
        now: Instant,
        hs: HandshakeRequest,
        req: ReqId,
        verdict: Verdict,
        sid: Option<Sid>,
    ) -> Result<(Sid, Session), Response<Bytes>> {
        if let Verdict::Deny(message) = verdict {
            self.events.push_back(ServerEvent::ConnectionError {
                code: ErrorCode::Forbidden,
                context: "FORBIDDEN",
            });
            let h = self.cors_headers(hs.origin.as_ref());
            return Err(headers::error_response(
                ErrorCode::Forbidden,
                message.as_deref(),
                h,
            ));
        }
        let sid = sid.unwrap_or_else(|| {
            let sid = self.sids.generate();
            match &self.config.sid_prefix {
                Some(prefix) => prefix.apply(sid),
                None => sid,
            }
        });
        let cookie = self
            .config
            .cookie
            .as_ref()
            .and_then(|c| headers::set_cookie(c, sid.as_str()));
        self.events.push_back(ServerEvent::Connection {
            sid,
            transport: hs.transport,
            version: hs.version,
        });
        let session = Session::open(now, self.config.clone(), sid, &hs, req, cookie);
        Ok((sid, session))
    }

    /// Most sessions remembered by [`session_ended`](Self::session_ended).
    pub const MAX_LINGERING: usize = 1024;

    /// Tells the server that session `sid` has ended, for `reason`, on `transport`. A polling
    /// session that the server closed (the application's close, or shutdown: the close packet
    /// went, or goes, out on a GET) is remembered for `ping_timeout`: a POST of it that was
    /// already on its way gets `ok` from [`unknown_session`](Self::unknown_session) instead
    /// of "Session ID unknown", so the client sees only the clean close (the reference
    /// answers 400 there, and its client reports a transport error before the close). At
    /// most [`MAX_LINGERING`](Self::MAX_LINGERING) are remembered; hosts that never call
    /// this keep the reference's answer.
    pub fn session_ended(
        &mut self,
        now: Instant,
        sid: Sid,
        reason: crate::CloseReason,
        transport: Transport,
    ) {
        if !reason.takes_late_posts(transport) {
            return;
        }
        self.expire(now);
        if self.lingering.len() == Self::MAX_LINGERING {
            self.lingering.pop_front();
        }
        self.lingering.push_back((sid, now));
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.config.ping_timeout;
        while let Some(&(_, at)) = self.lingering.front() {
            if now - at < ttl {
                break;
            }
            self.lingering.pop_front();
        }
    }

    /// The answer for a request routed to session `sid`, which does not live here: code 1
    /// ("Session ID unknown"), or `ok` for a POST of a polling session this server closed
    /// lately (see [`session_ended`](Self::session_ended)).
    pub fn unknown_session(
        &mut self,
        now: Instant,
        sid: Sid,
        request: &SessionRequest,
    ) -> Response<Bytes> {
        if matches!(request.kind, RequestKind::Post { .. }) {
            self.expire(now);
            if self.lingering.iter().any(|(s, _)| *s == sid) {
                return headers::ok_response(self.cors_headers(request.origin.as_ref()));
            }
        }
        self.error(
            ErrorCode::UnknownSid,
            "UNKNOWN_SID",
            request.origin.as_ref(),
        )
    }

    /// Whether CORS names the allowed origins and `origin` is not one of them.
    fn origin_refused(&self, origin: Option<&HeaderValue>) -> bool {
        match (&self.config.cors, origin) {
            (Some(cors), Some(o)) => !cors.origin.allows(o.as_bytes()),
            _ => false,
        }
    }

    fn cors_headers(&self, origin: Option<&HeaderValue>) -> HeaderMap {
        headers::cors_headers(self.config.cors.as_ref(), origin)
    }

    fn refuse(
        &mut self,
        code: ErrorCode,
        context: &'static str,
        origin: Option<&HeaderValue>,
    ) -> Route {
        Route::Respond(self.error(code, context, origin))
    }

    /// The error response for `code`, reported as a connection error.
    fn error(
        &mut self,
        code: ErrorCode,
        context: &'static str,
        origin: Option<&HeaderValue>,
    ) -> Response<Bytes> {
        self.events
            .push_back(ServerEvent::ConnectionError { code, context });
        headers::error_response(code, None, self.cors_headers(origin))
    }
}

/// `Upgrade: websocket` (case-insensitive, possibly among other protocols).
fn is_websocket_upgrade(h: &HeaderMap) -> bool {
    h.get_all(header::UPGRADE).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}

/// Encodes `packets` as a polling response body for `format` (shared by sessions).
pub(crate) fn encode_body(
    format: PayloadFormat,
    packets: &[engineio_proto::Packet],
) -> (Bytes, engineio_proto::ContentType) {
    let mut body = BytesMut::new();
    let ct = format.encode(packets, &mut body);
    (body.freeze(), ct)
}
