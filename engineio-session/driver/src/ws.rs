//! WebSocket glue: frames to tungstenite messages and back, the server-side handshake.

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{self, Message};
use bytes::Bytes;
use engineio_session::proto::{Frame, Str};
use engineio_session::DeflateConfig;

use crate::deflate::negotiate::{self, Agreed};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};

/// What the WebSocket layer delivers, in the machines' terms.
pub(crate) enum Incoming {
    Frame(Frame),
    /// Control frames tungstenite answers itself.
    Ignore,
    Closed,
}

pub(crate) fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Binary(b) => Message::Binary(b),
        // Our frames are valid UTF-8 by construction; `Utf8Bytes` checks again.
        Frame::Text(s) => match tungstenite::Utf8Bytes::try_from(s.into_bytes()) {
            Ok(t) => Message::Text(t),
            Err(_) => Message::Text(tungstenite::Utf8Bytes::from_static("")),
        },
    }
}

pub(crate) fn from_message(m: Message) -> Incoming {
    match m {
        Message::Text(t) => match Str::try_from(Bytes::from(t)) {
            Ok(s) => Incoming::Frame(Frame::Text(s)),
            Err(_) => Incoming::Closed,
        },
        Message::Binary(b) => Incoming::Frame(Frame::Binary(b)),
        Message::Close(_) => Incoming::Closed,
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Incoming::Ignore,
    }
}

/// The message size limit: the server's `maxPayload` plus the packet type, instead of
/// tungstenite's 64 MiB default.
pub(crate) fn config(max_payload: usize) -> WebSocketConfig {
    let limit = max_payload.saturating_add(1);
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(READ_BUFFER)
}

/// tungstenite's read buffer: allocated per WebSocket and zero-filled up to this size before
/// every read, so its default (128 KiB) costs an idle session 128 KiB and every message a
/// 128 KiB memset. Larger messages still grow it to their size. It is also the most
/// tungstenite reads per call: 1,024 would save an idle session 3 KB but cost 16 KiB messages
/// a quarter more CPU (user 26-29 -> 29-37 us, system 19-22 -> 26-34 us per echo, measured with
/// the benchmark's `ws-16k`), so 4,096 it stays.
const READ_BUFFER: usize = 4096;

/// Where an accepted WebSocket's byte stream comes from.
pub(crate) enum UpgradeSource {
    /// hyper's connection, once the `101` is written.
    Hyper(hyper::upgrade::OnUpgrade),
    /// A WebSocket another node of the cluster relays.
    #[cfg(feature = "cluster")]
    Relay(crate::cluster::RelayIo),
}

/// The parts of an upgrade request the `101` needs, checked as RFC 6455 asks.
pub(crate) struct Upgrade {
    pub(crate) key: HeaderValue,
    pub(crate) source: UpgradeSource,
    /// permessage-deflate, if offered and agreed: what, and the `101`'s answer.
    pub(crate) deflate: Option<Box<(DeflateConfig, Agreed, HeaderValue)>>,
}

impl Upgrade {
    /// Takes the upgrade out of a request, or the `400` refusing it (RFC 6455 section 4.2.1:
    /// version 13, and a `Sec-WebSocket-Key` that is the base64 of 16 bytes).
    pub(crate) fn take<B>(
        req: &mut Request<B>,
        deflate: Option<&DeflateConfig>,
    ) -> Result<Upgrade, Response<Bytes>> {
        let h = req.headers();
        let version = h.get(header::SEC_WEBSOCKET_VERSION);
        if version.is_none_or(|v| v.as_bytes() != b"13") {
            // Section 4.4: say which version we speak.
            let mut r = refuse("Unsupported WebSocket version");
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Err(r);
        }
        match h.get(header::SEC_WEBSOCKET_KEY) {
            Some(key) if is_valid_key(key.as_bytes()) => {
                let key = key.clone();
                let deflate = deflate.and_then(|config| {
                    let (agreed, answer) = negotiate::accept(config, h)?;
                    Some(Box::new((*config, agreed, answer)))
                });
                #[cfg(feature = "cluster")]
                let relayed = req
                    .extensions_mut()
                    .remove::<crate::cluster::RelayedUpgrade>()
                    .and_then(|r| r.take());
                #[cfg(feature = "cluster")]
                if let Some(io) = relayed {
                    return Ok(Upgrade {
                        key,
                        source: UpgradeSource::Relay(io),
                        deflate,
                    });
                }
                Ok(Upgrade {
                    key,
                    source: UpgradeSource::Hyper(hyper::upgrade::on(req)),
                    deflate,
                })
            }
            _ => Err(refuse("Missing or invalid Sec-WebSocket-Key header")),
        }
    }

    /// The `101 Switching Protocols` response, with the session's extra headers.
    pub(crate) fn accept_response(&self, extra: HeaderMap) -> Response<Bytes> {
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        *h = extra;
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(d) = &self.deflate {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, d.2.clone());
        }
        r
    }
}

fn refuse(why: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(why.as_bytes()));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Whether a `Sec-WebSocket-Key` is the base64 of 16 bytes: 22 base64 characters and `==`
/// (the check of the `ws` package under the reference server).
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::is_valid_key;

    #[test]
    fn keys_must_be_the_base64_of_16_bytes() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAA+/=="));
        for bad in [
            &b"not-a-valid-key"[..],
            b"",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZQ===",
            b"dGhlIHNhbXBsZSBub25jZQ-=",
            b"dGhlIHNhbXBsZSBub25jZQ==\n",
            b"dGhlIHNhbXBsZSBub25jZ-==",
        ] {
            assert!(!is_valid_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
