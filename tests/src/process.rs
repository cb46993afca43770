//! The gateway as a child process, the part that the tests' [`crate::Gateway`] and the bench's
//! gateway share: the `hookgate serve` command line every one starts with
//! ([`serve_command`]), and [`GatewayProcess`], which spawns it, keeps draining its output
//! into an [`OutputLog`], reads the address from its `listening on http://...` line, and
//! kills it when dropped.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::compile_cache_dir;

/// How long the gateway may take to announce its address.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// `hookgate serve --listen 127.0.0.1:0 --data-dir DIR --allow-http` with `admin_token`, the
/// shared compile cache ([`compile_cache_dir`]), no colours and no proxy; standard input
/// closed, output piped for [`GatewayProcess::start`]. The caller adds the rest (egress,
/// store, log level).
pub fn serve_command(bin: &Path, data_dir: &Path, admin_token: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--allow-http")
        .env("HOOKGATE_ADMIN_TOKEN", admin_token)
        .env("HOOKGATE_COMPILE_CACHE", compile_cache_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        cmd.env_remove(k);
    }
    cmd
}

/// What gateway processes printed, a line each, shared by the threads that read their output.
#[derive(Debug, Clone)]
pub struct OutputLog {
    lines: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
}

impl OutputLog {
    /// Keeps every line (a test prints them all when it fails).
    pub fn new() -> OutputLog {
        OutputLog::keeping_last(usize::MAX)
    }

    /// Keeps the last `lines` lines (a long benchmark run would otherwise grow without end).
    pub fn keeping_last(lines: usize) -> OutputLog {
        OutputLog { lines: Arc::new(Mutex::new(VecDeque::new())), keep: lines }
    }

    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap();
        if lines.len() >= self.keep {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Every line kept.
    pub fn text(&self) -> String {
        self.tail(usize::MAX)
    }

    /// The last `n` lines kept.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap();
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Default for OutputLog {
    fn default() -> Self {
        OutputLog::new()
    }
}

/// Why a gateway did not come up; the process is gone by then.
#[derive(Debug, Clone)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

enum StartSignal {
    Listening(SocketAddr, &'static str),
    Eof,
}

/// A running `hookgate serve` whose address is known. Killed (SIGKILL) and reaped when
/// dropped.
pub struct GatewayProcess {
    child: Option<Child>,
    pid: u32,
    drains: Vec<JoinHandle<()>>,
    log: OutputLog,
    label: String,
    addr: SocketAddr,
    announced_on: &'static str,
    listening_after: Duration,
}

impl GatewayProcess {
    /// Spawns `cmd` (from [`serve_command`]) and waits, [`STARTUP_DEADLINE`] at most, for it to
    /// print `listening on http://ADDR` on stdout or stderr. Every line it prints goes to
    /// `log` as `[LABEL stream] line`, for as long as it runs; the kit's own notes about it
    /// (started, killed, terminated) as `=== gateway LABEL ...`.
    pub fn start(mut cmd: Command, log: &OutputLog, label: &str) -> Result<GatewayProcess, StartError> {
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| StartError(format!("cannot start {}: {e}", Path::new(cmd.get_program()).display())))?;
        let pid = child.id();
        log.push(format!("=== gateway {label} pid {pid} started: {cmd:?}"));
        let (tx, rx) = mpsc::channel::<StartSignal>();
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        let mut process = GatewayProcess {
            drains: vec![
                drain(out, "stdout", format!("[{label} stdout]"), log.clone(), tx.clone()),
                drain(err, "stderr", format!("[{label} stderr]"), log.clone(), tx),
            ],
            child: Some(child),
            pid,
            log: log.clone(),
            label: label.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            announced_on: "stdout",
            listening_after: Duration::ZERO,
        };
        let deadline = started + STARTUP_DEADLINE;
        let mut eofs = 0;
        let failed = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(StartSignal::Listening(addr, stream)) => {
                    process.addr = addr;
                    process.announced_on = stream;
                    process.listening_after = started.elapsed();
                    return Ok(process);
                }
                Ok(StartSignal::Eof) => {
                    eofs += 1;
                    if eofs == 2 {
                        let status = process.child.as_mut().and_then(|c| c.wait().ok());
                        break format!("gateway {label} exited before announcing `listening on http://...` (status {status:?})");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = process.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        break format!("gateway {label} exited before announcing `listening on http://...` (status {status})");
                    }
                    if Instant::now() >= deadline {
                        break format!("gateway {label} did not print `listening on http://127.0.0.1:PORT` within {STARTUP_DEADLINE:?}");
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break format!("gateway {label} closed its output before announcing `listening on http://...`");
                }
            }
        };
        process.kill();
        Err(StartError(failed))
    }

    /// `127.0.0.1:PORT`, from the `listening on` line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"stdout"` or `"stderr"`: where the `listening on` line appeared.
    pub fn announced_on(&self) -> &'static str {
        self.announced_on
    }

    /// From spawning the process to its `listening on` line.
    pub fn listening_after(&self) -> Duration {
        self.listening_after
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `kill -9` the process, reap it, and wait until its output is read to the end.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.log.push(format!("=== gateway {} killed (SIGKILL)", self.label));
        }
        self.join_drains();
    }

    /// SIGTERM, then waits up to `within` for the process to exit by itself (the gateway lets
    /// attempts in flight finish and flushes); SIGKILL after that. The exit status when it
    /// exited by itself, `None` when it had to be killed (or was already gone).
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = Instant::now() + within;
        let mut exited = None;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if exited.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let clean = exited.is_some_and(|s| s.success());
        self.log.push(format!("=== gateway {} terminated (clean: {clean})", self.label));
        self.join_drains();
        exited
    }

    fn join_drains(&mut self) {
        for d in self.drains.drain(..) {
            let _ = d.join();
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
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

/// Reads `stream` to its end on a thread of its own (a full pipe would stop the gateway),
/// logging each line behind `prefix` and signalling the first `listening on` line.
fn drain(
    stream: impl Read + Send + 'static,
    name: &'static str,
    prefix: String,
    log: OutputLog,
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
                    log.push(format!("{prefix} {line}"));
                }
            }
        }
        let _ = tx.send(StartSignal::Eof);
    })
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
    fn output_log_keeps_the_last_lines() {
        let log = OutputLog::keeping_last(2);
        for line in ["a", "b", "c"] {
            log.push(line.to_string());
        }
        assert_eq!(log.text(), "b\nc");
        assert_eq!(log.tail(1), "c");
        let all = OutputLog::new();
        all.push("x".into());
        all.push("y".into());
        assert_eq!(all.tail(5), "x\ny");
    }
}
