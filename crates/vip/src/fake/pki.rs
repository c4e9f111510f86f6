//! Throwaway certificates for the mutual-TLS fake, made with rcgen.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

use crate::TlsPem;

/// A test CA, a server certificate for `127.0.0.1`/`localhost` and a client
/// certificate, all PEM. ECDSA P-256 keys; generated in a few milliseconds.
///
/// Two `TestPki`s share nothing: a client of one is refused by a fake built
/// on the other.
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate (trust anchor for both sides).
    pub ca_cert_pem: String,
    /// The server's certificate.
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8).
    pub server_key_pem: String,
    /// The client's certificate.
    pub client_cert_pem: String,
    /// The client's private key (PKCS#8).
    pub client_key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// Generates a fresh CA, server and client certificate. Panics if rcgen
    /// fails (a test set-up failure).
    pub fn generate() -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        // A distinct name per CA: with equal names a verifier would try the
        // wrong CA and report a bad signature instead of an unknown issuer.
        let mut tag = [0u8; 6];
        getrandom::fill(&mut tag).expect("random CA name");
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("Gatehouse VIP fake test CA {tag}"),
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("leaf key");
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "Gatehouse VIP fake",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert_pem, client_key_pem) = leaf(
            vec![],
            "Gatehouse VIP test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        TestPki {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        }
    }

    /// What a client needs: its certificate and key, and the CA to trust.
    pub fn client_tls(&self) -> TlsPem {
        TlsPem {
            client_cert: Some(self.client_cert_pem.clone().into_bytes()),
            client_key: Some(self.client_key_pem.clone().into_bytes()),
            ca_bundle: Some(self.ca_cert_pem.clone().into_bytes()),
        }
    }

    /// A rustls server configuration that requires a client certificate
    /// issued by this CA. The provider is named explicitly (aws-lc-rs, the
    /// workspace's one TLS backend) so that no process default is needed.
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_cert_pem.as_bytes()).expect("CA PEM"))
            .expect("CA certificate");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .expect("client verifier");
        let chain = vec![
            CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).expect("server PEM"),
        ];
        let key =
            PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("server key PEM");
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .expect("server certificate and key");
        Arc::new(config)
    }
}
