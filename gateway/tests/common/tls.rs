//! A throwaway certificate authority made at test time (no key is ever committed): a server
//! certificate for 127.0.0.1 and localhost, and a client certificate for mutual TLS, as PEM files
//! in a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The PEM files of one test CA and the certificates it issued.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA's certificate, what clients (and the server, for client certificates) trust.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    /// A fresh CA named `name`, its server and client certificates.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let issue = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, common_name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.extended_key_usages = vec![usage];
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let server = issue(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "localhost",
        );
        let client = issue(
            vec!["client.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "test client",
        );

        let write = |file: &str, pem: &str| {
            let path = dir.path().join(file);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Self {
            ca: write("ca.pem", &ca_cert.pem()),
            server_cert: write("server.pem", &server.0),
            server_key: write("server.key", &server.1),
            client_cert: write("client.pem", &client.0),
            client_key: write("client.key", &client.1),
            dir,
        }
    }

    pub fn ca_pem(&self) -> String {
        read(&self.ca)
    }

    /// The client certificate followed by its key, as reqwest's `Identity::from_pem` takes it.
    pub fn client_identity_pem(&self) -> String {
        format!("{}{}", read(&self.client_cert), read(&self.client_key))
    }

    /// `--tls-cert <server.pem> --tls-key <server.key>`.
    pub fn server_flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.server_cert.display().to_string(),
            "--tls-key".into(),
            self.server_key.display().to_string(),
        ]
    }

    /// A tonic client TLS setting trusting this CA, with the client certificate when `identity`.
    pub fn grpc(&self, identity: bool) -> tonic::transport::ClientTlsConfig {
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(self.ca_pem()));
        if identity {
            config = config.identity(tonic::transport::Identity::from_pem(
                read(&self.client_cert),
                read(&self.client_key),
            ));
        }
        config
    }

    /// An HTTPS client (sending the development key) trusting only this CA, with the client
    /// certificate when `identity`.
    pub fn https(&self, identity: bool) -> reqwest::ClientBuilder {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-api-key", super::DEV_KEY.parse().unwrap());
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(std::time::Duration::from_secs(30))
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem().as_bytes()).unwrap(),
            );
        if identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(self.client_identity_pem().as_bytes()).unwrap(),
            );
        }
        builder
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
