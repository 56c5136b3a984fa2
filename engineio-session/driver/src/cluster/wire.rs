//! The messages nodes of a cluster send each other through Redis, and their binary form.
//!
//! Every message names its sender (a node) and a relay id the sender chose, so the pair is
//! unique in the cluster. Layout (integers big-endian):
//!
//! ```text
//! version 1 | kind u8 | id u64 | from: len u8, bytes | kind's fields
//! Request:  method: len u8 | target: len u16 | headers | body (the rest)
//! Reply:    status u16 | headers | body (the rest)
//! Data:     to the owner u8 (1 or 0) | bytes (the rest)
//! End:      to the owner u8 (1 or 0)
//! Broadcast: bytes (the rest)
//! Abort:    nothing
//! headers:  count u16, then each name: len u8, value: len u16
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

const VERSION: u8 = 1;

/// A relay message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// An HTTP request for a session the receiver owns (a polling GET or POST, or a
    /// WebSocket upgrade).
    Request {
        method: Method,
        /// Path and query.
        target: String,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The owner's answer to a `Request`.
    Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The client went away before the answer: the owner drops the request (as when a
    /// connection closes under a held GET).
    Abort,
    /// Bytes of a relayed WebSocket: from the relaying node to the owner (`to_owner`), or
    /// back.
    Data { to_owner: bool, bytes: Bytes },
    /// A relayed WebSocket's byte stream ended on the sender's side.
    End { to_owner: bool },
    /// An application's message to every node (`EngineIo::cluster_broadcast`).
    Broadcast(Bytes),
}

/// A message with its sender and relay id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) from: String,
    pub(crate) id: u64,
    pub(crate) message: Message,
}

/// Why bytes are not a relay message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed cluster message: {0}")]
pub(crate) struct Malformed(&'static str);

fn put_headers(out: &mut BytesMut, headers: &HeaderMap) {
    let n = headers.len().min(usize::from(u16::MAX));
    out.put_u16(n as u16);
    for (name, value) in headers.iter().take(n) {
        let name = name.as_str().as_bytes();
        let name = &name[..name.len().min(255)];
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        let value = value.as_bytes();
        let value = &value[..value.len().min(usize::from(u16::MAX))];
        out.put_u16(value.len() as u16);
        out.put_slice(value);
    }
}

impl Envelope {
    /// The binary form.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> Bytes {
        encode(&self.from, self.id, &self.message)
    }
    /// Reads a message; never panics.
    pub(crate) fn decode(bytes: Bytes) -> Result<Envelope, Malformed> {
        let mut r = Reader { bytes, at: 0 };
        if r.u8()? != VERSION {
            return Err(Malformed("unknown version"));
        }
        let kind = r.u8()?;
        let id = r.u64()?;
        let n = usize::from(r.u8()?);
        let from = std::str::from_utf8(r.take(n)?)
            .map_err(|_| Malformed("sender"))?
            .to_owned();
        let message = match kind {
            1 => {
                let n = usize::from(r.u8()?);
                let method = Method::from_bytes(r.take(n)?).map_err(|_| Malformed("method"))?;
                let n = usize::from(r.u16()?);
                let target = std::str::from_utf8(r.take(n)?)
                    .map_err(|_| Malformed("target"))?
                    .to_owned();
                let headers = r.headers()?;
                Message::Request {
                    method,
                    target,
                    headers,
                    body: r.rest(),
                }
            }
            2 => {
                let status = StatusCode::from_u16(r.u16()?).map_err(|_| Malformed("status"))?;
                let headers = r.headers()?;
                Message::Reply {
                    status,
                    headers,
                    body: r.rest(),
                }
            }
            3 => Message::Abort,
            4 => Message::Data {
                to_owner: r.flag()?,
                bytes: r.rest(),
            },
            5 => Message::End {
                to_owner: r.flag()?,
            },
            6 => Message::Broadcast(r.rest()),
            _ => return Err(Malformed("unknown kind")),
        };
        Ok(Envelope { from, id, message })
    }
}

/// The binary form of `message`, sent by node `from` under relay `id` (without building an
/// [`Envelope`]: no copy of the sender's name).
pub(crate) fn encode(from: &str, id: u64, message: &Message) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_u8(VERSION);
    out.put_u8(match message {
        Message::Request { .. } => 1,
        Message::Reply { .. } => 2,
        Message::Abort => 3,
        Message::Data { .. } => 4,
        Message::End { .. } => 5,
        Message::Broadcast(_) => 6,
    });
    out.put_u64(id);
    let from = &from.as_bytes()[..from.len().min(255)];
    out.put_u8(from.len() as u8);
    out.put_slice(from);
    match &message {
        Message::Request {
            method,
            target,
            headers,
            body,
        } => {
            let m = method.as_str().as_bytes();
            let m = &m[..m.len().min(255)];
            out.put_u8(m.len() as u8);
            out.put_slice(m);
            let t = &target.as_bytes()[..target.len().min(usize::from(u16::MAX))];
            out.put_u16(t.len() as u16);
            out.put_slice(t);
            put_headers(&mut out, headers);
            out.put_slice(body);
        }
        Message::Reply {
            status,
            headers,
            body,
        } => {
            out.put_u16(status.as_u16());
            put_headers(&mut out, headers);
            out.put_slice(body);
        }
        Message::Data { to_owner, bytes } => {
            out.put_u8(u8::from(*to_owner));
            out.put_slice(bytes);
        }
        Message::End { to_owner } => out.put_u8(u8::from(*to_owner)),
        Message::Broadcast(bytes) => out.put_slice(bytes),
        Message::Abort => {}
    }
    out.freeze()
}

struct Reader {
    bytes: Bytes,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        let end = self.at.checked_add(n).ok_or(Malformed("length"))?;
        let s = self.bytes.get(self.at..end).ok_or(Malformed("truncated"))?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed("flag")),
        }
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn headers(&mut self) -> Result<HeaderMap, Malformed> {
        let n = self.u16()?;
        let mut h = HeaderMap::with_capacity(usize::from(n).min(64));
        for _ in 0..n {
            let len = usize::from(self.u8()?);
            let name = HeaderName::from_bytes(self.take(len)?).map_err(|_| Malformed("header"))?;
            let len = usize::from(self.u16()?);
            let value =
                HeaderValue::from_bytes(self.take(len)?).map_err(|_| Malformed("header"))?;
            h.append(name, value);
        }
        Ok(h)
    }
    fn rest(&mut self) -> Bytes {
        let rest = self.bytes.slice(self.at.min(self.bytes.len())..);
        self.at = self.bytes.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: Message) {
        let e = Envelope {
            from: "n2".into(),
            id: 0x0102_0304_0506_0708,
            message,
        };
        let bytes = e.encode();
        assert_eq!(Envelope::decode(bytes.clone()), Ok(e));
        // Every strict prefix of a message with fixed fields is refused, never a panic.
        for n in 0..bytes.len() {
            let _ = Envelope::decode(bytes.slice(..n));
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_static("http://a.example"));
        headers.append("cookie", HeaderValue::from_static("a=1"));
        headers.append("cookie", HeaderValue::from_static("b=2"));
        round_trip(Message::Request {
            method: Method::POST,
            target: "/engine.io/?EIO=4&transport=polling&sid=n1-abc".into(),
            headers: headers.clone(),
            body: Bytes::from_static(b"4hello\x1e4world"),
        });
        round_trip(Message::Reply {
            status: StatusCode::SWITCHING_PROTOCOLS,
            headers,
            body: Bytes::new(),
        });
        round_trip(Message::Abort);
        for to_owner in [true, false] {
            round_trip(Message::Data {
                to_owner,
                bytes: Bytes::from(vec![0u8, 255, 1, 2]),
            });
            round_trip(Message::End { to_owner });
        }
        round_trip(Message::Broadcast(Bytes::from_static(b"{\"t\":\"chat\"}")));
    }

    #[test]
    fn garbage_is_refused() {
        for bytes in [
            &b""[..],
            b"\x02\x01",
            b"\x01\x09\0\0\0\0\0\0\0\x01\x02n2",
            b"\x01\x02\0\0\0\0\0\0\0\x01\x02n2\x00\x01",
            b"\x01\x01\0\0\0\0\0\0\0\x01\x00\x03G T",
        ] {
            assert!(
                Envelope::decode(Bytes::copy_from_slice(bytes)).is_err(),
                "{bytes:?}"
            );
        }
    }
}
