//! The integrator's tools: `hookgate component inspect | run | new`, the command-line view
//! of a running gateway (`events`, `messages`), help and completions, run as a user would.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hookgate_tests::serde_json::{json, Value};
use hookgate_tests::*;

fn hookgate(args: &[&str]) -> Output {
    hookgate_env(args, &[])
}

/// `hookgate ARGS` with `env` on top of a clean slate: compiled components shared with the
/// test gateways (not the user's cache), and none of the caller's gateway settings.
fn hookgate_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(gateway_bin());
    command
        .args(args)
        .env("HOOKGATE_COMPILE_CACHE", repo_root().join("target").join("hookgate-compile-cache"))
        .env_remove("HOOKGATE_URL")
        .env_remove("HOOKGATE_ADMIN_TOKEN")
        .env("NO_PROXY", "127.0.0.1");
    command.envs(env.iter().copied()).output().expect("hookgate runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{:?}\nstdout:\n{}\nstderr:\n{}", out.status, stdout(out), stderr(out));
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn write_input(dir: &Path, input: &Value) -> String {
    let path = dir.join("input.json");
    std::fs::write(&path, input.to_string()).expect("write input");
    path.display().to_string()
}

#[test]
fn inspect_names_world_contract_imports_and_size() {
    let wasm = component_path("adobe-to-json");
    let out = hookgate(&["component", "inspect", &wasm.display().to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = stdout_json(&out);
    assert_eq!(report["world"], "transformer");
    assert_eq!(report["contract"], "hookgate:plugin@0.1.0");
    assert_eq!(report["size"], std::fs::metadata(&wasm).expect("size").len());
    assert!(report["exports"].to_string().contains("hookgate:plugin/transform@0.1.0"), "{report}");
    assert!(report["imports"].is_array(), "{report}");

    let not_a_component = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(not_a_component.path(), b"\0asm\x01\0\0\0").expect("write");
    let out = hookgate(&["component", "inspect", &not_a_component.path().display().to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("core WebAssembly module"), "{out:?}");
}

#[test]
fn run_prints_the_result_logs_time_and_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = json!({"message": {"event_id": "product", "body": {"data": {"uid": "u1", "event": "product.created", "value": {"sku": "S1"}}}},
                       "draft": {"method": "PUT", "url": "https://receiver.example/p"}});
    let wasm = component_path("adobe-to-json").display().to_string();
    let out = hookgate(&["component", "run", &wasm, "--input", &write_input(dir.path(), &input)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = stdout_json(&out);
    let sent = &report["output"]["send"];
    assert_eq!(sent["method"], "PUT");
    assert_eq!(sent["url"], "https://receiver.example/p");
    let body: Value = serde_json::from_str(sent["body"].as_str().expect("body text")).expect("json body");
    assert_eq!(body, json!({"sku": "S1", "uid": "u1", "event": "product.created"}));
    assert_eq!(report["logs"], json!([{"level": "info", "message": "transformed u1"}]));
    assert!(report["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{report}");
    assert!(report["peak_memory_bytes"].as_u64().is_some_and(|b| b > 0), "{report}");

    let auth = json!({"request": {"headers": {"x-signature": hmac_sha256_hex(b"k", b"{}")}, "body": "{}"}, "config": {"secret": "k"}});
    let out = hookgate(&["component", "run", &component_path("hmac-auth").display().to_string(), "--input", &write_input(dir.path(), &auth)]);
    assert_eq!(stdout_json(&out)["output"], "allow", "{out:?}");
}

#[test]
fn run_fails_with_the_guest_error_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = write_input(dir.path(), &json!({"message": {"body": "x"}}));
    let out = hookgate(&["component", "run", &component_path("hostile-loop").display().to_string(), "--input", &input, "--guest-time-ms", "100"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stdout_json(&out)["error"]["code"], "guest_timeout");
    assert!(String::from_utf8_lossy(&out.stderr).contains("guest_timeout"));
    let out = hookgate(&["component", "run", &component_path("hostile-alloc").display().to_string(), "--input", &input, "--guest-memory-mb", "16", "--guest-time-ms", "10000"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stdout_json(&out)["error"]["code"], "guest_memory_limit");
}

/// The command `component new` printed for `step` (`build`, `run` or `upload`).
fn next_step(out: &Output, step: &str) -> String {
    let label = format!("{step}:");
    let printed = stdout(out);
    let command = printed.lines().find_map(|line| line.strip_prefix(label.as_str()));
    command.unwrap_or_else(|| panic!("no `{label}` line in:\n{printed}")).trim().to_string()
}

fn shell(command: &str) -> Command {
    let mut shell = Command::new("bash");
    shell.arg("-c").arg(command);
    shell
}

/// From `component new` to a delivered webhook, as the SDK guide walks it: the commands
/// `component new` prints, pasted as they are.
#[tokio::test]
async fn a_new_rust_project_builds_and_transforms_in_the_gateway() {
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("tag-it");
    let out = hookgate(&["component", "new", "transformer", "--lang", "rust", &project.display().to_string()]);
    assert_ok(&out);
    // Share the guest examples' build directory so that dependencies are compiled once.
    let built = shell(&next_step(&out, "build"))
        .env("CARGO_TARGET_DIR", repo_root().join("guest-examples/rust/target"))
        .output()
        .expect("bash");
    assert_ok(&built);
    let wasm = project.join("dist/tag-it.wasm");

    let ran = shell(&next_step(&out, "run")).env("HOOKGATE_COMPILE_CACHE", dir.path().join("cache")).output().expect("bash");
    assert_ok(&ran);
    let report = stdout_json(&ran);
    let sent = &report["output"]["send"];
    assert_eq!((sent["method"].as_str(), sent["url"].as_str()), (Some("POST"), Some("http://127.0.0.1:9000/hook")), "{report}");
    let body: Value = serde_json::from_str(sent["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body, json!({"event": "orders", "data": {"order": 7}}), "the sample input's message");

    let gw = Gateway::new();
    let rx = Receiver::start();
    let upload = next_step(&out, "upload");
    assert_eq!(
        upload,
        format!(
            "curl -X PUT --data-binary @{} -H \"Authorization: Bearer $HOOKGATE_ADMIN_TOKEN\" http://127.0.0.1:8080/v1/admin/components/tag-it",
            wasm.display()
        )
    );
    let uploaded = shell(&upload.replace("http://127.0.0.1:8080", &gw.base_url()))
        .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("bash");
    assert_eq!(stdout_json(&uploaded)["version"], 1, "{}", stderr(&uploaded));
    gw.put_event_ok(
        "orders",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "transformer": {"component": "tag-it"}}]}),
    )
    .await;
    let id = gw.fire_json("orders", &json!({"order": 7})).await;
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    let got = &rx.requests()[0];
    assert_eq!(got.json(), json!({"event": "orders", "data": {"order": 7}}));
    assert_eq!(got.header("x-transformed-by"), Some("tag-it"));
}

#[tokio::test]
async fn versions_and_a_dry_run_against_stored_traffic() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let v1 = gw.put_component("shape", component_path("adobe-to-json")).await;
    assert_eq!(v1.json()["version"], 1);
    let v2 = gw.put_component("shape", component_path("hostile-escape")).await;
    assert_eq!(v2.json()["version"], 2);
    let listed = gw.component("shape").await.json();
    let versions: Vec<u64> = listed["versions"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(versions, vec![1, 2], "{listed}");

    gw.put_event_ok(
        "products",
        json!({"targets": [{"id": "t1", "method": "POST", "url": rx.url("/hook"), "transformer": {"component": "shape@1"}}]}),
    )
    .await;
    for uid in ["u1", "u2", "u3"] {
        let body = json!({"data": {"uid": uid, "event": "product.created", "value": {"sku": uid}}});
        let id = gw.fire_json("products", &body).await;
        gw.wait_message_status(&id, "delivered", DEADLINE).await;
    }
    let delivered = rx.count();

    let dry = |version: u64| {
        let rb = gw.admin(reqwest::Method::POST, "/v1/admin/components/shape/dry-run").json(&json!({"version": version, "event_id": "products", "last": 2}));
        gw.send(rb)
    };
    let report = dry(2).await;
    report.assert_status(200);
    let report = report.json();
    assert_eq!((report["compared"].as_u64(), report["differing"].as_u64()), (Some(2), Some(2)), "{report}");
    let first = &report["results"][0];
    assert_eq!(first["binding"], "targets.t1.transformer");
    let current: Value = serde_json::from_str(first["current"]["send"]["body"].as_str().expect("current body")).expect("json");
    assert_eq!(current["uid"], "u3", "newest first: {report}");
    assert!(first["candidate"]["send"]["headers"].to_string().contains("x-escape"), "{report}");

    let same = dry(1).await.json();
    assert_eq!((same["compared"].as_u64(), same["differing"].as_u64()), (Some(2), Some(0)), "{same}");
    assert_eq!(rx.count(), delivered, "a dry run sends nothing");
    let unknown = dry(9).await;
    unknown.assert_error(404, "component_not_found");
}

/// `component new --lang js|python` gives projects that build with their one command and
/// run in the sandbox (their tools come from npm and PyPI, as for the guest examples).
#[test]
fn new_js_and_python_projects_build_and_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = write_input(dir.path(), &json!({"message": {"message_id": "m1", "event_id": "orders", "body": {"order": 7}}}));
    for lang in ["js", "python"] {
        let project = dir.path().join(format!("{lang}-shape"));
        let out = hookgate(&["component", "new", "transformer", "--lang", lang, &project.display().to_string()]);
        assert!(out.status.success(), "{out:?}");
        let built = Command::new("bash").arg(project.join("build.sh")).output().expect("bash");
        assert!(built.status.success(), "{lang} build failed:\n{}", String::from_utf8_lossy(&built.stderr));
        let wasm = project.join(format!("dist/{lang}-shape.wasm")).display().to_string();
        let out = hookgate(&["component", "run", &wasm, "--input", &input, "--guest-time-ms", "5000"]);
        assert!(out.status.success(), "{lang}: {}", String::from_utf8_lossy(&out.stderr));
        let report = stdout_json(&out);
        let body: Value = serde_json::from_str(report["output"]["send"]["body"].as_str().expect("body")).expect("json");
        assert_eq!(body, json!({"event": "orders", "data": {"order": 7}}), "{lang}");
        assert_eq!(report["logs"][0]["message"], "transformed m1", "{lang}");
    }
}

/// A component built against another major version of the contract (here: an example whose
/// interface names were rewritten to `@0.2.0`) is refused at upload, naming both versions.
#[tokio::test]
async fn a_component_for_another_contract_version_is_refused() {
    let mut wasm = std::fs::read(component_path("adobe-to-json")).expect("read");
    for interface in ["transform", "types", "host"] {
        let (old, new) = (format!("hookgate:plugin/{interface}@0.1.0"), format!("hookgate:plugin/{interface}@0.2.0"));
        let mut at = 0;
        while let Some(i) = wasm[at..].windows(old.len()).position(|w| w == old.as_bytes()) {
            wasm[at + i..at + i + old.len()].copy_from_slice(new.as_bytes());
            at += i + old.len();
        }
    }
    let gw = Gateway::new();
    let message = gw.put_component_bytes("future", wasm).await.assert_error(400, "invalid_component");
    assert!(message.contains("hookgate:plugin@0.2.0") && message.contains("hookgate:plugin@0.1.0"), "{message}");
}

/// The gateway's compiled code is kept between runs: a JavaScript component (a whole
/// interpreter, seconds to compile) starts at once the second time.
#[test]
fn a_second_run_starts_from_the_compile_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("compiled");
    let input = write_input(dir.path(), &json!({"message": {"body": {"data": {"uid": "u1", "event": "e", "value": {"sku": "S1"}}}}}));
    let wasm = component_path("js-adobe-to-json").display().to_string();
    let cache_env = [("HOOKGATE_COMPILE_CACHE", cache.to_str().expect("utf-8 path"))];
    let timed_run = || {
        let started = Instant::now();
        let out = hookgate_env(&["component", "run", &wasm, "--input", &input, "--guest-time-ms", "5000"], &cache_env);
        assert_ok(&out);
        (started.elapsed(), stdout_json(&out))
    };
    let (first, compiled) = timed_run();
    let (second, cached) = timed_run();
    eprintln!("component run of js-adobe-to-json: first {first:?}, second {second:?}");
    assert!(second < Duration::from_secs(1) && second < first / 3, "first {first:?}, second {second:?}");
    assert_eq!(cached["output"], compiled["output"]);
    assert_eq!(cached["logs"], json!([{"level": "info", "message": "transformed u1"}]));
    assert_eq!(std::fs::read_dir(&cache).expect("cache dir").count(), 1, "one compiled component");

    let elsewhere = dir.path().join("unused");
    let unused_env = [("HOOKGATE_COMPILE_CACHE", elsewhere.to_str().expect("utf-8 path"))];
    let rust = component_path("adobe-to-json").display().to_string();
    assert_ok(&hookgate_env(&["component", "run", &rust, "--input", &input, "--no-cache"], &unused_env));
    assert!(!elsewhere.exists(), "--no-cache keeps nothing");
}

/// Without a draft, a transformer gets the one the gateway would build for its target.
#[test]
fn run_drafts_the_request_as_the_gateway_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let wasm = component_path("adobe-to-json").display().to_string();
    let message = json!({"body": {"data": {"uid": "u1", "event": "e", "value": {}}}});
    let run = |input: Value| {
        let out = hookgate(&["component", "run", &wasm, "--input", &write_input(dir.path(), &input)]);
        assert_ok(&out);
        stdout_json(&out)
    };
    let report = run(json!({"message": message}));
    assert_eq!(report["draft"]["method"], "POST", "a target with a transformer: {report}");
    assert_eq!(report["draft"]["url"], "http://127.0.0.1:9000/hook");
    assert_eq!(report["output"]["send"]["method"], "POST");
    let report = run(json!({"message": message, "target": {"url": "https://receiver.example/p", "method": "PUT"}}));
    assert_eq!((report["draft"]["method"].as_str(), report["draft"]["url"].as_str()), (Some("PUT"), Some("https://receiver.example/p")));
    assert_eq!(report["output"]["send"]["method"], "PUT");
    let report = run(json!({"message": message, "target": {"url": "https://r.example/#data.uid#", "headers": {"x-event": "#event.id#"}}}));
    assert_eq!(report["draft"]["url"], "https://r.example/u1", "templates filled in: {report}");

    let out = hookgate(&["component", "run", &wasm, "--input", &write_input(dir.path(), &json!({"message": message, "target": "x"}))]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("input field `target`"), "{}", stderr(&out));
}

/// Every argument of every command says what it is, and a fixed set of values is listed
/// and enforced.
#[test]
fn help_describes_every_argument_and_lists_the_values() {
    let out = hookgate(&["component", "new", "--help"]);
    assert_ok(&out);
    let help = stdout(&out);
    for expected in ["<DIR>", "The directory to create", "- authenticator: ", "- transformer: ", "- condition: ", "- rust: ", "- js: ", "- python: "] {
        assert!(help.contains(expected), "no {expected:?} in:\n{help}");
    }
    let summary = stdout(&hookgate(&["component", "new", "-h"]));
    assert!(summary.contains("[possible values: rust, js, python]"), "{summary}");
    let wrong = hookgate(&["component", "new", "transformr", "x"]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(stderr(&wrong).contains("[possible values: authenticator, transformer, condition]"), "{}", stderr(&wrong));
    let wrong = hookgate(&["component", "new", "transformer", "--lang", "go", "x"]);
    assert!(stderr(&wrong).contains("[possible values: rust, js, python]"), "{}", stderr(&wrong));

    // Every command's short help, from the top: each entry is its name and what it is, on
    // the same line or (when long) indented on the next.
    let mut commands = vec![vec![]];
    while let Some(command) = commands.pop() {
        let out = hookgate(&[command.iter().map(String::as_str).collect(), vec!["-h"]].concat());
        assert_ok(&out);
        let help = stdout(&out);
        let mut section = "";
        let mut lines = help.lines().peekable();
        while let Some(line) = lines.next() {
            let indent = line.len() - line.trim_start().len();
            if indent == 0 {
                section = line;
                continue;
            }
            let (name, inline) = line.trim_start().split_once("  ").unwrap_or((line.trim(), ""));
            let next_line = lines.next_if(|next| next.len() - next.trim_start().len() > indent.max(6)).unwrap_or("");
            match section {
                "Usage:" => {}
                "Commands:" if name != "help" => commands.push([command.clone(), vec![name.to_string()]].concat()),
                _ => assert!(
                    !inline.trim().is_empty() || !next_line.trim().is_empty(),
                    "`hookgate {}`: {name} has no help:\n{help}",
                    command.join(" ")
                ),
            }
        }
    }
}

/// `component new` leaves an input to run the new component on, for each world; here run
/// with the example component of that world.
#[test]
fn new_projects_come_with_a_sample_input_for_their_world() {
    let dir = tempfile::tempdir().expect("tmp");
    for (world, example, expected) in [
        ("authenticator", "hmac-auth", json!({"deny": "hmac-auth: no secret configured"})),
        ("transformer", "hostile-escape", Value::Null),
        ("condition", "json-ok-condition", json!("success")),
    ] {
        let project = dir.path().join(format!("my {world}"));
        let out = hookgate(&["component", "new", world, "--lang", "js", &project.display().to_string()]);
        assert_ok(&out);
        let sample = project.join("sample-input.json");
        let input: Value = serde_json::from_slice(&std::fs::read(&sample).expect("sample input")).expect("JSON");
        let run = next_step(&out, "run");
        let quoted = |path: &Path| format!("'{}'", path.display());
        let wasm = project.join(format!("dist/my-{world}.wasm"));
        assert_eq!(run, format!("{} component run {} --input {}", gateway_bin().display(), quoted(&wasm), quoted(&sample)));
        assert_eq!(next_step(&out, "build"), format!("bash {}", quoted(&project.join("build.sh"))));

        let ran = hookgate(&["component", "run", &component_path(example).display().to_string(), "--input", &sample.display().to_string()]);
        assert_ok(&ran);
        let report = stdout_json(&ran);
        assert_eq!(report["world"], world, "{input}");
        if expected.is_null() {
            assert_eq!(report["output"]["send"]["url"], input["target"]["url"], "{report}");
        } else {
            assert_eq!(report["output"], expected, "{report}");
        }
    }
}

#[test]
fn completions_are_scripts_that_know_the_commands() {
    let out = hookgate(&["completions", "bash"]);
    assert_ok(&out);
    let script = stdout(&out);
    for command in ["serve", "component", "events", "messages", "completions", "--compile-cache"] {
        assert!(script.contains(command), "the bash script does not know {command}");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("hookgate.bash");
    std::fs::write(&file, &script).expect("write");
    let checked = Command::new("bash").arg("-n").arg(&file).output().expect("bash");
    assert_ok(&checked);
    for shell in ["zsh", "fish"] {
        let out = hookgate(&["completions", shell]);
        assert_ok(&out);
        assert!(stdout(&out).contains("messages"), "{shell}: {}", stdout(&out));
    }
    assert_eq!(hookgate(&["completions", "tcsh"]).status.code(), Some(2));
}

/// `hookgate ARGS --url <the gateway> --token <its admin token>`.
fn ask(gw: &Gateway, args: &[&str]) -> Output {
    let url = gw.base_url();
    hookgate(&[args, &["--url", &url, "--token", ADMIN_TOKEN]].concat())
}

/// Where `heading`'s column starts in the table `text` and whether `row_start`'s line has
/// `cell` there.
#[track_caller]
fn assert_aligned(text: &str, heading: &str, row_start: &str, cell: &str) {
    let header = text.lines().next().expect("a header line");
    let row = text.lines().find(|l| l.starts_with(row_start)).unwrap_or_else(|| panic!("no row {row_start} in:\n{text}"));
    let column = header.find(heading).unwrap_or_else(|| panic!("no column {heading} in:\n{text}"));
    assert_eq!(row.get(column..column + cell.len()), Some(cell), "column {heading} of {row_start}:\n{text}");
}

/// The delivery log from the command line: what an operator looks at, and a retry.
#[tokio::test]
async fn events_and_messages_of_a_running_gateway() {
    let gw = Gateway::new();
    let rx = Receiver::start();
    let hook = rx.url("/hook");
    gw.put_event_ok("orders", json!({"targets": [{"id": "t1", "url": hook, "retry": fast_retry(1), "body": "{\"n\": #order#}"}]})).await;
    rx.push(Reply::status(500));
    let id = gw.fire_json("orders", &json!({"order": 7})).await;
    gw.wait_message_status(&id, "failed", DEADLINE).await;

    let events = ask(&gw, &["events", "list"]);
    assert_ok(&events);
    let table = stdout(&events);
    assert_aligned(&table, "ENABLED", "orders", "yes");
    assert_aligned(&table, "TARGETS", "orders", &format!("t1 {hook}"));
    let event = ask(&gw, &["events", "show", "orders"]);
    assert_ok(&event);
    let shown = stdout(&event);
    assert!(shown.lines().any(|l| l.split_whitespace().eq(["event", "orders"])), "{shown}");
    assert_aligned(&shown[shown.find("TARGET").expect("targets")..], "METHOD", "t1", "POST");

    let listed = ask(&gw, &["messages", "list", "--json"]);
    assert_ok(&listed);
    let page = stdout_json(&listed);
    assert_eq!(page["messages"][0]["message_id"], id.as_str(), "{page}");
    assert_eq!(page["messages"][0]["deliveries"][0]["status"], "failed", "{page}");
    let filtered = |filters: &[&str]| stdout_json(&ask(&gw, &[&["messages", "list", "--json"], filters].concat()))["messages"].clone();
    assert_eq!(filtered(&["--status", "failed", "--event", "orders", "--target", "t1"]).as_array().map(Vec::len), Some(1));
    assert_eq!(filtered(&["--status", "delivered"]), json!([]));
    assert_eq!(filtered(&["--event", "other"]), json!([]));
    assert_eq!(filtered(&["--since", &(unix_ms(std::time::SystemTime::now()) + 60_000).to_string()]), json!([]));
    let table = stdout(&ask(&gw, &["messages", "list", "--limit", "5"]));
    assert_aligned(&table, "STATUS", &id, "failed");
    assert_aligned(&table, "DELIVERIES", &id, "t1 failed (1 attempt)");
    assert_aligned(&table, "EVENT", &id, "orders");

    let message = stdout(&ask(&gw, &["messages", "show", &id]));
    assert!(message.lines().any(|l| l.split_whitespace().eq(["status", "failed"])), "{message}");
    let attempts = &message[message.rfind("TARGET").expect("attempts table")..];
    assert_aligned(attempts, "METHOD", "t1", "POST");
    assert_aligned(attempts, "URL", "t1", &hook);
    assert!(attempts.contains("500"), "{message}");

    let retried = ask(&gw, &["messages", "retry", &id]);
    assert_ok(&retried);
    assert_eq!(stdout(&retried), format!("message {id}: 1 failed delivery queued again\n"));
    gw.wait_message_status(&id, "delivered", DEADLINE).await;
    assert_eq!(rx.count(), 2);
    assert_eq!(rx.requests()[1].json(), json!({"n": 7}));

    // The address and token from the environment, as a shell profile would set them.
    let url = gw.base_url();
    let from_env = hookgate_env(&["messages", "show", &id, "--json"], &[("HOOKGATE_URL", &url), ("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)]);
    assert_eq!(stdout_json(&from_env)["status"], "delivered");

    let wrong_token = hookgate(&["events", "list", "--url", &url, "--token", "not-the-token"]);
    assert!(!wrong_token.status.success());
    assert!(stderr(&wrong_token).starts_with("error: unauthorized: "), "{}", stderr(&wrong_token));
    assert!(stdout(&wrong_token).is_empty());
    let unknown = ask(&gw, &["messages", "show", "msg_unknown"]);
    assert_eq!(stderr(&unknown).trim(), "error: message_not_found: message `msg_unknown` does not exist");
    let down = Receiver::down_reserved();
    let refused = hookgate(&["events", "list", "--url", &down.url("")]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains(&down.url("/v1/admin/events")), "{}", stderr(&refused));
}

/// What the gateway printed (not the test kit's notes) once its start log is complete; its
/// standard output, where it announces its address, may come before its log.
fn start_output(gw: &Gateway) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let output: Vec<String> = gw.logs().lines().filter(|l| l.starts_with("[#")).map(str::to_string).collect();
        let output = output.join("\n");
        if output.contains("gateway started") {
            return output;
        }
        assert!(Instant::now() < deadline, "no `gateway started` in:\n{output}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The start log says which admin token is in effect and where it came from, never the token.
#[test]
fn the_start_log_names_the_admin_token_in_effect() {
    let dir = tempfile::tempdir().expect("tmp");
    let file_token = "file-token-0123456789";
    std::fs::write(dir.path().join("admin-token"), file_token).expect("write");

    let mut gw = Gateway::start(GatewayOpts::default().data_dir(dir.path()));
    let log = start_output(&gw);
    let file = dir.path().join("admin-token").display().to_string();
    assert!(log.contains(&format!("admin token: HOOKGATE_ADMIN_TOKEN is in effect; the token in {file} is NOT")), "{log}");
    assert!(!log.contains(ADMIN_TOKEN) && !log.contains(file_token), "{log}");
    gw.kill();

    let no_env = GatewayOpts { env: vec![("HOOKGATE_ADMIN_TOKEN".into(), "".into())], ..GatewayOpts::default() };
    let gw = Gateway::start(no_env.clone().data_dir(dir.path()));
    let log = start_output(&gw);
    assert!(log.contains(&format!("admin token: from {file}")), "{log}");
    assert!(!log.contains(file_token), "{log}");

    let fresh = Gateway::start(no_env);
    let log = start_output(&fresh);
    assert!(log.contains("admin token: generated and kept in"), "{log}");
    let generated = std::fs::read_to_string(fresh.data_dir().join("admin-token")).expect("generated token");
    assert_eq!(log.matches(generated.trim()).count(), 1, "printed once: {log}");
}

/// Colour codes are for terminals; a log read from a pipe or a file has none, even when
/// colours were not turned off (`NO_COLOR` empty).
#[test]
fn the_log_has_no_colour_codes_in_a_pipe() {
    let gw = Gateway::start(GatewayOpts { env: vec![("NO_COLOR".into(), "".into())], ..GatewayOpts::default() });
    let log = start_output(&gw);
    assert!(!log.contains("\x1b["), "{log}");
}

/// `store backup` of a store its gateway is using (through the gateway) and of one no
/// gateway holds (directly); `serve --restore` starts from either with the configuration,
/// components, messages, pending deliveries and idempotency keys of that moment.
#[tokio::test]
async fn a_running_store_is_backed_up_and_a_new_gateway_starts_from_the_backup() {
    let mut rx = Receiver::down_reserved();
    let mut gw = Gateway::new();
    gw.install("hmac-auth").await;
    let retry = json!({"max_attempts": 50, "initial_delay_ms": 200, "max_delay_ms": 500});
    // No breaker: a pause it took before the backup would hold the restored deliveries back.
    let erp = json!({"id": "erp", "method": "POST", "url": rx.url("/erp"), "retry": retry, "circuit_breaker": {"failure_threshold": 0}});
    gw.put_event_ok("orders", json!({"targets": [erp]})).await;
    let keyed = [("content-type", "application/json"), ("idempotency-key", "kept-key")];
    let mut ids = vec![accepted_message_id(&gw.fire_with("orders", r#"{"n":0}"#, &keyed).await)];
    for n in 1..5 {
        ids.push(gw.fire_json("orders", &json!({"n": n})).await);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let backup = dir.path().join("running.backup");
    let data_dir = gw.data_dir().display().to_string();
    let out = hookgate_env(&["store", "backup", "--data-dir", &data_dir, "--out", &backup.display().to_string()], &[("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)]);
    assert_ok(&out);
    assert!(stdout(&out).contains("from the gateway"), "{}", stdout(&out));
    let later = gw.fire_json("orders", &json!({"n": "after the backup"})).await;
    gw.kill();

    // A damaged backup is refused whole; so is a data directory that holds a store.
    let bytes = std::fs::read(&backup).expect("the backup");
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
    let refused = hookgate(&["serve", "--data-dir", &dir.path().join("cut").display().to_string(), "--restore", &cut.display().to_string()]);
    assert!(!refused.status.success() && stderr(&refused).contains("cut short or damaged"), "{}", stderr(&refused));
    let refused = hookgate(&["serve", "--data-dir", &data_dir, "--restore", &backup.display().to_string()]);
    assert!(!refused.status.success() && stderr(&refused).contains("already holds a store"), "{}", stderr(&refused));

    let restored_dir = dir.path().join("restored");
    let restored = Gateway::start(GatewayOpts::default().data_dir(&restored_dir).args(["--restore", &backup.display().to_string()]));
    assert_eq!(restored.component("hmac-auth").await.status, 200, "components came along");
    assert_eq!(restored.admin_get(&format!("/v1/admin/messages/{later}")).await.status, 404, "fired after the backup");
    let repeat = restored.fire_with("orders", r#"{"n":0}"#, &keyed).await;
    assert_eq!(accepted_message_id(&repeat), ids[0], "idempotency keys came along");
    rx.up();
    for id in &ids {
        restored.wait_message_status(id, "delivered", DEADLINE).await;
    }

    // With no gateway on it, the store is backed up directly (the killed one left its
    // address behind: it is not asked).
    let offline = dir.path().join("offline.backup");
    let out = hookgate(&["store", "backup", "--data-dir", &data_dir, "--out", &offline.display().to_string()]);
    assert_ok(&out);
    assert!(stdout(&out).contains("from the store"), "{}", stdout(&out));
    let again = Gateway::start(GatewayOpts::default().data_dir(dir.path().join("again")).args(["--restore", &offline.display().to_string()]));
    again.message(&later).await;
    assert_eq!(again.event("orders").await.status, 200);
}
