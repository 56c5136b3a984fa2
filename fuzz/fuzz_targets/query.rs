//! `RequestQuery::parse` on arbitrary UTF-8 (the input, lossily decoded), checked against an
//! independent form-urlencoded parser, and re-serialized and parsed back.
#![no_main]

use std::borrow::Cow;

use engineio_proto::{ProtocolVersion, QueryError, RequestQuery, Transport};
use libfuzzer_sys::fuzz_target;

/// Percent-decodes a form component: `+` is a space, `%XX` a byte, anything else as it is;
/// then lossy UTF-8 (as `application/x-www-form-urlencoded` parsing does).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push((hex(b[i + 1]).unwrap() * 16 + hex(b[i + 2]).unwrap()) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but ASCII alphanumerics.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A parse with owned fields: `eio`, `transport`, `sid`, `b64`, `jsonp`.
type Flat = (
    Option<ProtocolVersion>,
    Option<Transport>,
    Option<String>,
    bool,
    Option<u32>,
);

/// The expected parse, from the pairs decoded independently.
fn oracle(query: &str) -> Result<Flat, QueryError> {
    let mut seen = std::collections::HashSet::new();
    let (mut eio, mut transport, mut sid, mut b64, mut j) = (None, None, None, false, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_decode(k), form_decode(v));
        let name = match k.as_str() {
            "EIO" => "EIO",
            "transport" => "transport",
            "sid" => "sid",
            "b64" => "b64",
            "j" => "j",
            _ => continue,
        };
        if !seen.insert(name) {
            return Err(QueryError::Repeated(name));
        }
        match name {
            "EIO" => {
                eio = match v.as_str() {
                    "3" => Some(ProtocolVersion::V3),
                    "4" => Some(ProtocolVersion::V4),
                    _ => None,
                }
            }
            "transport" => {
                transport = match v.as_str() {
                    "polling" => Some(Transport::Polling),
                    "websocket" => Some(Transport::Websocket),
                    _ => None,
                }
            }
            "sid" => sid = Some(v).filter(|s| !s.is_empty()),
            "b64" => b64 = !v.is_empty(),
            _ => {
                // 1 to 10 digits whose value fits a u32.
                let value =
                    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                        None
                    } else {
                        v.parse::<u64>().ok().and_then(|n| u32::try_from(n).ok())
                    };
                j = Some(value.ok_or(QueryError::InvalidJsonpIndex)?);
            }
        }
    }
    Ok((eio, transport, sid, b64, j))
}

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let parsed = RequestQuery::parse(&query);
    let flat = parsed.clone().map(|q| {
        (
            q.eio,
            q.transport,
            q.sid.map(Cow::into_owned),
            q.b64,
            q.jsonp,
        )
    });
    assert_eq!(
        flat,
        oracle(&query),
        "RequestQuery::parse disagrees with the oracle"
    );

    let Ok(q) = parsed else { return };
    // A sid that needed no decoding is borrowed from the query.
    if let Some(sid) = &q.sid {
        if query
            .split('&')
            .any(|p| p.strip_prefix("sid=") == Some(&**sid))
            && !sid.contains(['%', '+'])
        {
            assert!(matches!(sid, Cow::Borrowed(_)), "sid {sid:?} was copied");
        }
    }
    // Written back out (with a cache buster and an unknown parameter), it parses the same.
    let mut parts = vec!["t=N8hyd6w".to_owned(), "x%3D=1".to_owned()];
    if let Some(v) = q.eio {
        parts.push(format!("EIO={}", v.as_str()));
    }
    if let Some(t) = q.transport {
        parts.push(format!("transport={}", t.as_str()));
    }
    if let Some(sid) = &q.sid {
        parts.push(format!("sid={}", form_encode(sid)));
    }
    if q.b64 {
        parts.push("b64=1".to_owned());
    }
    if let Some(j) = q.jsonp {
        parts.push(format!("j={j}"));
    }
    let again_query = parts.join("&");
    let again = RequestQuery::parse(&again_query);
    assert_eq!(
        again.as_ref(),
        Ok(&q),
        "{again_query:?} does not parse back"
    );
});
