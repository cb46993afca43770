//! A test alone in a network namespace of its own.

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
