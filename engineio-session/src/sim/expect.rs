//! The model of the protocol's answers: what the server must answer to an input, written here
//! from the protocol notes and the reference's behaviour, independently of the machine's code,
//! and compared with what the machine answers.
//!
//! - **Every response**: its CORS headers (`Access-Control-*`, `Vary`) are exactly those the
//!   run's CORS configuration gives the request's `Origin` (none without CORS), on errors and
//!   refusals too; a preflight gets the preflight's. `Set-Cookie` is on the handshake's
//!   response (a polling response or the `101` of a WebSocket handshake) and nowhere else, and
//!   is exactly the run's cookie serialized as the reference's `cookie` package does.
//! - **Requests no session may serve**: a stale or unknown sid gets 400
//!   `{"code":1,"message":"Session ID unknown"}`, except a POST of a polling session the server
//!   closed (the application or shutdown) less than pingTimeout ago: `ok`. A preflight gets 204
//!   with CORS, else 400 code 3 (with a sid) or code 2 (without). A handshake refused by the
//!   application gets 403 `{"code":4,"message":M}` with its message, and no session; during
//!   shutdown a handshake gets 503 with `Retry-After: 1`.
//! - **Overlaps**: a GET while one is parked gets an empty 400, the parked GET the close
//!   packet alone, a POST being read `Session ID unknown`; the session closes with
//!   `transport error` at once. A POST while another's body is being read: the same.
//! - **Limits**: a POST body over maxPayload gets an empty 413 and the session closes with
//!   `transport error`; a body of exactly maxPayload gets `ok`. A WebSocket message over
//!   maxPayload closes the session with `transport error`; one of exactly maxPayload is taken.
//! - **Server-wide events**: a session opened is one `Connection`; a refusal by
//!   [`Server`](crate::Server) is one `ConnectionError` with the code of the body; a `ok` to a
//!   late POST or a preflight is none.

use std::collections::VecDeque;

use bytes::Bytes;
use engineio_proto::{ErrorCode, Packet};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Response;

use super::inputs::{self, Sabotage};
use super::trace::Esc;
use super::wire::ClientFormat;
use super::{Invariant, Sim};
use crate::{CloseReason, CookiePriority, CorsOrigin, Instant, ReqId, SameSite, ServerEvent, Sid};

/// The body an answer must have.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// None (`Content-Length: 0`).
    Empty,
    /// `ok`, as `text/plain; charset=UTF-8`.
    Ok,
    /// The JSON error `{"code":N,"message":M}`, `M` written as a JSON string.
    Error {
        code: ErrorCode,
        message: &'static str,
    },
    /// A polling payload of the close packet alone.
    OnlyClose(ClientFormat),
}

/// An answer the model expects to a request.
#[derive(Clone, Debug)]
pub(crate) struct Expect {
    /// What is checked: the counter of [`Report::checks`](super::Report::checks).
    pub(crate) what: &'static str,
    pub(crate) status: u16,
    pub(crate) body: Body,
    /// `Retry-After: 1` (a handshake during shutdown).
    pub(crate) retry_after: bool,
}

impl Expect {
    pub(crate) fn error(what: &'static str, code: ErrorCode) -> Expect {
        Expect::error_with(what, code, standard_message(code))
    }

    pub(crate) fn error_with(what: &'static str, code: ErrorCode, message: &'static str) -> Expect {
        let status = if code == ErrorCode::Forbidden {
            403
        } else {
            400
        };
        Expect {
            what,
            status,
            body: Body::Error { code, message },
            retry_after: false,
        }
    }

    pub(crate) fn bare(what: &'static str, status: u16) -> Expect {
        Expect {
            what,
            status,
            body: Body::Empty,
            retry_after: false,
        }
    }

    pub(crate) fn ok(what: &'static str) -> Expect {
        Expect {
            what,
            status: 200,
            body: Body::Ok,
            retry_after: false,
        }
    }

    pub(crate) fn only_close(format: ClientFormat) -> Expect {
        Expect {
            what: "closed_poll",
            status: 200,
            body: Body::OnlyClose(format),
            retry_after: false,
        }
    }

    pub(crate) fn unavailable() -> Expect {
        Expect {
            what: "unavailable",
            status: 503,
            body: Body::Empty,
            retry_after: true,
        }
    }
}

/// The protocol's messages for its codes, as JSON strings.
fn standard_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnknownTransport => r#""Transport unknown""#,
        ErrorCode::UnknownSid => r#""Session ID unknown""#,
        ErrorCode::BadHandshakeMethod => r#""Bad handshake method""#,
        ErrorCode::BadRequest => r#""Bad request""#,
        ErrorCode::Forbidden => r#""Forbidden""#,
        ErrorCode::UnsupportedProtocolVersion => r#""Unsupported protocol version""#,
    }
}

/// What the model expects of a session once the host has handled an input.
#[derive(Clone, Copy, Debug)]
pub(crate) enum After {
    /// Closed, for this reason, by this input.
    Closed(CloseReason, &'static str),
    /// Still open.
    Open(&'static str),
}

/// The polling sessions the server closed lately, as the model keeps them (see
/// [`Server::session_ended`](crate::Server::session_ended)): a POST of one is taken for
/// pingTimeout.
#[derive(Default)]
pub(crate) struct Lingering(VecDeque<(Sid, Instant)>);

impl Lingering {
    pub(crate) fn ended(&mut self, sid: Sid, now: Instant, ttl: std::time::Duration) {
        self.expire(now, ttl);
        if self.0.len() == crate::Server::MAX_LINGERING {
            self.0.pop_front();
        }
        self.0.push_back((sid, now));
    }

    pub(crate) fn takes_post(&mut self, sid: Sid, now: Instant, ttl: std::time::Duration) -> bool {
        self.expire(now, ttl);
        self.0.iter().any(|(s, _)| *s == sid)
    }

    fn expire(&mut self, now: Instant, ttl: std::time::Duration) {
        while self.0.front().is_some_and(|&(_, at)| now - at >= ttl) {
            self.0.pop_front();
        }
    }
}

/// The CORS headers a response may carry (a preflight's included): all compared.
const CORS_HEADERS: [HeaderName; 7] = [
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
    header::VARY,
];

impl Sim {
    pub(super) fn count_check(&mut self, what: &'static str) {
        *self.stats.checks.entry(what).or_default() += 1;
    }

    pub(super) fn count_input(&mut self, what: &'static str) {
        *self.stats.inputs.entry(what).or_default() += 1;
    }

    /// The CORS headers the run's configuration gives a response to a request with `origin`;
    /// `preflight` is `Some(its Access-Control-Request-Headers)` for an `OPTIONS`.
    fn model_cors(
        &self,
        origin: Option<&HeaderValue>,
        preflight: Option<Option<&HeaderValue>>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let Some(cors) = &self.config.server.cors else {
            return Vec::new();
        };
        let mut h = Vec::new();
        let text = origin.and_then(|o| o.to_str().ok());
        let sabotaged = self.config.sabotage == Some(Sabotage::Cors);
        match &cors.origin {
            CorsOrigin::Any => {
                if !(sabotaged && origin.is_some()) {
                    h.push((
                        header::ACCESS_CONTROL_ALLOW_ORIGIN,
                        HeaderValue::from_static("*"),
                    ));
                }
            }
            policy => {
                let allowed = text.is_some_and(|o| inputs::cors_allows(policy, o));
                if let (true, false, Some(o)) = (allowed, sabotaged, origin) {
                    h.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone()));
                }
                h.push((header::VARY, HeaderValue::from_static("Origin")));
            }
        }
        let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("?"));
        if cors.credentials {
            h.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        if let Some(e) = &cors.exposed_headers {
            h.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, value(e)));
        }
        if let Some(request_headers) = preflight {
            h.push((header::ACCESS_CONTROL_ALLOW_METHODS, value(&cors.methods)));
            match (&cors.allowed_headers, request_headers) {
                (Some(allowed), _) => {
                    h.push((header::ACCESS_CONTROL_ALLOW_HEADERS, value(allowed)))
                }
                (None, Some(asked)) => {
                    h.push((header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone()));
                    h.push((
                        header::VARY,
                        HeaderValue::from_static("Access-Control-Request-Headers"),
                    ));
                }
                (None, None) => {}
            }
            if let Some(age) = cors.max_age {
                h.push((header::ACCESS_CONTROL_MAX_AGE, value(&age.to_string())));
            }
        }
        h
    }

    /// The `Set-Cookie` the handshake of session `sid` must carry: the run's cookie, as the
    /// reference's `cookie` package writes it.
    pub(super) fn model_cookie(&self, sid: Sid) -> Option<HeaderValue> {
        let c = self.config.server.cookie.as_ref()?;
        let mut s = format!("{}={}", c.name, sid.as_str());
        if let Some(age) = c.max_age {
            s += &format!("; Max-Age={age}");
        }
        if let Some(d) = &c.domain {
            s += &format!("; Domain={d}");
        }
        if let Some(p) = &c.path {
            s += &format!("; Path={p}");
        }
        if let Some(e) = &c.expires {
            s += &format!("; Expires={e}");
        }
        if c.http_only != (self.config.sabotage == Some(Sabotage::Cookie)) {
            s += "; HttpOnly";
        }
        if c.secure {
            s += "; Secure";
        }
        if c.partitioned {
            s += "; Partitioned";
        }
        s += match c.priority {
            Some(CookiePriority::Low) => "; Priority=Low",
            Some(CookiePriority::Medium) => "; Priority=Medium",
            Some(CookiePriority::High) => "; Priority=High",
            None => "",
        };
        s += match c.same_site {
            Some(SameSite::Strict) => "; SameSite=Strict",
            Some(SameSite::Lax) => "; SameSite=Lax",
            Some(SameSite::None) => "; SameSite=None",
            None => "",
        };
        HeaderValue::from_str(&s).ok()
    }

    /// Checks the CORS and cookie headers of a response to request `id` (of client `c`, with
    /// `origin`; a preflight with its `Access-Control-Request-Headers`), which must set
    /// `cookie` (the handshake) or no cookie.
    pub(super) fn check_headers(
        &mut self,
        c: usize,
        id: ReqId,
        headers: &HeaderMap,
        origin: Option<&HeaderValue>,
        preflight: Option<Option<&HeaderValue>>,
        cookie: Option<&HeaderValue>,
    ) {
        let expected = self.model_cors(origin, preflight);
        for name in &CORS_HEADERS {
            let got: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
            let want: Vec<&HeaderValue> = expected
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v)
                .collect();
            if got != want {
                let detail = format!(
                    "c{c}: R{} (Origin {origin:?}) has {name} {got:?}; the CORS configuration \
                     {:?} gives {want:?}",
                    id.0, self.config.server.cors
                );
                return self.fail(Invariant::Answer, detail);
            }
        }
        if self.config.server.cors.is_some() {
            self.count_check("cors");
        }
        self.check_cookie(c, id, headers, cookie);
    }

    /// Checks that a response to request `id` sets `cookie` (the handshake's) or no cookie.
    pub(super) fn check_cookie(
        &mut self,
        c: usize,
        id: ReqId,
        headers: &HeaderMap,
        cookie: Option<&HeaderValue>,
    ) {
        let got: Vec<&HeaderValue> = headers.get_all(header::SET_COOKIE).iter().collect();
        let want: Vec<&HeaderValue> = cookie.into_iter().collect();
        if got != want {
            let detail = format!(
                "c{c}: R{} sets cookies {got:?}; the model says {want:?} ({:?})",
                id.0, self.config.server.cookie
            );
            return self.fail(Invariant::Answer, detail);
        }
        if cookie.is_some() {
            self.count_check("cookie");
        }
    }

    /// Checks a response against what the model expects.
    pub(super) fn check_expect(&mut self, c: usize, id: ReqId, e: &Expect, resp: &Response<Bytes>) {
        let mut status = e.status;
        if self.config.sabotage == Some(Sabotage::Status) {
            status += 1;
        }
        let got = resp.status().as_u16();
        let body = resp.body();
        let h = resp.headers();
        let is =
            |name: HeaderName, v: &str| h.get(name).is_some_and(|x| x.as_bytes() == v.as_bytes());
        let problem = if got != status {
            Some(format!("status {got}, expected {status}"))
        } else {
            match &e.body {
                Body::Empty if !body.is_empty() || !is(header::CONTENT_LENGTH, "0") => {
                    Some("a body where none is expected".to_owned())
                }
                Body::Ok
                    if body.as_ref() != b"ok"
                        || !is(header::CONTENT_TYPE, "text/plain; charset=UTF-8") =>
                {
                    Some("not `ok` (text/plain; charset=UTF-8)".to_owned())
                }
                Body::Error { code, message } => {
                    let want = format!("{{\"code\":{},\"message\":{message}}}", code.code());
                    (body.as_ref() != want.as_bytes()
                        || !is(header::CONTENT_TYPE, "application/json"))
                    .then(|| format!("not the JSON error {want}"))
                }
                Body::OnlyClose(format) => match format.decode_response(resp) {
                    Ok(p) if p == [Packet::Close] => None,
                    Ok(p) => Some(format!("{p:?}, not the close packet alone")),
                    Err(err) => Some(err),
                },
                _ => None,
            }
        };
        let problem = problem.or_else(|| {
            (e.retry_after && !is(header::RETRY_AFTER, "1"))
                .then(|| "no `Retry-After: 1`".to_owned())
        });
        match problem {
            Some(p) => {
                let detail = format!(
                    "c{c}: {} R{} answered {got} {}: {p}",
                    e.what,
                    id.0,
                    Esc(body)
                );
                self.fail(Invariant::Answer, detail);
            }
            None => self.count_check(e.what),
        }
    }

    /// Checks the server-wide events a request caused.
    pub(super) fn check_server_events(
        &mut self,
        c: usize,
        what: &str,
        got: &[ServerEvent],
        want: &[ServerEvent],
    ) {
        if got != want {
            let detail = format!("c{c}: {what} caused server events {got:?}, expected {want:?}");
            self.fail(Invariant::Answer, detail);
        }
    }

    /// Checks what a session is like after an input the model knows the outcome of.
    pub(super) fn check_after(&mut self, c: usize, after: After, closed: Option<CloseReason>) {
        let (ok, what, want) = match after {
            After::Closed(reason, what) => {
                let reason = if self.config.sabotage == Some(Sabotage::CloseReason) {
                    CloseReason::ParseError
                } else {
                    reason
                };
                (closed == Some(reason), what, Some(reason))
            }
            After::Open(what) => (closed.is_none(), what, None),
        };
        if ok {
            if let After::Closed(_, "oversized_frame") | After::Open("at_limit_frame") = after {
                self.count_check(what);
            }
        } else {
            let detail = format!(
                "s{c} after {what}: closed {:?}, expected {:?}",
                closed.map(CloseReason::as_str),
                want.map(CloseReason::as_str)
            );
            self.fail(Invariant::Answer, detail);
        }
    }
}
