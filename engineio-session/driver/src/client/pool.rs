//! HTTP/1.1 requests for the client, over hyper's connection API and a small pool.
//!
//! An Engine.IO client talks to one origin with at most one GET and one POST at a time, so
//! the pool is a short list of idle connections to that origin.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;

use super::connect;
use crate::io::FuturesIo;
use crate::Runtime;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;

/// Why a request got no complete response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("http: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("response body: {0}")]
    Body(crate::BoxError),
}

type Sender = SendRequest<Full<Bytes>>;

/// A client for one origin.
pub(crate) struct Http<R> {
    rt: R,
    tls: connect::Tls,
    idle: Arc<Mutex<Idle>>,
}

/// The connections kept for reuse, until the session needs no more requests.
#[derive(Default)]
struct Idle {
    conns: Vec<Sender>,
    /// Set once the session has moved to a WebSocket: no connection is kept after that.
    retired: bool,
}

impl<R> Clone for Http<R>
where
    R: Clone,
{
    fn clone(&self) -> Self {
        Http {
            rt: self.rt.clone(),
            tls: self.tls.clone(),
            idle: self.idle.clone(),
        }
    }
}

impl<R: Runtime> Http<R> {
    pub(crate) fn new(rt: R, tls: connect::Tls) -> Self {
        Http {
            rt,
            tls,
            idle: Arc::default(),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        crate::lock(&self.idle)
    }

    fn take_idle(&self) -> Option<Sender> {
        let mut idle = self.idle();
        while let Some(s) = idle.conns.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, s: Sender) {
        let mut idle = self.idle();
        if !idle.retired && idle.conns.len() < MAX_IDLE && !s.is_closed() {
            idle.conns.push(s);
        }
    }

    /// Closes the idle connections, and every connection of a request still running once it
    /// is answered: after an upgrade the session sends no more HTTP requests, and an idle
    /// connection would hold a descriptor on both sides until the server's idle timeout.
    pub(crate) fn retire(&self) {
        let conns = {
            let mut idle = self.idle();
            idle.retired = true;
            std::mem::take(&mut idle.conns)
        };
        // Dropping a connection's only `SendRequest` ends its task, which closes it.
        drop(conns);
    }

    async fn open(&self, uri: &http::Uri) -> Result<Sender, HttpError> {
        let stream = connect::connect(&self.rt, &self.tls, uri).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(stream)).await?;
        self.rt.spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends `req` (an absolute URI) and reads the whole response, at most `limit` body
    /// bytes. A request that a reused connection could not send (closed by the server while
    /// idle) is retried once on a new connection.
    pub(crate) async fn request(
        &self,
        mut req: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<Response<Bytes>, HttpError> {
        let uri = req.uri().clone();
        if let Some(a) = uri.authority() {
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                req.headers_mut().entry(header::HOST).or_insert(v);
            }
        }
        // HTTP/1.1 origin-form on the wire.
        if let Some(pq) = uri.path_and_query() {
            if let Ok(origin) = http::Uri::try_from(pq.as_str()) {
                *req.uri_mut() = origin;
            }
        }
        let mut reused = self.take_idle();
        let (resp, sender) = loop {
            let (mut sender, fresh) = match reused.take() {
                Some(s) => (s, false),
                None => (self.open(&uri).await?, true),
            };
            if let Err(e) = sender.ready().await {
                if fresh {
                    return Err(e.into());
                }
                // The idle connection died: retry on a new one.
                tracing::trace!(error = %e, "pooled connection closed");
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => break (resp, sender),
                Err(mut e) => match e.take_message() {
                    Some(r) if !fresh => req = r,
                    _ => return Err(e.into_error().into()),
                },
            }
        };
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(HttpError::Body)?
            .to_bytes();
        self.put_idle(sender);
        Ok(Response::from_parts(parts, body))
    }
}
