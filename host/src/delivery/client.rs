//! The HTTP clients deliveries go out with. Shared, so connections are pooled and kept
//! alive per host: one that never follows redirects (the default: a webhook receiver
//! answers, it does not send us elsewhere), one for targets that opt in, which re-checks
//! every hop, and one per client certificate for targets that present one (mTLS).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::attempt;
use crate::egress;
use crate::model::{ErrorInfo, FailureCode, TargetConfig};

/// Most redirects a target that opted in may send a delivery through.
const MAX_REDIRECTS: usize = 5;

/// A redirect hop the rules refuse; the attempt's error takes its code.
#[derive(Debug, thiserror::Error)]
#[error("redirect refused: {}", .0.message)]
pub struct RefusedHop(pub ErrorInfo);

pub struct HttpClients {
    policy: Arc<egress::EgressPolicy>,
    roots: Vec<reqwest::Certificate>,
    allow_http: bool,
    direct: reqwest::Client,
    following: reqwest::Client,
    /// By (client certificate, follows redirects).
    with_identity: Mutex<HashMap<(String, bool), reqwest::Client>>,
}

impl HttpClients {
    pub fn new(settings: &crate::Settings) -> Result<HttpClients, String> {
        let mut roots = Vec::new();
        if let Some(file) = &settings.extra_ca_file {
            let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            roots = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{} holds no usable PEM certificate: {e}", file.display()))?;
            if roots.is_empty() {
                return Err(format!("{} holds no PEM certificate", file.display()));
            }
        }
        let mut clients = HttpClients {
            policy: Arc::new(settings.egress.clone()),
            roots,
            allow_http: settings.allow_http,
            direct: reqwest::Client::new(),
            following: reqwest::Client::new(),
            with_identity: Mutex::default(),
        };
        clients.direct = clients.build(false, None)?;
        clients.following = clients.build(true, None)?;
        Ok(clients)
    }

    fn build(&self, follow_redirects: bool, identity: Option<reqwest::Identity>) -> Result<reqwest::Client, String> {
        let redirects = if follow_redirects {
            let (policy, allow_http) = (self.policy.clone(), self.allow_http);
            reqwest::redirect::Policy::custom(move |hop| {
                // `previous` holds the first URL and every hop before this one.
                if hop.previous().len() > MAX_REDIRECTS {
                    return hop.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match attempt::check_url(hop.url().as_str(), allow_http, &policy) {
                    Ok(()) => hop.follow(),
                    Err(e) => hop.error(RefusedHop(e)),
                }
            })
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("hookgate/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(egress::GuardedResolver::new(self.policy.clone())))
            .https_only(!self.allow_http);
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder.build().map_err(|e| format!("cannot configure the HTTP client: {e}"))
    }

    /// The client for `target` (cheap to clone: clients share their pool).
    pub fn for_target(&self, target: &TargetConfig) -> Result<reqwest::Client, ErrorInfo> {
        let Some(tls) = &target.client_tls else {
            return Ok(if target.follow_redirects { self.following.clone() } else { self.direct.clone() });
        };
        let pem = format!("{}\n{}", tls.certificate, tls.private_key);
        let key = (hex::encode(Sha256::digest(pem.as_bytes())), target.follow_redirects);
        let mut cache = self.with_identity.lock().map_err(|_| ErrorInfo::new(FailureCode::InternalError, "client cache poisoned"))?;
        if let Some(client) = cache.get(&key) {
            return Ok(client.clone());
        }
        let identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| ErrorInfo::new(FailureCode::InvalidClientCertificate, e.to_string()))?;
        let client = self.build(target.follow_redirects, Some(identity)).map_err(|e| ErrorInfo::new(FailureCode::InvalidClientCertificate, e))?;
        cache.insert(key, client.clone());
        Ok(client)
    }
}
