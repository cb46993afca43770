//! [`Gateway`]: the real `hookgate` binary as a child process on `127.0.0.1:0` with its own
//! data directory, with admin / ingest helpers that read like the scenarios.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{component_path, gateway_bin, serve_command, store_of, GatewayProcess, OutputLog, Resp};

/// The admin token every test gateway is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The attempts of delivery number `delivery` of a message as the admin API shows it.
pub fn attempts(message: &Value, delivery: usize) -> Vec<Value> {
    message["deliveries"][delivery]["attempts"].as_array().cloned().unwrap_or_default()
}

/// A retry policy with short delays, for tests.
pub fn fast_retry(max_attempts: u32) -> Value {
    json!({
        "max_attempts": max_attempts,
        "initial_delay_ms": 50,
        "max_delay_ms": 200,
        "timeout_ms": 5000
    })
}

/// How to start a gateway.
#[derive(Debug, Clone, Default)]
pub struct GatewayOpts {
    /// Use this data directory instead of a fresh temporary one.
    pub data_dir: Option<PathBuf>,
    /// Appended to `serve --listen 127.0.0.1:0 --data-dir DIR --allow-http` (and, unless
    /// `default_egress`, `--allow-target-net 127.0.0.0/8`, since test receivers are local).
    pub extra_args: Vec<String>,
    /// Keep the gateway's default egress policy (loopback refused).
    pub default_egress: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// `--store URL`: a PostgreSQL database, for gateways that share one. Unset, the
    /// gateway uses the embedded store, or under `HOOKGATE_TEST_STORE=postgres` a database
    /// of its own (see [`store_of`]).
    pub store: Option<String>,
}

impl GatewayOpts {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra_args.push(a.into());
        self
    }
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.extra_args.extend(a.into_iter().map(Into::into));
        self
    }
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    pub fn store(mut self, url: impl Into<String>) -> Self {
        self.store = Some(url.into());
        self
    }
}

/// A running `hookgate serve` child process.
pub struct Gateway {
    opts: GatewayOpts,
    _tmp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    process: Option<GatewayProcess>,
    log: OutputLog,
    addr: SocketAddr,
    /// `"stdout"` or `"stderr"`: where the `listening on` line appeared.
    pub announced_on: &'static str,
    /// Number of processes started for this gateway (1 + restarts).
    pub generation: u32,
    client: reqwest::Client,
}

impl Gateway {
    /// Starts a gateway with default options on a fresh data dir.
    pub fn new() -> Gateway {
        Gateway::start(GatewayOpts::default())
    }

    /// Starts the real binary and waits (up to 30 s) for it to announce its address.
    pub fn start(opts: GatewayOpts) -> Gateway {
        let (tmp, data_dir) = match &opts.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("hookgate-e2e-")
                    .tempdir()
                    .expect("tempdir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client");
        let mut gw = Gateway {
            opts,
            _tmp: tmp,
            data_dir,
            process: None,
            log: OutputLog::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
            announced_on: "stdout",
            generation: 0,
            client,
        };
        gw.spawn();
        gw
    }

    fn spawn(&mut self) {
        assert!(self.process.is_none(), "gateway already running");
        self.generation += 1;
        let mut cmd = serve_command(&gateway_bin(), &self.data_dir, ADMIN_TOKEN);
        cmd.args(if self.opts.default_egress { &[][..] } else { &["--allow-target-net", "127.0.0.0/8"][..] })
            .args(&self.opts.extra_args)
            .args(match store_of(&self.opts, &self.data_dir) {
                // A short lease, so that the deliveries a killed gateway held are taken over
                // within the tests' deadlines (live claims are renewed, whatever the lease).
                Some(url) if self.opts.extra_args.iter().any(|a| a == "--lease-ms") => vec!["--store".to_string(), url],
                Some(url) => vec!["--store".to_string(), url, "--lease-ms".into(), "3000".into()],
                None => vec![],
            })
            .env("RUST_LOG", "info")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        match GatewayProcess::start(cmd, &self.log, &format!("#{}", self.generation)) {
            Ok(process) => {
                self.addr = process.addr();
                self.announced_on = process.announced_on();
                self.process = Some(process);
            }
            Err(e) => panic!("{e}\n{}", self.logs()),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(GatewayProcess::pid)
    }
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Everything the gateway processes printed so far.
    pub fn logs(&self) -> String {
        self.log.text()
    }

    /// `kill -9` the process and reap it.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// SIGTERM and wait up to 10 s for a clean exit (then SIGKILL). Returns whether it exited
    /// by itself with status 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut process) = self.process.take() else {
            return true;
        };
        process.terminate(Duration::from_secs(10)).is_some_and(|status| status.success())
    }

    /// Kills the process (SIGKILL) and starts a new one on the same data directory. The
    /// listening port changes.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts the process again after [`Gateway::kill`] / [`Gateway::terminate`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    // -------------------------------------------------------------------------------------------
    // Raw HTTP
    // -------------------------------------------------------------------------------------------

    /// A request to `path` with the admin bearer.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap_or_else(|e| {
            panic!("request to gateway failed: {e}\n{}", self.logs())
        });
        Resp::read(r).await
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn admin_get(&self, path: &str) -> Resp {
        self.send(self.admin(reqwest::Method::GET, path)).await
    }
    pub async fn admin_delete(&self, path: &str) -> Resp {
        self.send(self.admin(reqwest::Method::DELETE, path))
            .await
    }
    pub async fn admin_post(&self, path: &str) -> Resp {
        self.send(self.admin(reqwest::Method::POST, path)).await
    }
    pub async fn admin_put_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.admin(reqwest::Method::PUT, path).json(body))
            .await
    }

    // -------------------------------------------------------------------------------------------
    // Components
    // -------------------------------------------------------------------------------------------

    pub async fn put_component_bytes(&self, name: &str, wasm: impl Into<Vec<u8>>) -> Resp {
        self.send(
            self.admin(reqwest::Method::PUT, &format!("/v1/admin/components/{name}"))
                .header("content-type", "application/wasm")
                .body(wasm.into()),
        )
        .await
    }

    pub async fn put_component(&self, name: &str, path: impl AsRef<Path>) -> Resp {
        let bytes = std::fs::read(path.as_ref())
            .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()));
        self.put_component_bytes(name, bytes).await
    }

    /// Uploads `guest-examples/dist/<name>.wasm` as component `<name>`; asserts 201 and returns
    /// the response body.
    pub async fn install(&self, name: &str) -> Value {
        let r = self.put_component(name, component_path(name)).await;
        r.assert_status(201);
        r.json()
    }

    /// Like [`Gateway::install`], with its own time limit for the upload instead of the
    /// client's 60 s: a JavaScript or Python component (12-18 MB, a whole interpreter) is
    /// compiled on upload, which takes tens of seconds on a busy 2-core machine.
    pub async fn install_within(&self, name: &str, timeout: Duration) -> Value {
        let path = component_path(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let r = self
            .send(
                self.admin(reqwest::Method::PUT, &format!("/v1/admin/components/{name}"))
                    .header("content-type", "application/wasm")
                    .timeout(timeout)
                    .body(bytes),
            )
            .await;
        r.assert_status(201);
        r.json()
    }

    pub async fn component(&self, name: &str) -> Resp {
        self.admin_get(&format!("/v1/admin/components/{name}")).await
    }
    pub async fn delete_component(&self, name: &str) -> Resp {
        self.admin_delete(&format!("/v1/admin/components/{name}"))
            .await
    }

    // -------------------------------------------------------------------------------------------
    // Events
    // -------------------------------------------------------------------------------------------

    pub async fn put_event(&self, id: &str, config: Value) -> Resp {
        self.admin_put_json(&format!("/v1/admin/events/{id}"), &config)
            .await
    }

    /// `put_event` asserting 200/201; returns the stored config.
    pub async fn put_event_ok(&self, id: &str, config: Value) -> Value {
        let r = self.put_event(id, config).await;
        assert!(
            r.status == 200 || r.status == 201,
            "PUT event {id}: expected 200/201, got {} {}",
            r.status,
            r.text()
        );
        r.json()
    }

    pub async fn event(&self, id: &str) -> Resp {
        self.admin_get(&format!("/v1/admin/events/{id}")).await
    }
    pub async fn delete_event(&self, id: &str) -> Resp {
        self.admin_delete(&format!("/v1/admin/events/{id}")).await
    }

    // -------------------------------------------------------------------------------------------
    // Ingest
    // -------------------------------------------------------------------------------------------

    /// `POST /v1/events/{event_id}` (no admin credentials).
    pub async fn fire(
        &self,
        event_id: &str,
        body: impl Into<Vec<u8>>,
        content_type: &str,
    ) -> Resp {
        self.fire_with(event_id, body, &[("content-type", content_type)])
            .await
    }

    /// `POST /v1/events/{event_id}` with these headers (no admin credentials).
    pub async fn fire_with(
        &self,
        event_id: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.post_raw(&format!("/v1/events/{event_id}"), body, headers).await
    }

    /// `POST path` (path and query) with this body and these headers, no admin credentials.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.post(self.url(path)).body(body.into());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(rb).await
    }

    /// `fire` a JSON body, asserting 202; returns the message id.
    pub async fn fire_json(&self, event_id: &str, body: &Value) -> String {
        let r = self
            .fire(event_id, body.to_string(), "application/json")
            .await;
        accepted_message_id(&r)
    }

    // -------------------------------------------------------------------------------------------
    // Message log
    // -------------------------------------------------------------------------------------------

    /// `GET /v1/admin/messages/{id}`, asserting 200.
    pub async fn message(&self, id: &str) -> Value {
        let r = self.admin_get(&format!("/v1/admin/messages/{id}")).await;
        r.assert_status(200);
        r.json()
    }

    /// `GET /v1/admin/messages?{query}`, asserting 200.
    pub async fn messages(&self, query: &str) -> Value {
        let r = self
            .admin_get(&format!("/v1/admin/messages?{query}"))
            .await;
        r.assert_status(200);
        r.json()
    }

    /// All messages of one event (follows cursors, at most 50 pages).
    pub async fn messages_of(&self, event_id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..50 {
            let mut q = format!("event_id={event_id}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let page = self.messages(&q).await;
            let msgs = page["messages"]
                .as_array()
                .unwrap_or_else(|| panic!("no messages array in {page}"));
            all.extend(msgs.iter().cloned());
            match page.get("next_cursor") {
                Some(Value::String(c)) => cursor = Some(c.clone()),
                _ => return all,
            }
        }
        panic!("more than 50 pages of messages for {event_id}");
    }

    /// Polls `GET /v1/admin/messages/{id}` every 50 ms until `pred` holds; panics (with the last
    /// message and the gateway's logs) after `deadline`.
    pub async fn wait_message(
        &self,
        id: &str,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + deadline;
        let mut last;
        loop {
            let r = self.admin_get(&format!("/v1/admin/messages/{id}")).await;
            if r.status == 200 {
                last = r.json();
                if pred(&last) {
                    return last;
                }
            } else {
                last = json!({"http_status": r.status, "body": r.text()});
            }
            if Instant::now() >= end {
                panic!(
                    "message {id}: not {what} within {deadline:?}; last seen:\n{}\n--- gateway output ---\n{}",
                    serde_json::to_string_pretty(&last).unwrap(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the message's overall status is `status`.
    pub async fn wait_message_status(&self, id: &str, status: &str, deadline: Duration) -> Value {
        self.wait_message(id, deadline, &format!("status {status:?}"), |m| {
            m["status"] == status
        })
        .await
    }

    /// `POST /v1/admin/messages/{id}/retry`.
    pub async fn retry(&self, id: &str) -> Resp {
        self.admin_post(&format!("/v1/admin/messages/{id}/retry"))
            .await
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway::new()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- hookgate output (data dir {}) ---\n{}\n--- end of hookgate output ---",
                self.data_dir.display(),
                self.logs()
            );
        }
    }
}

/// Asserts a 202 ingest answer and returns its `message_id`.
#[track_caller]
pub fn accepted_message_id(r: &Resp) -> String {
    r.assert_status(202);
    let v = r.json();
    v["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("202 without a string message_id: {v}"))
        .to_string()
}
