//! HTTPS for real: deliveries over TLS to a receiver on 127.0.0.1 whose certificate comes
//! from a CA generated here, trusted through `--extra-ca-file`; bad certificates are
//! `tls_error`s, retried like other network errors.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hookgate_tests::serde_json::json;
use hookgate_tests::*;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "hookgate test CA");
        let pem = params.clone().self_signed(&key).expect("CA cert").pem();
        TestCa { params, key, pem }
    }

    /// A certificate for `names` as PEM: (certificate, private key).
    fn issue_pem(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        let issuer = self.params.clone().self_signed(&self.key).expect("issuer");
        (params.signed_by(&key, &issuer, &self.key).expect("cert").pem(), key.serialize_pem())
    }

    /// A server certificate for `names`, valid from `from` to `until` (years).
    fn issue(&self, names: &[&str], from: i32, until: i32) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let issuer = self.params.clone().self_signed(&self.key).expect("issuer");
        let cert = params.signed_by(&key, &issuer, &self.key).expect("server cert");
        (cert.der().clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
    }
}

/// An HTTPS receiver on 127.0.0.1 answering 200 and counting what it got.
struct TlsReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl TlsReceiver {
    async fn start(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> TlsReceiver {
        let config = ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert], key).expect("tls config");
        Self::serve(config).await
    }

    /// A receiver that only talks to clients presenting a certificate from `ca`.
    async fn start_mutual(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>, ca: &TestCa) -> TlsReceiver {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        let ca_der = tokio_rustls::rustls::pki_types::pem::PemObject::from_pem_slice(ca.pem.as_bytes()).expect("ca der");
        roots.add(ca_der).expect("root");
        let verifier = tokio_rustls::rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().expect("verifier");
        let config = ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(vec![cert], key).expect("tls config");
        Self::serve(config).await
    }

    async fn serve(config: ServerConfig) -> TlsReceiver {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        seen.lock().expect("lock").push(request.uri().path().to_string());
                        async { Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new())) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
        TlsReceiver { addr, received }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }

    fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }
}

fn gateway_trusting(ca: &TestCa, dir: &tempfile::TempDir) -> Gateway {
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write ca");
    Gateway::start(GatewayOpts::default().args(["--extra-ca-file".to_string(), ca_file.display().to_string()]))
}

#[tokio::test]
async fn delivers_over_tls_to_a_receiver_trusted_through_the_extra_ca() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&["localhost"], 2020, 2099);
    let rx = TlsReceiver::start(cert, key).await;
    let dir = tempfile::tempdir().expect("tmp");
    let gw = gateway_trusting(&ca, &dir);
    gw.put_event_ok("secure", json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("localhost", "/hook")}]})).await;
    let id = gw.fire_json("secure", &json!({"n": 1})).await;
    let m = gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(m["deliveries"][0]["attempts"][0]["status_code"], 200, "{m}");
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn bad_certificates_are_tls_errors_and_retried() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("tmp");
    let trusting = gateway_trusting(&ca, &dir);
    let (wrong_host_cert, wrong_host_key) = ca.issue(&["other.example"], 2020, 2099);
    let wrong_host = TlsReceiver::start(wrong_host_cert, wrong_host_key).await;
    let (expired_cert, expired_key) = ca.issue(&["localhost"], 2010, 2011);
    let expired = TlsReceiver::start(expired_cert, expired_key).await;
    let (good_cert, good_key) = ca.issue(&["localhost"], 2020, 2099);
    let good = TlsReceiver::start(good_cert, good_key).await;
    let untrusting = Gateway::new(); // system roots only: the test CA is unknown

    let cases = [
        (&trusting, wrong_host.url("localhost", "/h"), "not valid for name"),
        (&trusting, expired.url("localhost", "/h"), "expired"),
        (&untrusting, good.url("localhost", "/h"), "unknownissuer"),
    ];
    for (gw, url, reason) in cases {
        gw.put_event_ok("tls", json!({"targets": [{"id": "t1", "method": "POST", "url": url, "retry": fast_retry(2)}]})).await;
        let id = gw.fire_json("tls", &json!({})).await;
        let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
        let attempts = m["deliveries"][0]["attempts"].as_array().cloned().unwrap_or_default();
        assert_eq!(attempts.len(), 2, "retried like other network errors: {m}");
        for attempt in &attempts {
            assert_eq!(attempt["error"]["code"], "tls_error", "{m}");
            assert!(attempt["error"]["message"].as_str().unwrap_or("").to_lowercase().contains(reason), "{reason}: {m}");
        }
    }
    assert_eq!(wrong_host.count() + expired.count() + good.count(), 0);
}

#[tokio::test]
async fn a_target_can_present_a_client_certificate() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&["localhost"], 2020, 2099);
    let rx = TlsReceiver::start_mutual(cert, key, &ca).await;
    let dir = tempfile::tempdir().expect("tmp");
    let gw = gateway_trusting(&ca, &dir);
    let (client_cert, client_key) = ca.issue_pem(&["hookgate-client"]);
    gw.put_event_ok(
        "mtls",
        json!({"targets": [
            {"id": "with", "method": "POST", "url": rx.url("localhost", "/with"),
             "client_tls": {"certificate": client_cert, "private_key": client_key}},
            {"id": "without", "method": "POST", "url": rx.url("localhost", "/without"), "retry": fast_retry(1)}]}),
    )
    .await;
    let shown = gw.event("mtls").await.json();
    assert_eq!(shown["targets"][0]["client_tls"]["private_key"], "***", "{shown}");
    let id = gw.fire_json("mtls", &json!({})).await;
    let m = gw.wait_message_status(&id, "failed", DEADLINE).await;
    let with = m["deliveries"].as_array().expect("deliveries").iter().find(|d| d["target"] == "with").cloned().unwrap_or_default();
    let without = m["deliveries"].as_array().expect("deliveries").iter().find(|d| d["target"] == "without").cloned().unwrap_or_default();
    assert_eq!(with["status"], "delivered", "{m}");
    assert_eq!(without["attempts"][0]["error"]["code"], "tls_error", "{m}");
    assert_eq!(rx.received.lock().expect("lock").clone(), vec!["/with".to_string()]);
}
