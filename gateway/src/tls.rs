//! TLS on the one listener: certificates read from PEM files, rustls with the ring provider (as
//! every other TLS in the tree), ALPN for both HTTP/2 (gRPC) and HTTP/1.1 (REST, SSE, gRPC-web),
//! and optionally client certificates required and verified against a CA (mutual TLS).
//!
//! The handshake happens here, not in the HTTP server: each accepted socket gets a task of its
//! own with a deadline, so a client that stalls or fails its handshake never holds up the accept
//! loop or anyone else's connection.

use std::{
    io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
        server::WebPkiClientVerifier,
    },
    server::TlsStream,
};

/// How long a client has to complete its handshake before its connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is wrong with the TLS files. Each message is whole (the cause is in it, not chained), as
/// it is shown once at start.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("{}: not PEM, or a damaged PEM section: {error}", path.display())]
    Pem {
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("{}: no CERTIFICATE in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no private key in it (PKCS#8, PKCS#1 or SEC1 PEM)", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: not a usable certificate authority: {error}", path.display())]
    BadAuthority { path: PathBuf, error: rustls::Error },
    #[error("the client certificate authority: {0}")]
    ClientVerifier(rustls::server::VerifierBuilderError),
    #[error("the private key does not belong to the certificate (the first in the chain)")]
    KeyMismatch,
    /// The certificate or key is of a kind rustls cannot use.
    #[error("the certificate and key: {0}")]
    CertifiedKey(rustls::Error),
}

/// The listener's TLS settings, read and checked once at start.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    mutual: bool,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// The certificate chain in `cert` (leaf first), its private key in `key`, and, for mutual
    /// TLS, the CA certificates in `client_ca` that every client certificate must chain to.
    pub fn from_pem_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, TlsError> {
        let chain = read_certificates(cert)?;
        let key = read_private_key(key)?;
        let roots = client_ca.map(read_roots).transpose()?;
        Self::new(chain, key, roots)
    }

    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_roots: Option<RootCertStore>,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::CertifiedKey)?;
        let mutual = client_roots.is_some();
        let builder = match client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(TlsError::ClientVerifier)?,
            ),
        };
        let mut server = builder
            .with_single_cert(chain, key)
            .map_err(|error| match error {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    TlsError::KeyMismatch
                }
                error => TlsError::CertifiedKey(error),
            })?;
        // gRPC needs HTTP/2; REST, SSE and gRPC-web clients may speak HTTP/1.1 on the same port.
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            server: Arc::new(server),
            mutual,
        })
    }

    /// Whether clients must present a certificate.
    pub fn mutual(&self) -> bool {
        self.mutual
    }
}

/// Every certificate in the PEM file at `path`, in order.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: path.to_owned(),
            error,
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The first private key in the PEM file at `path`.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        error => TlsError::Pem {
            path: path.to_owned(),
            error,
        },
    })
}

/// The certificate authorities in the PEM file at `path`.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(path)? {
        roots
            .add(certificate)
            .map_err(|error| TlsError::BadAuthority {
                path: path.to_owned(),
                error,
            })?;
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_owned(),
        error,
    })
}

/// The server's socket: plain TCP, or TCP with TLS on every connection.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsConfig>,
}

impl Listener {
    pub fn new(tcp: TcpListener, tls: Option<TlsConfig>) -> Self {
        Self { tcp, tls }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// `http://ip:port` or `https://ip:port`.
    pub fn url(&self) -> io::Result<String> {
        Ok(format!("{}://{}", self.scheme(), self.local_addr()?))
    }

    pub(crate) fn into_parts(self) -> (TcpListener, Option<TlsConfig>) {
        (self.tcp, self.tls)
    }
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Self {
        Self::new(tcp, None)
    }
}

/// Accepts on `tcp` and yields each connection once its handshake is done; connections whose
/// handshake fails or times out are dropped (logged at debug: port scanners and plain-HTTP
/// clients are not the server's problem). Dropping the stream stops accepting and closes the
/// socket.
pub(crate) fn incoming(tcp: TcpListener, tls: &TlsConfig) -> TlsIncoming {
    let acceptor = TlsAcceptor::from(tls.server.clone());
    // Handshakes finish in any order; a bounded queue makes them wait for the server to take
    // them rather than pile up.
    let (ready, connections) = mpsc::channel(64);
    let accept = tokio::spawn(async move {
        loop {
            let socket = match tcp.accept().await {
                Ok((socket, _)) => socket,
                Err(error) => {
                    accept_error(error).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let (acceptor, ready) = (acceptor.clone(), ready.clone());
            tokio::spawn(async move {
                let peer = socket.peer_addr().ok();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => {
                        let _ = ready.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(?peer, %error, "TLS handshake failed");
                    }
                    Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
                }
            });
        }
    });
    TlsIncoming {
        connections,
        accept,
    }
}

/// A failed `accept(2)`: the connection it was for is gone (nothing to do), or the process is
/// out of file descriptors or memory, when trying again at once would spin; wait a little.
pub(crate) async fn accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Connections whose TLS handshake is done, for the HTTP server.
pub(crate) struct TlsIncoming {
    connections: mpsc::Receiver<io::Result<TlsStream<TcpStream>>>,
    accept: JoinHandle<()>,
}

impl futures_util::Stream for TlsIncoming {
    type Item = io::Result<TlsStream<TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.connections.poll_recv(cx)
    }
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        // Closes the listening socket; handshakes in flight end when they find no receiver.
        self.accept.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for localhost and its key, as PEM files in `dir`.
    fn issue(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, issued.cert.pem()).unwrap();
        std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn a_certificate_and_its_key_serve_h2_and_http1_with_client_certificates_optional() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue(dir.path(), "server");
        let plain = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
        assert_eq!(
            plain.server.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(!plain.mutual());
        let mutual = TlsConfig::from_pem_files(&cert, &key, Some(&cert)).unwrap();
        assert!(mutual.mutual());
    }

    #[test]
    fn each_bad_file_is_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue(dir.path(), "server");
        let (_, other_key) = issue(dir.path(), "other");
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            TlsConfig::from_pem_files(&missing, &key, None),
            Err(TlsError::Read { path, .. }) if path == missing
        ));
        assert!(matches!(
            TlsConfig::from_pem_files(&key, &key, None),
            Err(TlsError::NoCertificate { path }) if path == key
        ));
        assert!(matches!(
            TlsConfig::from_pem_files(&cert, &cert, None),
            Err(TlsError::NoKey { path }) if path == cert
        ));
        assert!(matches!(
            TlsConfig::from_pem_files(&cert, &other_key, None),
            Err(TlsError::KeyMismatch)
        ));
        assert!(matches!(
            TlsConfig::from_pem_files(&cert, &key, Some(&key)),
            Err(TlsError::NoCertificate { path }) if path == key
        ));
        let torn = dir.path().join("torn.pem");
        std::fs::write(&torn, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        assert!(matches!(
            read_certificates(&torn),
            Err(TlsError::Pem { path, .. }) if path == torn
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handshake_that_stalls_is_dropped_at_its_deadline() {
        use tokio::io::AsyncReadExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue(dir.path(), "server");
        let tls = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let mut incoming = incoming(tcp, &tls);
        let started = tokio::time::Instant::now();
        let mut stalled = TcpStream::connect(address).await.unwrap();
        // Sends nothing; the server closes the connection when the deadline passes.
        let read = stalled.read(&mut [0u8; 1]).await;
        assert!(matches!(read, Ok(0)), "{read:?}");
        assert!(started.elapsed() >= HANDSHAKE_TIMEOUT);
        assert!(incoming.connections.try_recv().is_err(), "never handed on");
    }

    #[tokio::test]
    async fn a_listener_names_its_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue(dir.path(), "server");
        let bind = || TcpListener::bind("127.0.0.1:0");
        let plain = Listener::from(bind().await.unwrap());
        assert!(plain.url().unwrap().starts_with("http://127.0.0.1:"));
        let tls = TlsConfig::from_pem_files(&cert, &key, None).unwrap();
        let secure = Listener::new(bind().await.unwrap(), Some(tls));
        assert_eq!(secure.scheme(), "https");
        assert!(secure.url().unwrap().starts_with("https://127.0.0.1:"));
    }
}
