//! The server's hooks: the reference's `connection_error` event, and its `headers` and
//! `initial_headers` events, which let the application edit a session's response headers.

use std::sync::Arc;

use engineio_session::proto::ErrorCode;
use engineio_session::ServerEvent;
use http::{HeaderMap, StatusCode};

use super::socket::RequestInfo;

/// A request refused with an Engine.IO error code: the reference's `connection_error`
/// (`req`, `code`, `message`, `context`), given to [`Builder::on_connection_error`].
///
/// [`Builder::on_connection_error`]: super::Builder::on_connection_error
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionError {
    /// The refused request (method, URI, headers, peer address).
    pub request: RequestInfo,
    /// The code sent (`0` unknown transport, `1` unknown session id, `2` bad handshake
    /// method, `3` bad request, `4` forbidden, `5` unsupported protocol version).
    pub code: ErrorCode,
    /// The code's message, as the reference words it ("Session ID unknown").
    pub message: &'static str,
    /// Why, in a word (the reference's context `name`, where it has one).
    pub context: &'static str,
}

/// What a response being written answers, for [`Builder::on_headers`].
///
/// [`Builder::on_headers`]: super::Builder::on_headers
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponseInfo<'a> {
    /// The request it answers.
    pub request: &'a RequestInfo,
    /// Whether it is the handshake's answer (the reference's `initial_headers`; every answer
    /// of a session is its `headers`).
    pub initial: bool,
    /// Its status (`200`, or `101` for a WebSocket).
    pub status: StatusCode,
}

type OnConnectionError = dyn Fn(ConnectionError) + Send + Sync;
type OnHeaders = dyn Fn(&ResponseInfo<'_>, &mut HeaderMap) + Send + Sync;
pub(crate) type GenerateId = dyn Fn(&RequestInfo) -> String + Send + Sync;

/// The hooks an application set on the [`Builder`](super::Builder).
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) connection_error: Option<Arc<OnConnectionError>>,
    pub(crate) headers: Option<Arc<OnHeaders>>,
    pub(crate) generate_id: Option<Arc<GenerateId>>,
}

impl Hooks {
    /// Whether any is set (otherwise a request costs nothing more).
    pub(crate) fn any(&self) -> bool {
        self.connection_error.is_some() || self.headers.is_some()
    }

    /// Reports the refusals among `events` (the server machine's, for one request).
    pub(crate) fn refused(&self, request: &RequestInfo, events: Vec<ServerEvent>) {
        let Some(f) = &self.connection_error else {
            return;
        };
        for event in events {
            if let ServerEvent::ConnectionError { code, context } = event {
                f(ConnectionError {
                    request: request.clone(),
                    code,
                    message: code.message(),
                    context,
                });
            }
        }
    }

    /// Lets the application edit the headers of a session's answer.
    pub(crate) fn answered(
        &self,
        request: &RequestInfo,
        initial: bool,
        response: &mut http::Response<bytes::Bytes>,
    ) {
        let Some(f) = &self.headers else { return };
        let status = response.status();
        if !(status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS) {
            return;
        }
        let info = ResponseInfo {
            request,
            initial,
            status,
        };
        f(&info, response.headers_mut());
    }
}
