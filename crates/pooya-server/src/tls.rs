//! HTTPS with rustls (ring), and client certificates per role (mTLS): a role given a CA in
//! `[tls.client_ca]` is served only to clients whose certificate chains to that CA, on top of its
//! bearer key. The handshake asks every client for a certificate and accepts none or one that
//! chains to any configured CA; each request with a key is then checked against the CA of the
//! key's role.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::Router;
use pooya_issuer::domain::Role;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::error::ApiError;

/// `[tls]` of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// The server's certificate chain, PEM (`--tls-cert`). With `key_file`: HTTPS.
    pub cert_file: Option<PathBuf>,
    /// Its private key, PEM: PKCS#8, PKCS#1 or SEC1 (`--tls-key`).
    pub key_file: Option<PathBuf>,
    /// Role → the CA certificates (PEM) its clients' certificates must chain to.
    pub client_ca: BTreeMap<String, PathBuf>,
}

impl TlsSection {
    /// The roles named are roles.
    pub fn validate(&self) -> Result<(), String> {
        for role in self.client_ca.keys() {
            if Role::parse(role).is_none() {
                return Err(format!(
                    "tls.client_ca.{role}: no such role (admin, branch, atm, sms, switch)"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS: {0}")]
    Setting(String),
    #[error("TLS: cannot read {0}: {1}")]
    File(String, String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS: client certificate CA of role {0}: {1}")]
    ClientCa(String, String),
}

/// The certificates the client showed in the handshake (the leaf first), as a request extension.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Which roles need a client certificate, and from which CA.
#[derive(Default)]
pub struct ClientCerts {
    roles: HashMap<Role, Arc<dyn ClientCertVerifier>>,
}

impl ClientCerts {
    pub fn none() -> ClientCerts {
        ClientCerts::default()
    }

    pub fn required_for(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }

    /// A request with a key of `role`, on a connection that showed `certs`.
    pub fn check(&self, role: Role, certs: Option<&PeerCertificates>) -> Result<(), ApiError> {
        let Some(verifier) = self.roles.get(&role) else {
            return Ok(());
        };
        let refused = |message: &str| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "client_certificate_required",
                message.to_owned(),
            )
        };
        let Some((leaf, chain)) = certs.and_then(|c| c.0.split_first()) else {
            return Err(refused(
                "this key's role needs a client certificate (mTLS); none was shown",
            ));
        };
        verifier
            .verify_client_cert(leaf, chain, UnixTime::now())
            .map(|_| ())
            .map_err(|e| {
                tracing::info!(role = role.as_str(), error = %e, "client certificate refused for the key's role");
                refused("the client certificate is not one this key's role accepts")
            })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = |e: String| TlsError::File(path.display().to_string(), e);
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file(e.to_string()))?;
    if certs.is_empty() {
        return Err(file("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn roots(role: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in read_certs(path)? {
        store
            .add(c)
            .map_err(|e| TlsError::ClientCa(role.into(), e.to_string()))?;
    }
    Ok(store)
}

/// A loaded TLS setting: the acceptor for connections and the per-role certificate checks.
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub client_certs: ClientCerts,
}

impl Tls {
    pub fn load(section: &TlsSection, cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        section.validate().map_err(TlsError::Setting)?;
        let chain = read_certs(cert)?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| TlsError::File(key.display().to_string(), e.to_string()))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let mut client_certs = ClientCerts::none();
        let mut all = RootCertStore::empty();
        for (name, path) in &section.client_ca {
            let role = Role::parse(name).expect("validated");
            let store = roots(name, path)?;
            all.roots.extend(store.roots.iter().cloned());
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
                .build()
                .map_err(|e| TlsError::ClientCa(name.clone(), e.to_string()))?;
            client_certs.roles.insert(role, v);
        }
        let mut config = if all.is_empty() {
            builder.with_no_client_auth().with_single_cert(chain, key)?
        } else {
            // A certificate is optional at the handshake (the app and the roles without a CA
            // have none); one that is shown must chain to a configured CA, or the handshake fails.
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(all), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Setting(e.to_string()))?;
            builder
                .with_client_cert_verifier(v)
                .with_single_cert(chain, key)?
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_certs,
        })
    }
}

/// A client has this long to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and this long to send each request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish. Each request carries `ConnectInfo<SocketAddr>` and, when the client showed some,
/// [`PeerCertificates`].
pub async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let certs = stream.get_ref().1.peer_certificates().map(|c| {
                PeerCertificates(Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()))
            });
            let svc = app.map_request(move |mut req: axum::extract::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if let Some(c) = &certs {
                    req.extensions_mut().insert(c.clone());
                }
                req
            });
            // A client that sends its request head slowly is cut off (slowloris).
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Some(HEADER_READ_TIMEOUT))
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(svc),
                );
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
