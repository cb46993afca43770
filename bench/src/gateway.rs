//! The real `hookgate` binary as a child process, its admin API, and what /proc says about it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hookgate_tests::{serve_command, GatewayProcess, OutputLog};
use serde_json::Value;

/// How to start gateways: the binary and the admin token (every gateway shares the kit's
/// compile cache, `hookgate_tests::compile_cache_dir`).
#[derive(Debug, Clone)]
pub struct Launcher {
    pub bin: PathBuf,
    pub token: String,
}

/// A running `hookgate serve`, killed when dropped.
pub struct Gateway {
    process: GatewayProcess,
    pub pid: u32,
    pub addr: SocketAddr,
    /// From `spawn` to the `hookgate listening on` line.
    pub listening_after: Duration,
    log: OutputLog,
    pub client: reqwest::Client,
    token: String,
}

/// The gateway's output lines kept for error messages.
const LOG_LINES: usize = 200;

impl Launcher {
    /// Starts `hookgate serve` on `127.0.0.1:0` with `data_dir` and waits (30 s at most) for
    /// its address.
    pub fn spawn(&self, data_dir: &Path, store: Option<&str>, args: &[&str], client: &reqwest::Client) -> Result<Gateway> {
        let mut cmd = serve_command(&self.bin, data_dir, &self.token);
        cmd.args(["--allow-target-net", "127.0.0.0/8"])
            .args(store.map(|url| ["--store", url]).iter().flatten())
            .args(args)
            // The gateway's own default log filter (info), whatever the caller's shell says.
            .env_remove("RUST_LOG");
        let log = OutputLog::keeping_last(LOG_LINES);
        let label = data_dir.file_name().map_or_else(|| data_dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let process = GatewayProcess::start(cmd, &log, &label).map_err(|e| anyhow!("{e}:\n{}", log.tail(LOG_LINES)))?;
        Ok(Gateway {
            pid: process.pid(),
            addr: process.addr(),
            listening_after: process.listening_after(),
            process,
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
        self.log.tail(lines)
    }

    /// SIGTERM, then waits for the exit (the gateway lets attempts in flight finish and
    /// flushes); SIGKILL after 20 s.
    pub fn stop(mut self) -> Result<Duration> {
        let started = Instant::now();
        if self.process.terminate(Duration::from_secs(20)).is_none() {
            eprintln!("[bench] warning: gateway {} did not stop within 20 s of SIGTERM; killed", self.pid);
        }
        Ok(started.elapsed())
    }

    pub fn mem(&self) -> Mem {
        mem_of(&format!("/proc/{}/status", self.pid))
    }

    pub fn cpu_s(&self) -> f64 {
        cpu_of(&format!("/proc/{}/stat", self.pid))
    }

    /// Bytes the process has caused to be written to storage (`write_bytes` of
    /// /proc/<pid>/io): the store's log, whole pages as the kernel writes them.
    pub fn disk_written(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/io", self.pid)).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
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
