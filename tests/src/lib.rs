//! End-to-end harness for hookgate.
//!
//! * [`Gateway`] runs the real `hookgate` binary as a child process on `127.0.0.1:0` with its own
//!   data directory, and offers admin / ingest helpers that read like the scenarios.
//! * [`Receiver`] is a real HTTP server (axum) standing in for a webhook target: it records every
//!   request and answers from a programmable script; it can be down (port reserved, nothing
//!   listening) and come back on the same port.
//! * [`component_path`] finds the guest components built by `guest-examples/build.sh`.
//!
//! Every wait is bounded by a deadline; on a failing test the gateway's output and the requests
//! the receiver saw are printed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

pub use serde_json;

/// The attempts of delivery number `delivery` of a message as the admin API shows it.
pub fn attempts(message: &Value, delivery: usize) -> Vec<Value> {
    message["deliveries"][delivery]["attempts"].as_array().cloned().unwrap_or_default()
}

/// The admin token every test gateway is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Default deadline for "eventually" checks (deliveries, retries, ...).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// How long the gateway may take to announce its address.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------------
// Paths
// ------------------------------------------------------------------------------------------------

/// The repository root (`tests/..`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `<repo>/guest-examples/dist/<name>.wasm`; panics when it has not been built.
pub fn component_path(name: &str) -> PathBuf {
    let path = repo_root()
        .join("guest-examples")
        .join("dist")
        .join(format!("{name}.wasm"));
    if !path.is_file() {
        panic!(
            "guest component {} is missing: run guest-examples/build.sh first",
            path.display()
        );
    }
    path
}

/// Runs the test `test` of the calling test binary again, alone, in a network namespace of
/// its own (`unshare --net`, as root) where only loopback exists and `addresses` are added
/// to it, so that a test can put receivers on addresses the gateway must refuse and no
/// packet can leave the machine whatever the gateway does. Returns `true` inside the
/// namespace, where the test goes on, and `false` outside once the run inside passed.
pub fn in_own_network(test: &str, addresses: &[&str]) -> bool {
    if std::env::var_os("HOOKGATE_TEST_NETNS").is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut script = String::from("set -e; ip link set lo up");
    for address in addresses {
        // IPv6 addresses without duplicate address detection, usable at once.
        let nodad = if address.contains(':') { " nodad" } else { "" };
        script.push_str(&format!("; ip addr add {address} dev lo{nodad}"));
    }
    script.push_str("; exec \"$0\" --exact \"$1\" --test-threads 1 --nocapture");
    let status = std::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .arg(&exe)
        .arg(test)
        .env("HOOKGATE_TEST_NETNS", "1")
        .status()
        .expect("unshare (util-linux) runs");
    assert!(status.success(), "`{test}` failed in its network namespace (it needs root and iproute2): {status}");
    false
}

/// The gateway binary: `$HOOKGATE_BIN`, else `target/<profile>/hookgate` next to the test binary.
pub fn gateway_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOOKGATE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            panic!("HOOKGATE_BIN={} does not exist", p.display());
        }
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test>-<hash> -> target/debug/hookgate
    let mut candidates = Vec::new();
    if let Some(deps) = exe.parent() {
        candidates.push(deps.join("hookgate"));
        if let Some(profile) = deps.parent() {
            candidates.push(profile.join("hookgate"));
        }
    }
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "the hookgate binary was not found (looked at {:?}): build it with `cargo build -p hookgate` \
         or point HOOKGATE_BIN at it",
        candidates
    );
}

/// Hex HMAC-SHA256 of `body` with `secret` (what the `hmac-auth` component expects in `x-signature`).
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
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

/// Milliseconds since the Unix epoch of `t` (what the message log's `since`/`until` take).
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .expect("time after 1970")
        .as_millis() as u64
}

/// `t` as an RFC 3339 UTC time with milliseconds, e.g. `2023-11-14T22:13:20.123Z`.
pub fn rfc3339_millis(t: std::time::SystemTime) -> String {
    let ms = unix_ms(t);
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ------------------------------------------------------------------------------------------------
// HTTP responses
// ------------------------------------------------------------------------------------------------

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Resp {
    async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = r.bytes().await.expect("read response body");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response (status {}) is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body on mismatch.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected HTTP {status}, got {} with body {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts a 2xx status, showing the body on mismatch.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            (200..300).contains(&self.status),
            "expected a 2xx, got {} with body {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts the error shape `{"error":{"code":"<code>","message":"..."}}` and the status;
    /// returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        self.assert_status(status);
        let (got_code, message) = self.error();
        assert_eq!(
            got_code,
            code,
            "expected error code {code:?}, got body {}",
            self.text()
        );
        message
    }

    /// Asserts the body has the error shape `{"error":{"code":string,"message":string}}` and
    /// returns `(code, message)`.
    #[track_caller]
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        let code = v
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string error.code in {v}"));
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string error.message in {v}"));
        assert!(!code.is_empty(), "empty error.code in {v}");
        assert!(
            code.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "error.code is not snake_case: {v}"
        );
        (code.to_string(), message.to_string())
    }
}

// ------------------------------------------------------------------------------------------------
// Gateway
// ------------------------------------------------------------------------------------------------

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

/// Whether this run puts every gateway on PostgreSQL (`HOOKGATE_TEST_STORE=postgres`, set
/// by `tests/run.sh` for its second pass over the end-to-end suites).
pub fn on_postgres() -> bool {
    std::env::var("HOOKGATE_TEST_STORE").is_ok_and(|store| store == "postgres")
}

/// The test PostgreSQL server (`tests/postgres.sh`), as `postgres://postgres@127.0.0.1:PORT`.
pub fn postgres_server() -> String {
    std::env::var("HOOKGATE_TEST_POSTGRES").expect(
        "HOOKGATE_TEST_POSTGRES is not set: this test needs PostgreSQL; run it through tests/run.sh, \
         or start a throwaway server with `eval \"$(bash tests/postgres.sh start)\"`",
    )
}

/// Creates the database `name` on the test server unless it exists; returns its URL.
pub fn postgres_database(name: &str) -> String {
    let server = postgres_server();
    let exists = Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-d", &format!("{server}/postgres")])
        .args(["-c", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")])
        .output()
        .expect("psql (tests/setup.sh installs it)");
    assert!(exists.status.success(), "psql failed: {}", String::from_utf8_lossy(&exists.stderr));
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        let created = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &format!("{server}/postgres")])
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql");
        assert!(created.status.success(), "cannot create {name}: {}", String::from_utf8_lossy(&created.stderr));
    }
    format!("{server}/{name}")
}

/// A new, empty database on the test server.
pub fn fresh_postgres_database() -> String {
    let unique = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    postgres_database(&format!("hookgate_{}_{unique:x}", std::process::id()))
}

/// The store of a gateway started without `--store`: under `HOOKGATE_TEST_STORE=postgres`
/// the database named after its data directory, so that a gateway started again on the
/// same directory finds the same data, as it would on the embedded store.
pub fn store_of(opts: &GatewayOpts, data_dir: &Path) -> Option<String> {
    if opts.store.is_some() || !on_postgres() {
        return opts.store.clone();
    }
    Some(postgres_database(&format!("hookgate_{}", &sha256_hex(data_dir.to_string_lossy().as_bytes())[..24])))
}

type Log = Arc<Mutex<Vec<String>>>;

enum StartSignal {
    Listening(SocketAddr, &'static str),
    Eof,
}

/// A running `hookgate serve` child process.
pub struct Gateway {
    opts: GatewayOpts,
    _tmp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    child: Option<Child>,
    drains: Vec<JoinHandle<()>>,
    log: Log,
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
            child: None,
            drains: Vec::new(),
            log: Arc::new(Mutex::new(Vec::new())),
            addr: "127.0.0.1:0".parse().unwrap(),
            announced_on: "stdout",
            generation: 0,
            client,
        };
        gw.spawn();
        gw
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "gateway already running");
        self.generation += 1;
        let bin = gateway_bin();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--allow-http")
            .args(if self.opts.default_egress { &[][..] } else { &["--allow-target-net", "127.0.0.0/8"][..] })
            .args(&self.opts.extra_args)
            .args(match store_of(&self.opts, &self.data_dir) {
                // A short lease, so that the deliveries a killed gateway held are taken over
                // within the tests' deadlines (live claims are renewed, whatever the lease).
                Some(url) if self.opts.extra_args.iter().any(|a| a == "--lease-ms") => vec!["--store".to_string(), url],
                Some(url) => vec!["--store".to_string(), url, "--lease-ms".into(), "3000".into()],
                None => vec![],
            })
            .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            // Every gateway of a test run shares compiled components: each is compiled once.
            .env("HOOKGATE_COMPILE_CACHE", repo_root().join("target").join("hookgate-compile-cache"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let gen = self.generation;
        self.log.lock().unwrap().push(format!(
            "=== gateway #{gen} pid {} started: {:?}",
            child.id(),
            cmd
        ));

        let (tx, rx) = mpsc::channel::<StartSignal>();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        self.drains
            .push(drain(out, "stdout", gen, self.log.clone(), tx.clone()));
        self.drains.push(drain(err, "stderr", gen, self.log.clone(), tx));
        self.child = Some(child);

        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut eofs = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(StartSignal::Listening(addr, stream)) => {
                    self.addr = addr;
                    self.announced_on = stream;
                    return;
                }
                Ok(StartSignal::Eof) => {
                    eofs += 1;
                    if eofs == 2 {
                        let status = self.child.as_mut().unwrap().wait().ok();
                        self.child = None;
                        panic!(
                            "gateway exited before announcing `listening on http://...` (status {status:?})\n{}",
                            self.logs()
                        );
                    }
                }
                Err(_) => {
                    let exited = self.child.as_mut().unwrap().try_wait().ok().flatten();
                    self.kill();
                    panic!(
                        "gateway did not print `listening on http://127.0.0.1:PORT` within {:?} (exited: {exited:?})\n{}",
                        STARTUP_DEADLINE,
                        self.logs()
                    );
                }
            }
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
        self.child.as_ref().map(|c| c.id())
    }
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Everything the gateway processes printed so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// `kill -9` the process and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.log
                .lock()
                .unwrap()
                .push(format!("=== gateway #{} killed (SIGKILL)", self.generation));
        }
        for d in self.drains.drain(..) {
            let _ = d.join();
        }
    }

    /// SIGTERM and wait up to 10 s for a clean exit (then SIGKILL). Returns whether it exited
    /// by itself with status 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut clean = false;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                clean = status.success();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !clean {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.log.lock().unwrap().push(format!(
            "=== gateway #{} terminated (clean: {clean})",
            self.generation
        ));
        for d in self.drains.drain(..) {
            let _ = d.join();
        }
        clean
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
        let mut rb = self
            .client
            .post(self.url(&format!("/v1/events/{event_id}")))
            .body(body.into());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(rb).await
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

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c2 in chars.by_ref() {
                    if c2.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    let i = line.find("listening on http://")?;
    let rest = &line[i + "listening on http://".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse().ok()
}

fn drain(
    stream: impl Read + Send + 'static,
    name: &'static str,
    gen: u32,
    log: Log,
    tx: mpsc::Sender<StartSignal>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut announced = false;
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if !announced {
                        if let Some(addr) = parse_listening(line) {
                            announced = true;
                            let _ = tx.send(StartSignal::Listening(addr, name));
                        }
                    }
                    log.lock().unwrap().push(format!("[#{gen} {name}] {line}"));
                }
            }
        }
        let _ = tx.send(StartSignal::Eof);
    })
}

// ------------------------------------------------------------------------------------------------
// Receiver
// ------------------------------------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("received body is not JSON ({e}): {:?}", self.text()))
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    /// 200 `{"ok":true}`
    pub fn ok() -> Reply {
        Reply::json(200, json!({"ok": true}))
    }
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(v.to_string()),
            delay: None,
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from(format!("status {status}")),
            delay: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = Some(d);
        self
    }
}

type Responder = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct RxShared {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Responder>>,
    default: Mutex<Reply>,
}

struct Running {
    shutdown: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A real HTTP server on `127.0.0.1` (or another local address, [`Receiver::start_on`])
/// standing in for a webhook target.
///
/// Answers, in order of precedence: the next scripted [`Reply`] ([`Receiver::push`]), the
/// responder closure ([`Receiver::respond_with`]), the default reply (200 `{"ok":true}`).
/// Runs on its own thread and tokio runtime, so it works from any test flavour. While down,
/// the port stays reserved (bound, not listening: connections are refused).
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<RxShared>,
    reserved: Option<tokio::net::TcpSocket>,
    running: Option<Running>,
}

fn bind_reserved(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let s = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    Ok(s)
}

impl Receiver {
    /// A receiver that is down: its port is reserved but nothing listens. Call [`Receiver::up`].
    pub fn down_reserved() -> Receiver {
        Receiver::reserve(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn reserve(addr: SocketAddr) -> Receiver {
        let s = bind_reserved(addr).unwrap_or_else(|e| panic!("reserve a port on {addr}: {e}"));
        Receiver {
            addr: s.local_addr().expect("local_addr"),
            shared: Arc::new(RxShared {
                requests: Mutex::new(Vec::new()),
                script: Mutex::new(VecDeque::new()),
                responder: Mutex::new(None),
                default: Mutex::new(Reply::ok()),
            }),
            reserved: Some(s),
            running: None,
        }
    }

    /// A receiver that is up, on a fresh port.
    pub fn start() -> Receiver {
        let mut r = Receiver::down_reserved();
        r.up();
        r
    }

    /// A receiver that is up on a fresh port of `ip`, a local address.
    pub fn start_on(ip: std::net::IpAddr) -> Receiver {
        let mut r = Receiver::reserve(SocketAddr::new(ip, 0));
        r.up();
        r
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}` (or the receiver's address, IPv6 in brackets).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Starts listening on the receiver's port; returns once it accepts connections.
    pub fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let socket = match self.reserved.take() {
            Some(s) => s,
            None => bind_reserved(self.addr).expect("rebind receiver port"),
        };
        let shared = self.shared.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("receiver runtime");
            rt.block_on(async move {
                let listener = match socket.listen(1024) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let app = axum::Router::new()
                    .fallback(handle)
                    .with_state(shared);
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = std::future::IntoFuture::into_future(axum::serve(listener, app)) => {}
                    _ = shutdown_rx => {}
                }
            });
            // Dropping the runtime drops the listener and every connection task.
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("receiver cannot listen on {}: {e}", self.addr),
            Err(_) => panic!("receiver did not start within 10 s"),
        }
        self.running = Some(Running {
            shutdown: shutdown_tx,
            thread,
        });
    }

    /// Stops listening and drops every open connection; the port stays reserved.
    pub fn down(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.thread.join();
        }
        if self.reserved.is_none() {
            // Keep the port ours while down (bound, not listening).
            self.reserved = bind_reserved(self.addr).ok();
        }
    }

    /// Queue a reply for the next request (FIFO).
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    /// Answer with `f` once the script is exhausted.
    pub fn respond_with(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self.shared.responder.lock().unwrap() = Some(Box::new(f));
    }

    /// The reply once the script is exhausted and no responder is set.
    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    /// Removes scripted replies and the responder; the default becomes 200 `{"ok":true}`.
    pub fn reset_script(&self) {
        self.shared.script.lock().unwrap().clear();
        *self.shared.responder.lock().unwrap() = None;
        *self.shared.default.lock().unwrap() = Reply::ok();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Requests whose path (without query) is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .collect()
    }

    /// Waits until at least `n` requests arrived; panics after `deadline`.
    pub async fn wait_requests(&self, n: usize, deadline: Duration) -> Vec<Recorded> {
        let end = Instant::now() + deadline;
        loop {
            let reqs = self.requests();
            if reqs.len() >= n {
                return reqs;
            }
            if Instant::now() >= end {
                panic!(
                    "receiver on {} got {} request(s) within {deadline:?}, expected {n}: {:#?}",
                    self.addr,
                    reqs.len(),
                    reqs
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- receiver on {} saw {} request(s) ---\n{:#?}",
                self.addr,
                self.count(),
                self.requests()
            );
        }
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.thread.join();
        }
    }
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<RxShared>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let rec = Recorded {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        at: Instant::now(),
    };
    let reply = {
        let scripted = shared.script.lock().unwrap().pop_front();
        match scripted {
            Some(r) => r,
            None => match &*shared.responder.lock().unwrap() {
                Some(f) => f(&rec),
                None => shared.default.lock().unwrap().clone(),
            },
        }
    };
    shared.requests.lock().unwrap().push(rec);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    let mut b = axum::http::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(axum::body::Body::from(reply.body))
        .expect("valid scripted reply")
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_listening_line() {
        assert_eq!(
            parse_listening("2025 INFO hookgate: listening on http://127.0.0.1:4321"),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(
            parse_listening("\u{1b}[32mINFO\u{1b}[0m listening on http://127.0.0.1:80/ now"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse_listening("starting"), None);
    }

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 test case 2
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rfc3339_formatting() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339_millis(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(unix_ms(t), 1_700_000_000_123);
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600); // 2000-02-29T12:00:00Z
        assert_eq!(rfc3339_millis(leap), "2000-02-29T12:00:00.000Z");
    }

    #[tokio::test]
    async fn receiver_records_scripts_and_comes_back_on_the_same_port() {
        let mut rx = Receiver::down_reserved();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // Down: connection refused.
        assert!(client.get(rx.url("/x")).send().await.is_err());
        rx.up();
        rx.push(Reply::json(500, json!({"ok": false})));
        let r = client
            .post(rx.url("/hook?a=1"))
            .header("x-test", "1")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 500);
        let r = client.get(rx.url("/again")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"ok":true}"#);
        let reqs = rx.wait_requests(2, Duration::from_secs(5)).await;
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].path, "/hook?a=1");
        assert_eq!(reqs[0].header("X-Test"), Some("1"));
        assert_eq!(reqs[0].text(), "hello");
        let port = rx.port();
        rx.down();
        let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
        assert!(fresh.get(rx.url("/x")).send().await.is_err());
        rx.up();
        assert_eq!(rx.port(), port);
        let r = fresh.get(rx.url("/back")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(rx.count(), 3);
    }
}
