//! The request query: `EIO`, `transport`, `sid`, `b64`, `j`, `t`.

use std::borrow::Cow;

use crate::{ProtocolVersion, Transport};

/// The Engine.IO parameters of a request's query string.
///
/// Parsing never fails on values: a missing or invalid `EIO` or `transport` is `None`, so the
/// server decides which error to report first, in the reference server's order (transport,
/// origin, sid, method, then `EIO` at the handshake). It fails only when a parameter is
/// ambiguous (given twice) or `j` is not a plain number, which are bad requests.
///
/// ```
/// use engineio_proto::{ProtocolVersion, RequestQuery, Transport};
/// let q = RequestQuery::parse("EIO=4&transport=polling&t=N8hyd6w&sid=abc%2Bd").unwrap();
/// assert_eq!(q.eio, Some(ProtocolVersion::V4));
/// assert_eq!(q.transport, Some(Transport::Polling));
/// assert_eq!(q.sid.as_deref(), Some("abc+d"));
/// assert!(!q.b64);
/// assert_eq!(RequestQuery::parse("EIO=04&transport=__proto__").unwrap().eio, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestQuery<'a> {
    /// `EIO`: exactly `4` or `3`; `None` if missing or anything else.
    pub eio: Option<ProtocolVersion>,
    /// `transport`: `polling` or `websocket`; `None` if missing or anything else.
    pub transport: Option<Transport>,
    /// `sid`, percent-decoded, borrowed from the query when it needed no decoding. `None` if
    /// missing or empty (an empty sid is a handshake, as in the reference).
    pub sid: Option<Cow<'a, str>>,
    /// `b64`: the client cannot take binary bodies. Any non-empty value counts, as in the
    /// reference (`b64=0` too).
    pub b64: bool,
    /// `j`: the JSONP callback index of a v3 JSONP client.
    pub jsonp: Option<u32>,
}

/// A query the server must refuse as a bad request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// An Engine.IO parameter appears more than once.
    #[error("query parameter `{0}` is given more than once")]
    Repeated(&'static str),
    /// `j` is not a number of 1 to 10 ASCII digits that fits a `u32`.
    #[error("JSONP index `j` must be ASCII digits with a value below 2^32")]
    InvalidJsonpIndex,
}

impl<'a> RequestQuery<'a> {
    /// Parses a query string (without the leading `?`), form-urlencoded.
    pub fn parse(query: &'a str) -> Result<RequestQuery<'a>, QueryError> {
        let mut q = RequestQuery::default();
        let mut seen = [false; 5];
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (slot, name) = match &*key {
                "EIO" => (0, "EIO"),
                "transport" => (1, "transport"),
                "sid" => (2, "sid"),
                "b64" => (3, "b64"),
                "j" => (4, "j"),
                _ => continue,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(QueryError::Repeated(name));
            }
            match slot {
                0 => q.eio = ProtocolVersion::from_query(&value),
                1 => q.transport = Transport::from_name(&value),
                2 => q.sid = Some(value).filter(|s| !s.is_empty()),
                3 => q.b64 = !value.is_empty(),
                _ => {
                    q.jsonp = Some(parse_jsonp_index(&value).ok_or(QueryError::InvalidJsonpIndex)?)
                }
            }
        }
        Ok(q)
    }
}

/// `j` values: 1 to 10 ASCII digits whose value fits a `u32` (every index we can encode).
pub(crate) fn parse_jsonp_index(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
