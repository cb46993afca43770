//! TLS to PostgreSQL, as libpq's `sslmode` in the URL asks: `disable`; `prefer` (the
//! default: TLS when the server offers it) and `require` (TLS or nothing), which encrypt
//! without checking who answers; `verify-ca` and `verify-full`, which check the server's
//! certificate against `sslrootcert` (a PEM file) or the system's roots, and its name (both
//! do: a name check costs nothing and `verify-ca` alone would accept any server the CA
//! signed for).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// A database URL's connection settings and the TLS connector its `sslmode` asks for.
pub(super) fn connection(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut verify, mut root_file) = (false, None);
    // What tokio-postgres does not read itself: `sslrootcert`, and the verifying modes.
    let mut passed = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match (key.as_ref(), value.as_ref()) {
            ("sslrootcert", file) => root_file = Some(file.to_string()),
            ("sslmode", "verify-ca" | "verify-full") => {
                verify = true;
                passed.append_pair("sslmode", "require");
            }
            (key, value) => {
                passed.append_pair(key, value);
            }
        }
    }
    let passed = passed.finish();
    let url = if passed.is_empty() { base.to_string() } else { format!("{base}?{passed}") };
    let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let tls = if verify {
        builder.with_root_certificates(roots(root_file.as_deref())?).with_no_client_auth()
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth()
    };
    Ok((config, MakeRustlsConnect::new(tls)))
}

/// The certificates of `file`, or the system's roots.
fn roots(file: Option<&str>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match file {
        Some(file) => CertificateDer::pem_file_iter(file)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("cannot read sslrootcert {file}: {e}"))?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(match file {
            Some(file) => format!("sslrootcert {file} holds no certificate"),
            None => "no system root certificates to verify the database with: give sslrootcert".to_string(),
        });
    }
    Ok(roots)
}

/// `prefer` and `require`: any certificate, as libpq takes it in these modes; the
/// handshake's signatures are still checked, so the session is encrypted with whoever
/// holds the certificate's key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
