//! The README's five-minute quickstart, run as written: its shell blocks in order, in one
//! bash, from a scratch directory that links to everything in the repository but its data
//! directory, with the `hookgate` under test first on `PATH`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

/// The ```sh blocks of the README section headed `heading`, in order.
fn shell_blocks(readme: &str, heading: &str) -> String {
    let start = readme.find(heading).unwrap_or_else(|| panic!("the README has no `{heading}`"));
    let section = &readme[start..];
    let section = &section[..section[heading.len()..].find("\n## ").map_or(section.len(), |i| i + heading.len())];
    section.split("```sh\n").skip(1).filter_map(|block| block.split("\n```").next()).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_quickstart_works_as_written() {
    let root = repo_root();
    let script = shell_blocks(&std::fs::read_to_string(root.join("README.md")).expect("README.md"), "## Five-minute quickstart");
    assert!(script.contains("hookgate serve") && script.contains("/v1/events/"), "{script}");
    let dir = tempfile::tempdir().expect("scratch dir");
    // The repository as the reader has it, but its own data directory.
    for entry in std::fs::read_dir(&root).expect("the repository") {
        let name = entry.expect("an entry").file_name();
        if name != "hookgate-data" && name != "target" {
            std::os::unix::fs::symlink(root.join(&name), dir.path().join(&name)).expect("symlink");
        }
    }
    let bin_dir = gateway_bin().parent().expect("the binary's directory").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let output = dir.path().join("output.txt");
    let out = std::fs::File::create(&output).expect("output file");
    // Its own session, so the gateway and the receiver it leaves running can be stopped.
    let child = Command::new("setsid")
        .args(["bash", "-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("bash runs");
    let stop = StopGroup(child.id());
    let status = wait(child, Duration::from_secs(600));
    let printed = || std::fs::read_to_string(&output).unwrap_or_default();
    assert!(status, "the quickstart failed:\n{}", printed());
    // The receiver prints `POST /hook <body>`; delivery is asynchronous.
    let end = Instant::now() + DEADLINE;
    let delivered = loop {
        // Where curl's output ends without a line break, the receiver's line follows on it.
        if let Some((_, line)) = printed().split_once("POST /hook ") {
            break line.lines().next().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < end, "the receiver got no POST:\n{}", printed());
        std::thread::sleep(Duration::from_millis(50));
    };
    let body: Value = serde_json::from_str(&delivered).expect("a JSON body");
    assert_eq!(body, json!({"sku": "S1", "uid": "u1", "event": "be-observer.catalog_product_create"}));
    let text = printed();
    assert!(text.contains(r#""deliveries":1"#), "the fire answer:\n{text}");
    assert!(text.contains(r#""messages":["#), "the delivery log:\n{text}");
    drop(stop);
}

/// Waits for `child` up to `limit`; whether it exited 0.
fn wait(mut child: std::process::Child, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops every process of a session (the group its leader started) when dropped.
struct StopGroup(u32);

impl Drop for StopGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0)]).status();
    }
}
