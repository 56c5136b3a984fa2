//! The client over TLS (`https:` polling, `wss:` WebSocket, the upgrade) against our server
//! behind a TLS listener, with the application's roots (a self-signed certificate); the
//! default roots refuse that certificate.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use engineio_driver::proto::{Message, ProtocolVersion};
use engineio_driver::rustls;
use engineio_driver::session::ClientConfig;
use engineio_driver::{Client, ClientSocketEvent, EngineIo, Listener, ServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::harness::{serve_on, spawn_echo, timeout, TestRuntime};
use crate::loopback::client_config;

/// Accepts TLS over `L` (the handshake in `accept`: enough for a test).
struct TlsListener<L> {
    inner: L,
    acceptor: futures_rustls::TlsAcceptor,
}

impl<L: Listener> Listener for TlsListener<L> {
    type Stream = futures_rustls::server::TlsStream<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        loop {
            let (tcp, addr) = self.inner.accept().await?;
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return Ok((tls, addr));
            }
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Deprecated since rustls 0.23.48 (no post-quantum key exchange); the driver uses it too.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate for `localhost`, the server's configuration, and a client configuration
/// trusting it.
fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

pub async fn the_client_speaks_tls_with_the_applications_roots<R: TestRuntime>() {
    let (server_tls, client_tls) = configs();
    let (engine, connections) = EngineIo::<R>::new(ServerConfig::default());
    let (listener, addr) = R::bind().await;
    let listener = TlsListener {
        inner: listener,
        acceptor: futures_rustls::TlsAcceptor::from(server_tls),
    };
    serve_on(listener, engine);
    spawn_echo::<R>(connections);
    let rt = R::default();
    let url = format!("https://localhost:{}", addr.port());
    for mode in ["polling", "websocket", "upgrade"] {
        let config = client_config(&url, mode, ProtocolVersion::V4);
        let mut client = Client::connect_with_tls(rt.clone(), config, client_tls.clone())
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let sent: Vec<Message> = (0..20).map(|i| Message::from(format!("tls {i}"))).collect();
        for m in &sent {
            client.send(m.clone()).await.unwrap();
        }
        let mut got = Vec::new();
        let mut upgraded = false;
        while got.len() < sent.len() || (mode == "upgrade" && !upgraded) {
            match timeout::<R, _>(Duration::from_secs(5), client.recv()).await {
                Some(Some(ClientSocketEvent::Message(m))) => got.push(m),
                Some(Some(ClientSocketEvent::Upgraded(_))) => upgraded = true,
                Some(Some(ClientSocketEvent::Upgrading | ClientSocketEvent::Heartbeat)) => {}
                other => panic!("{mode}: {other:?} after {} messages", got.len()),
            }
        }
        assert_eq!(got, sent, "{mode}");
        client.close().await;
    }
    // The default (webpki) roots do not know the self-signed certificate.
    let refused = Client::<R>::connect(ClientConfig::new(url.parse().unwrap())).await;
    assert!(refused.is_err(), "connected with an unknown certificate");
}
