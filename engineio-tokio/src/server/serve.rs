//! A standalone HTTP/1.1 server for an [`EngineIo`].

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::{EngineIo, EngineIoService, RemoteAddr};

/// Serves `engine` on `listener` (HTTP/1.1 with upgrades), 404 for other paths, until
/// [`EngineIo::shutdown`] is called: it then stops accepting, and open connections stay up
/// until the sessions have ended (so polling clients can fetch their close packet), then
/// finish their current exchange.
pub async fn serve(listener: TcpListener, engine: EngineIo) -> std::io::Result<()> {
    serve_with(listener, engine.clone(), engine.service()).await
}

/// Like [`serve`], with another service behind the Engine.IO path (for example a page).
pub async fn serve_with<S, ResBody>(
    listener: TcpListener,
    engine: EngineIo,
    service: EngineIoService<S>,
) -> std::io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<crate::BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<crate::BoxError>,
{
    let mut stopping = engine.stopping();
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = service.clone();
        let svc = tower::ServiceExt::map_request(svc, move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(RemoteAddr(addr));
            req
        });
        let mut stop = engine.drained();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    Ok(())
}

/// Resolves once the server is stopping (without holding the watch's lock across awaits).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
