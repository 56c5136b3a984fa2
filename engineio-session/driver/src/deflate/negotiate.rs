//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate (RFC 7692 section 7.1),
//! for both roles. Our compressor uses any window from 2^9 to 2^15 bytes (zlib cannot
//! deflate with 2^8: an offer asking the server for 8 bits is declined), and our decompressor
//! takes any window, so our client never offers `client_max_window_bits`.

use engineio_session::DeflateConfig;
use http::{header, HeaderMap, HeaderValue};

const NAME: &str = "permessage-deflate";

/// What both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server compresses every message on its own.
    pub(crate) server_no_context_takeover: bool,
    /// The client compresses every message on its own.
    pub(crate) client_no_context_takeover: bool,
    /// The server's compression window: 2^this bytes.
    pub(crate) server_window_bits: u8,
}

impl Default for Agreed {
    fn default() -> Self {
        Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_window_bits: 15,
        }
    }
}

/// Why a server's answer to our offer cannot be used (the client fails the connection, as
/// RFC 7692 asks).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid permessage-deflate response: {0}")]
pub(crate) struct BadResponse(&'static str);

/// One `name; param; param=value` element of an extension list.
struct Extension<'a> {
    name: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits every `Sec-WebSocket-Extensions` value of `headers` into extensions, in order.
/// `None` for a malformed header (its extensions are all ignored, as `ws` does).
fn extensions(headers: &HeaderMap) -> Option<Vec<Extension<'_>>> {
    let mut out = Vec::new();
    for value in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let value = value.to_str().ok()?;
        for ext in value.split(',') {
            if ext.trim().is_empty() {
                continue;
            }
            let mut parts = ext.split(';').map(str::trim);
            let name = parts.next().filter(|n| is_token(n))?;
            let mut params = Vec::new();
            for p in parts {
                let (k, v) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
                    None => (p, None),
                };
                if !is_token(k) {
                    return None;
                }
                params.push((k, v));
            }
            out.push(Extension { name, params });
        }
    }
    Some(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A token, or a quoted string holding a token (RFC 6455 section 9.1).
fn unquote(v: &str) -> Option<&str> {
    let v = match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => v,
    };
    is_token(v).then_some(v)
}

/// A window size parameter's value: 8 to 15.
fn window_bits(v: &str) -> Option<u8> {
    let bits: u8 = v.parse().ok()?;
    (8..=15).contains(&bits).then_some(bits)
}

/// The server's choice among a client's offers: the first one it can honour, and the
/// response header accepting it. `None` when there is no acceptable offer (the WebSocket then
/// runs uncompressed).
pub(crate) fn accept(config: &DeflateConfig, request: &HeaderMap) -> Option<(Agreed, HeaderValue)> {
    'offers: for offer in extensions(request)? {
        if offer.name != NAME {
            continue;
        }
        let own_bits = config.server_max_window_bits.clamp(9, 15);
        let mut agreed = Agreed {
            server_no_context_takeover: config.server_no_context_takeover,
            client_no_context_takeover: config.client_no_context_takeover,
            server_window_bits: own_bits,
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut server_window = false;
        for (k, v) in offer.params {
            if seen.contains(&k) {
                continue 'offers;
            }
            seen.push(k);
            match (k, v) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                // 9 to 15 honoured (and answered); zlib cannot deflate with 8.
                ("server_max_window_bits", Some(v)) => match window_bits(v) {
                    Some(bits) if bits >= 9 => {
                        server_window = true;
                        agreed.server_window_bits = own_bits.min(bits);
                    }
                    _ => continue 'offers,
                },
                // The client's own window: we inflate any, nothing to answer.
                ("client_max_window_bits", None) => {}
                ("client_max_window_bits", Some(v)) if window_bits(v).is_some() => {}
                _ => continue 'offers,
            }
        }
        let mut response = String::from(NAME);
        if agreed.server_no_context_takeover {
            response.push_str("; server_no_context_takeover");
        }
        if agreed.client_no_context_takeover {
            response.push_str("; client_no_context_takeover");
        }
        if server_window {
            response.push_str(&format!(
                "; server_max_window_bits={}",
                agreed.server_window_bits
            ));
        }
        return HeaderValue::from_str(&response)
            .ok()
            .map(|value| (agreed, value));
    }
    None
}

/// The client's offer.
pub(crate) fn offer(config: &DeflateConfig) -> HeaderValue {
    let mut offer = String::from(NAME);
    if config.server_no_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    if config.server_max_window_bits < 15 {
        let bits = config.server_max_window_bits.clamp(8, 15);
        offer.push_str(&format!("; server_max_window_bits={bits}"));
    }
    HeaderValue::from_str(&offer).unwrap_or(HeaderValue::from_static(NAME))
}

/// What the server's `101` agreed to, for a client that sent [`offer`]: `None` if the server
/// declined (no extension), an error for an answer RFC 7692 says to fail on.
pub(crate) fn agreed(
    config: &DeflateConfig,
    response: &HeaderMap,
) -> Result<Option<Agreed>, BadResponse> {
    let list = extensions(response).ok_or(BadResponse("malformed header"))?;
    let mut agreed = None;
    for ext in list {
        if ext.name != NAME {
            return Err(BadResponse("an extension that was not offered"));
        }
        if agreed.is_some() {
            return Err(BadResponse("permessage-deflate twice"));
        }
        let mut a = Agreed::default();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in ext.params {
            if seen.contains(&k) {
                return Err(BadResponse("a parameter twice"));
            }
            seen.push(k);
            match (k, v) {
                ("server_no_context_takeover", None) => a.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => a.client_no_context_takeover = true,
                // The server's window: we inflate any.
                ("server_max_window_bits", Some(v)) => match window_bits(v) {
                    Some(bits) => a.server_window_bits = bits,
                    None => return Err(BadResponse("an invalid server_max_window_bits")),
                },
                // Never offered: a server may not send it.
                ("client_max_window_bits", _) => {
                    return Err(BadResponse("client_max_window_bits was not offered"))
                }
                _ => return Err(BadResponse("an unknown or invalid parameter")),
            }
        }
        if config.server_no_context_takeover && !a.server_no_context_takeover {
            return Err(BadResponse("server_no_context_takeover was asked for"));
        }
        // Asked for by us: we keep to it whatever the answer says.
        a.client_no_context_takeover |= config.client_no_context_takeover;
        agreed = Some(a);
    }
    Ok(agreed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn server(config: DeflateConfig, offers: &[&str]) -> Option<(Agreed, String)> {
        accept(&config, &headers(offers)).map(|(a, v)| (a, v.to_str().unwrap().to_owned()))
    }

    #[test]
    fn the_server_accepts_what_browsers_and_ws_offer() {
        // Chromium and the `ws` package.
        let (a, v) = server(
            DeflateConfig::default(),
            &["permessage-deflate; client_max_window_bits"],
        )
        .unwrap();
        assert_eq!(v, "permessage-deflate");
        assert_eq!(a, Agreed::default());
        // Firefox-like offers with a quoted value, and several offers in two headers.
        let (_, v) = server(
            DeflateConfig::default(),
            &[
                "x-webkit-deflate-frame",
                "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=\"15\"; client_no_context_takeover",
            ],
        )
        .unwrap();
        assert_eq!(
            v,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=15"
        );
    }

    #[test]
    fn the_server_answers_its_own_context_settings() {
        let config = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let (a, v) = server(config, &["permessage-deflate"]).unwrap();
        assert_eq!(
            v,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert!(a.server_no_context_takeover && a.client_no_context_takeover);
        // A client asking the server not to keep its context is granted it.
        let (a, _) = server(
            DeflateConfig::default(),
            &["permessage-deflate; server_no_context_takeover"],
        )
        .unwrap();
        assert!(a.server_no_context_takeover && !a.client_no_context_takeover);
    }

    #[test]
    fn the_server_honours_smaller_windows() {
        // Asked by the client: answered, and used.
        let (a, v) = server(
            DeflateConfig::default(),
            &["permessage-deflate; server_max_window_bits=10"],
        )
        .unwrap();
        assert_eq!(v, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(a.server_window_bits, 10);
        // Its own setting: used without being announced, or the smaller of both.
        let config = DeflateConfig {
            server_max_window_bits: 11,
            ..DeflateConfig::default()
        };
        let (a, v) = server(config, &["permessage-deflate"]).unwrap();
        assert_eq!(
            (a.server_window_bits, v.as_str()),
            (11, "permessage-deflate")
        );
        let (a, v) = server(config, &["permessage-deflate; server_max_window_bits=13"]).unwrap();
        assert_eq!(a.server_window_bits, 11);
        assert_eq!(v, "permessage-deflate; server_max_window_bits=11");
        let (a, _) = server(config, &["permessage-deflate; server_max_window_bits=9"]).unwrap();
        assert_eq!(a.server_window_bits, 9);
    }

    #[test]
    fn the_server_declines_what_it_cannot_honour() {
        for offer in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; unknown_param",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; =x",
            "x-other",
            "",
            "permessage-deflate; server_max_window_bits=\"15",
        ] {
            assert_eq!(server(DeflateConfig::default(), &[offer]), None, "{offer}");
        }
        assert_eq!(server(DeflateConfig::default(), &[]), None);
    }

    #[test]
    fn the_client_offers_and_checks_the_answer() {
        let config = DeflateConfig::default();
        assert_eq!(offer(&config), "permessage-deflate");
        let strict = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..config
        };
        assert_eq!(
            offer(&strict),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        let got = |c: &DeflateConfig, v: &[&str]| agreed(c, &headers(v));
        assert_eq!(got(&config, &[]), Ok(None));
        assert_eq!(
            got(&config, &["permessage-deflate"]),
            Ok(Some(Agreed::default()))
        );
        assert_eq!(
            got(
                &config,
                &["permessage-deflate; server_max_window_bits=10; client_no_context_takeover"]
            ),
            Ok(Some(Agreed {
                server_no_context_takeover: false,
                client_no_context_takeover: true,
                server_window_bits: 10,
            }))
        );
        // Our own client_no_context_takeover holds whatever the server says.
        assert_eq!(
            got(&strict, &["permessage-deflate; server_no_context_takeover"]),
            Ok(Some(Agreed {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_window_bits: 15,
            }))
        );
        // A smaller server window is offered when configured.
        let small = DeflateConfig {
            server_max_window_bits: 10,
            ..config
        };
        assert_eq!(
            offer(&small),
            "permessage-deflate; server_max_window_bits=10"
        );
        for bad in [
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=20",
            "permessage-deflate; what",
            "permessage-deflate, permessage-deflate",
            "x-other",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ] {
            assert!(got(&config, &[bad]).is_err(), "{bad}");
        }
        // Asked the server not to keep its context: an answer without it fails.
        assert!(got(&strict, &["permessage-deflate"]).is_err());
    }
}
