//! Egress: addresses of the IANA special-purpose registries are refused whether a target
//! names them, a redirect leads to them or a transformer rewrites the URL to them. The test
//! runs in a network namespace of its own ([`in_own_network`]) with real receivers on those
//! addresses, so it can tell that nothing reached them and no packet can leave the machine.

use hookgate_tests::serde_json::json;
use hookgate_tests::*;

/// Benchmarking, IETF protocol assignments, 6to4 around 127.0.0.1, Teredo, local-use NAT64.
const TRAPS: [&str; 5] = ["198.18.0.1", "192.0.0.1", "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "64:ff9b:1::a00:1"];

#[tokio::test]
async fn special_purpose_addresses_are_refused_directly_after_a_redirect_and_from_a_transformer() {
    let addresses: Vec<String> =
        TRAPS.iter().map(|a| if a.contains(':') { format!("{a}/128") } else { format!("{a}/32") }).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    if !in_own_network("special_purpose_addresses_are_refused_directly_after_a_redirect_and_from_a_transformer", &addresses) {
        return;
    }
    let gw = Gateway::new(); // loopback (127.0.0.0/8) allowed, nothing else
    gw.install("hostile-retarget").await;
    let traps: Vec<Receiver> = TRAPS.iter().map(|a| Receiver::start_on(a.parse().expect("an address"))).collect();
    let trap_urls: Vec<String> = traps.iter().map(|t| t.url("/stolen")).collect();
    let control = Receiver::start();
    let hops = trap_urls.clone();
    control.respond_with(move |r| match r.path.strip_prefix("/to/").and_then(|i| i.parse::<usize>().ok()) {
        Some(i) => Reply::status(307).header("location", &hops[i]),
        None => Reply::ok(),
    });
    let mut fired = Vec::new();
    for (i, url) in trap_urls.iter().enumerate() {
        let cases = [
            ("direct", json!({"id": "t", "method": "POST", "url": url, "retry": fast_retry(2)})),
            ("redirect", json!({"id": "t", "method": "POST", "url": control.url(&format!("/to/{i}")),
                "follow_redirects": true, "retry": fast_retry(2)})),
            ("transformer", json!({"id": "t", "url": control.url("/ok"), "retry": fast_retry(2),
                "transformer": {"component": "hostile-retarget", "config": {"url": url}}})),
        ];
        for (how, target) in cases {
            let event = format!("{how}-{i}");
            gw.put_event_ok(&event, json!({"targets": [target]})).await;
            fired.push((format!("{how} to {url}"), gw.fire_json(&event, &json!({"n": i})).await));
        }
    }
    for (case, id) in &fired {
        let m = gw.wait_message_status(id, "failed", DEADLINE).await;
        let attempts = attempts(&m, 0);
        assert_eq!(attempts.len(), 1, "{case}: refused at once, not retried: {m}");
        assert_eq!(attempts[0]["error"]["code"], "forbidden_target", "{case}: {m}");
    }
    for (trap, address) in traps.iter().zip(TRAPS) {
        assert_eq!(trap.count(), 0, "{address} was reached");
    }
    let first_hops = control.requests().iter().filter(|r| r.path.starts_with("/to/")).count();
    assert_eq!(first_hops, TRAPS.len(), "each redirect case made its first, allowed hop");
    assert!(control.requests_to("/ok").is_empty(), "the transformer's rewrite replaced the allowed URL");
}
