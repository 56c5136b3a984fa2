//! A standalone HTTP/1.1 server for an [`EngineIo`].

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::{Request, Response};
use hyper::body::Incoming;

use super::{EngineIo, EngineIoService, RemoteAddr};
use crate::io::FuturesIo;
use crate::runtime::{timeout_at, HyperTimer, Listener, Runtime};

/// How long a connection may take to finish its exchange once the server has drained.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

/// Serves `engine` on `listener` (HTTP/1.1 with upgrades), 404 for other paths, until
/// [`EngineIo::shutdown`] has ended every session. While the sessions drain, connections are
/// still accepted: a polling client fetches its close packet with a GET that a load balancer
/// may send on a new connection, and a new handshake gets 503 (which a balancer retries on
/// another node). Once the sessions have ended, the listener is closed (new connections are
/// refused) and open connections finish their current exchange. Returns once every
/// connection has closed.
pub async fn serve<R: Runtime, L: Listener>(
    listener: L,
    engine: EngineIo<R>,
) -> std::io::Result<()> {
    serve_with(listener, engine.clone(), engine.service()).await
}

/// Like [`serve`], with another service behind the Engine.IO path (for example a page).
pub async fn serve_with<R, L, S, ResBody>(
    mut listener: L,
    engine: EngineIo<R>,
    service: EngineIoService<S, R>,
) -> std::io::Result<()>
where
    R: Runtime,
    L: Listener,
    S: tower::Service<Request<Incoming>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<crate::BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<crate::BoxError>,
{
    let rt = engine.shared.clock.runtime().clone();
    let mut drained = engine.drained();
    let header_read_timeout = engine.shared.header_read_timeout;
    // Every connection task holds a sender: the channel closes when the last one ends.
    let (live, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stop = std::pin::pin!(stopped(&mut drained));
            match select(accept, stop).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => break,
            }
        };
        let (stream, addr) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                rt.sleep_until(rt.now() + Duration::from_millis(50)).await;
                continue;
            }
        };
        let svc = service.clone();
        let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(RemoteAddr(addr));
            tower::ServiceExt::oneshot(svc.clone(), req)
        });
        let mut stop = engine.drained();
        let conn_rt = rt.clone();
        let live = live.clone();
        rt.spawn(async move {
            let _live = live;
            // Connections that take too long to send their request headers are closed
            // (slowloris).
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer(conn_rt.clone()))
                .header_read_timeout(header_read_timeout)
                .serve_connection(FuturesIo::new(stream), hyper_svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let drained = std::pin::pin!(stopped(&mut stop));
            if let Either::Right(_) = select(conn.as_mut(), drained).await {
                conn.as_mut().graceful_shutdown();
                timeout_at(&conn_rt, conn_rt.now() + CONNECTION_GRACE, conn).await;
            }
        });
    }
    // Refuse new connections from now on: a balancer tries another node at once.
    drop(listener);
    drop(live);
    // Connections end once the sessions have drained (and have then finished their current
    // exchange): a process may exit after this without cutting off a close packet.
    let _ = all_closed.recv().await;
    Ok(())
}

/// Resolves once the server is stopping (without holding the watch's lock across awaits).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
