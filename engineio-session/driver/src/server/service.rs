//! The tower/hyper service and the tower layer (for axum).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower::ServiceExt;

use super::{EngineIo, Handled};
use crate::Runtime;

/// Answers the Engine.IO path; passes other requests to `S`.
#[derive(Debug)]
pub struct EngineIoService<S, R> {
    engine: EngineIo<R>,
    inner: S,
}

impl<S: Clone, R> Clone for EngineIoService<S, R> {
    fn clone(&self) -> Self {
        EngineIoService {
            engine: self.engine.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S, R> EngineIoService<S, R> {
    /// Engine.IO in front of `inner`.
    pub fn new(engine: EngineIo<R>, inner: S) -> Self {
        EngineIoService { engine, inner }
    }
}

impl<S, R, B, ResBody> tower::Service<Request<B>> for EngineIoService<S, R>
where
    R: Runtime,
    S: tower::Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is driven to readiness in `call` (clone-and-oneshot).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let engine = self.engine.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            match engine.handle(req).await {
                Handled::Response(r) => Ok(r.map(|b| Either::Left(Full::new(b)))),
                Handled::Pass(req) => Ok(inner.oneshot(req).await?.map(Either::Right)),
            }
        })
    }
}

/// A tower layer mounting Engine.IO in front of a service, such as an axum `Router`:
/// `Router::new().route(..).layer(engine.layer())`.
#[derive(Debug)]
pub struct EngineIoLayer<R> {
    engine: EngineIo<R>,
}

impl<R> Clone for EngineIoLayer<R> {
    fn clone(&self) -> Self {
        EngineIoLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<R> EngineIoLayer<R> {
    /// The layer for `engine`.
    pub fn new(engine: EngineIo<R>) -> Self {
        EngineIoLayer { engine }
    }
}

impl<S, R> tower::Layer<S> for EngineIoLayer<R> {
    type Service = EngineIoService<S, R>;
    fn layer(&self, inner: S) -> Self::Service {
        EngineIoService::new(self.engine.clone(), inner)
    }
}

/// Answers 404 to everything (the fallback of a standalone server).
#[derive(Clone, Copy, Debug, Default)]
pub struct NotFound;

impl<B> tower::Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let mut r = Response::new(Full::new(Bytes::from_static(b"Not Found")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(r))
    }
}
