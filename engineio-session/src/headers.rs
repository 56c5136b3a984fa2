//! The HTTP side of the protocol's decisions: CORS, the sticky cookie, compression, and the
//! shape of every response.

use bytes::{Bytes, BytesMut};
use engineio_proto::ErrorCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::config::{CookieConfig, CookiePriority, CorsConfig, CorsOrigin, SameSite};

/// The content codings a polling response may be compressed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// `gzip`.
    Gzip,
    /// `deflate` (zlib).
    Deflate,
}

impl ContentEncoding {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
        }
    }

    /// The best of gzip and deflate that an `Accept-Encoding` header accepts, by quality, gzip
    /// first on a tie (as the reference's `accepts` package picks); `None` if neither.
    ///
    /// ```
    /// use engineio_session::ContentEncoding;
    /// assert_eq!(ContentEncoding::negotiate("deflate, gzip;q=0.5"), Some(ContentEncoding::Deflate));
    /// assert_eq!(ContentEncoding::negotiate("gzip;q=0, br"), None);
    /// assert_eq!(ContentEncoding::negotiate("*"), Some(ContentEncoding::Gzip));
    /// ```
    pub fn negotiate(accept_encoding: &str) -> Option<ContentEncoding> {
        let mut gzip: Option<f32> = None;
        let mut deflate: Option<f32> = None;
        let mut star: Option<f32> = None;
        for item in accept_encoding.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name.eq_ignore_ascii_case("deflate") {
                deflate = Some(q);
            } else if name == "*" {
                star = Some(q);
            }
        }
        let g = gzip.or(star).unwrap_or(0.0);
        let d = deflate.or(star).unwrap_or(0.0);
        if g <= 0.0 && d <= 0.0 {
            None
        } else if g >= d {
            Some(ContentEncoding::Gzip)
        } else {
            Some(ContentEncoding::Deflate)
        }
    }
}

/// Compresses `body`; `None` if compression is not compiled in.
pub(crate) fn compress(encoding: ContentEncoding, body: &[u8]) -> Option<Bytes> {
    #[cfg(feature = "compression")]
    {
        use std::io::Write;
        let out = Vec::with_capacity(body.len() / 2 + 64);
        let level = flate2::Compression::default();
        let result = match encoding {
            ContentEncoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(out, level);
                e.write_all(body).and_then(|()| e.finish())
            }
            ContentEncoding::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(out, level);
                e.write_all(body).and_then(|()| e.finish())
            }
        };
        result.ok().map(Bytes::from)
    }
    #[cfg(not(feature = "compression"))]
    {
        let _ = (encoding, body);
        None
    }
}

/// Whether an `Origin` value holds a character the reference refuses (controls other than
/// tab, and DEL): such requests are answered with code 3.
pub(crate) fn origin_is_invalid(origin: &[u8]) -> bool {
    origin
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// The CORS headers of a non-preflight response (none without a CORS configuration).
pub(crate) fn cors_headers(cors: Option<&CorsConfig>, origin: Option<&HeaderValue>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(cors) = cors {
        add_cors(cors, origin, &mut h);
    }
    h
}

/// Adds the CORS headers of a non-preflight response.
pub(crate) fn add_cors(cors: &CorsConfig, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    add_allow_origin(cors, origin, headers);
    if cors.credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(v) = cors.exposed_headers.as_deref().and_then(value) {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
}

fn add_allow_origin(cors: &CorsConfig, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    match &cors.origin {
        CorsOrigin::Any => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        CorsOrigin::Mirror => {
            if let Some(o) = origin {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        CorsOrigin::List(_) | CorsOrigin::Predicate(_) => {
            if let Some(o) = origin.filter(|o| cors.origin.allows(o.as_bytes())) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
            }
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

/// The answer to a CORS preflight (`OPTIONS`): 204 with the allow headers.
pub(crate) fn preflight(cors: &CorsConfig, request: &HeaderMap) -> Response<Bytes> {
    let mut headers = HeaderMap::new();
    add_cors(cors, request.get(header::ORIGIN), &mut headers);
    if let Some(v) = value(&cors.methods) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    match cors.allowed_headers.as_deref() {
        Some(h) => {
            if let Some(v) = value(h) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        None => {
            if let Some(v) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                headers.append(
                    header::VARY,
                    HeaderValue::from_static("Access-Control-Request-Headers"),
                );
            }
        }
    }
    if let Some(age) = cors.max_age {
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response(StatusCode::NO_CONTENT, headers, Bytes::new())
}

/// The `Set-Cookie` value for a new session, serialized as the reference's `cookie` package
/// does: `io=<sid>; Max-Age=..; Domain=..; Path=/; Expires=..; HttpOnly; Secure; Partitioned;
/// Priority=..; SameSite=Lax`.
pub(crate) fn set_cookie(cookie: &CookieConfig, sid: &str) -> Option<HeaderValue> {
    let mut s = format!("{}={}", cookie.name, sid);
    if let Some(age) = cookie.max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    if let Some(d) = &cookie.domain {
        s.push_str(&format!("; Domain={d}"));
    }
    if let Some(p) = &cookie.path {
        s.push_str(&format!("; Path={p}"));
    }
    if let Some(e) = &cookie.expires {
        s.push_str(&format!("; Expires={e}"));
    }
    if cookie.http_only {
        s.push_str("; HttpOnly");
    }
    if cookie.secure {
        s.push_str("; Secure");
    }
    if cookie.partitioned {
        s.push_str("; Partitioned");
    }
    match cookie.priority {
        Some(CookiePriority::Low) => s.push_str("; Priority=Low"),
        Some(CookiePriority::Medium) => s.push_str("; Priority=Medium"),
        Some(CookiePriority::High) => s.push_str("; Priority=High"),
        None => {}
    }
    match cookie.same_site {
        Some(SameSite::Strict) => s.push_str("; SameSite=Strict"),
        Some(SameSite::Lax) => s.push_str("; SameSite=Lax"),
        Some(SameSite::None) => s.push_str("; SameSite=None"),
        None => {}
    }
    value(&s)
}

fn value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// A response with `headers` and `body`.
/// The `ok` answer to a POST taken, with `h` (CORS) and the content headers.
pub(crate) fn ok_response(mut h: HeaderMap) -> Response<Bytes> {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
    let (name, value) = CACHE_CONTROL;
    h.insert(name, value);
    response(StatusCode::OK, h, Bytes::from_static(b"ok"))
}

pub(crate) fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// The JSON error response for `code`, as the reference renders it.
pub(crate) fn error_response(
    code: ErrorCode,
    message: Option<&str>,
    mut headers: HeaderMap,
) -> Response<Bytes> {
    let mut body = BytesMut::new();
    code.write_json(message, &mut body);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ErrorCode::CONTENT_TYPE),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    response(status, headers, body.freeze())
}

/// A response with a status and an empty body (the reference's bare 400 on overlap, 413).
pub(crate) fn bare(status: StatusCode, mut headers: HeaderMap) -> Response<Bytes> {
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response(status, headers, Bytes::new())
}

/// `Cache-Control: no-store`, on every polling response.
pub(crate) const CACHE_CONTROL: (HeaderName, HeaderValue) =
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_with_control_characters_are_invalid() {
        assert!(origin_is_invalid(b"http://a\x01b"));
        assert!(origin_is_invalid(b"http://a\x7f"));
        assert!(origin_is_invalid(b"\n"));
        assert!(!origin_is_invalid(b"http://a\tb"));
        assert!(!origin_is_invalid("http://é.example".as_bytes()));
    }
}
