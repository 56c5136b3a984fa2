//! Connections for the client: TCP from the runtime, TLS from rustls (feature `rustls`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use http::Uri;

use crate::Runtime;

/// Whether `uri` asks for TLS.
fn is_secure(uri: &Uri) -> bool {
    matches!(uri.scheme_str(), Some("https" | "wss"))
}

/// How the client does TLS: the webpki roots by default, or the application's rustls
/// configuration (its own roots, client certificates).
#[derive(Clone, Default)]
pub(crate) struct Tls {
    #[cfg(feature = "rustls")]
    pub(crate) config: Option<std::sync::Arc<futures_rustls::rustls::ClientConfig>>,
}

/// Any connection, boxed.
pub(crate) type BoxStream = Box<dyn DynStream>;

/// What a boxed connection can do.
pub(crate) trait DynStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> DynStream for T {}

/// A client connection: plain, or TLS over it.
pub(crate) enum Stream<S> {
    Plain(S),
    #[cfg(feature = "rustls")]
    Tls(Box<futures_rustls::client::TlsStream<S>>),
}

/// Connects to the host of `uri` (port from the URI, or 80/443 by scheme).
pub(crate) async fn connect<R: Runtime>(
    rt: &R,
    tls_config: &Tls,
    uri: &Uri,
) -> io::Result<Stream<R::TcpStream>> {
    let secure = is_secure(uri);
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL without a host"))?;
    // `[::1]` in a URL is the address `::1`.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = rt.connect(host, port).await?;
    if !secure {
        return Ok(Stream::Plain(tcp));
    }
    tls(tls_config, host, tcp).await
}

#[cfg(feature = "rustls")]
async fn tls<S>(tls: &Tls, host: &str, tcp: S) -> io::Result<Stream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_rustls::rustls;
    use std::sync::{Arc, OnceLock};

    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    let default = || {
        CONFIG
            .get_or_init(|| {
                // rustls 0.23.48 deprecates its ring provider (no post-quantum key exchange);
                // aws-lc-rs would bring a C library build. ring stays until rustls 0.24.
                #[allow(deprecated)]
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(Arc::new(config))
            })
            .clone()
            .map_err(io::Error::other)
    };
    let config = match &tls.config {
        Some(c) => c.clone(),
        None => default()?,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Stream::Tls(Box::new(stream)))
}

#[cfg(not(feature = "rustls"))]
async fn tls<S>(_tls: &Tls, _host: &str, _tcp: S) -> io::Result<Stream<S>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "https: and wss: URLs need the `rustls` feature",
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "rustls")]
            Stream::Tls(s) => Pin::new(s).poll_close(cx),
        }
    }
}
