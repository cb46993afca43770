//! The real `hookgate` binary as a child process, its admin API, and what /proc says about it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// How to start gateways: the binary, the admin token, the shared compile cache.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub bin: PathBuf,
    pub token: String,
    pub compile_cache: PathBuf,
}

type Log = Arc<Mutex<VecDeque<String>>>;

/// A running `hookgate serve`.
pub struct Gateway {
    child: Option<Child>,
    pub pid: u32,
    pub addr: SocketAddr,
    /// From `spawn` to the `hookgate listening on` line.
    pub listening_after: Duration,
    log: Log,
    pub client: reqwest::Client,
    token: String,
}

const LOG_LINES: usize = 200;

fn drain(stream: impl Read + Send + 'static, log: Log, tx: Option<mpsc::Sender<SocketAddr>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let mut tx = tx;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = line.trim_end().to_string();
                    if let Some(sender) = &tx {
                        if let Some(addr) = text
                            .split("listening on http://")
                            .nth(1)
                            .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '/').next())
                            .and_then(|a| a.parse().ok())
                        {
                            let _ = sender.send(addr);
                            tx = None;
                        }
                    }
                    let mut log = log.lock().unwrap();
                    if log.len() >= LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(text);
                }
            }
        }
    });
}

impl Launcher {
    /// Starts `hookgate serve` on `127.0.0.1:0` with `data_dir` and waits (30 s at most) for
    /// its address.
    pub fn spawn(&self, data_dir: &Path, store: Option<&str>, args: &[&str], client: &reqwest::Client) -> Result<Gateway> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--allow-http", "--allow-target-net", "127.0.0.0/8"])
            .args(store.map(|url| ["--store", url]).iter().flatten())
            .args(args)
            .env("HOOKGATE_ADMIN_TOKEN", &self.token)
            .env("HOOKGATE_COMPILE_CACHE", &self.compile_cache)
            .env("NO_COLOR", "1")
            // The gateway's own default log filter (info), whatever the caller's shell says.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
            cmd.env_remove(k);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("cannot start {}", self.bin.display()))?;
        let log: Log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        drain(child.stdout.take().expect("piped"), log.clone(), Some(tx));
        drain(child.stderr.take().expect("piped"), log.clone(), None);
        let pid = child.id();
        let deadline = started + Duration::from_secs(30);
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(addr) => break addr,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.try_wait()? {
                        let tail = log.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n");
                        bail!("the gateway exited ({status}) before listening:\n{tail}");
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        bail!("the gateway did not print its address within 30 s");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait()?;
                    let tail = log.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n");
                    bail!("the gateway closed stdout ({status}) before listening:\n{tail}");
                }
            }
        };
        Ok(Gateway {
            child: Some(child),
            pid,
            addr,
            listening_after: started.elapsed(),
            log,
            client: client.clone(),
            token: self.token.clone(),
        })
    }
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log.lock().unwrap();
        let skip = log.len().saturating_sub(lines);
        log.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, then waits for the exit (the gateway lets attempts in flight finish and
    /// flushes); SIGKILL after 20 s.
    pub fn stop(mut self) -> Result<Duration> {
        let started = Instant::now();
        let Some(mut child) = self.child.take() else { return Ok(Duration::ZERO) };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        while started.elapsed() < Duration::from_secs(20) {
            if child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("[bench] warning: gateway {} did not stop within 20 s of SIGTERM; killed", self.pid);
        Ok(started.elapsed())
    }

    pub fn mem(&self) -> Mem {
        mem_of(&format!("/proc/{}/status", self.pid))
    }

    pub fn cpu_s(&self) -> f64 {
        cpu_of(&format!("/proc/{}/stat", self.pid))
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: reqwest::Body, json: bool) -> Result<Value> {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.token)
            // An upload compiles the component: seconds for a big one (JS, Python).
            .timeout(Duration::from_secs(300))
            .body(body);
        if json {
            req = req.header("content-type", "application/json");
        }
        let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `PUT /v1/admin/components/{name}` with the wasm bytes.
    pub async fn put_component(&self, name: &str, wasm: Vec<u8>) -> Result<Value> {
        self.admin(reqwest::Method::PUT, &format!("/v1/admin/components/{name}"), wasm.into(), false).await
    }

    /// `PUT /v1/admin/events/{id}` with a JSON config.
    pub async fn put_event(&self, id: &str, config: &Value) -> Result<()> {
        self.admin(reqwest::Method::PUT, &format!("/v1/admin/events/{id}"), config.to_string().into(), true).await?;
        Ok(())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn mem_of(status_path: &str) -> Mem {
    let text = std::fs::read_to_string(status_path).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Mem { rss_kb: field("VmRSS:"), hwm_kb: field("VmHWM:") }
}

/// utime + stime of a process (all its threads), in seconds.
pub fn cpu_of(stat_path: &str) -> f64 {
    let text = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name is in parentheses and may contain spaces: count fields after it.
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(14) + ticks(15)) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Bytes under `dir` (the data directory's size on disk, as files).
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Finds the gateway binary, building it first unless told not to.
pub fn locate_binary(repo: &Path, explicit: Option<PathBuf>, build: bool) -> Result<PathBuf> {
    if let Some(bin) = explicit {
        if !bin.is_file() {
            bail!("--gateway-bin {} does not exist", bin.display());
        }
        return Ok(bin);
    }
    if build {
        eprintln!("[bench] cargo build --release -p hookgate (a no-op when up to date)");
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "-p", "hookgate"])
            .current_dir(repo)
            .stdin(Stdio::null())
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build --release -p hookgate failed ({status})");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("target"));
    let bin = target.join("release").join("hookgate");
    if !bin.is_file() {
        return Err(anyhow!(
            "{} is missing: run `cargo build --release -p hookgate` first (or drop --no-build)",
            bin.display()
        ));
    }
    Ok(bin)
}
