//! Where deliveries may go. A webhook URL is chosen by whoever configures a target, so the
//! gateway must not become a way into its own network: loopback, private, link-local
//! (cloud metadata at 169.254.169.254), multicast and unspecified addresses are refused
//! unless an operator allow-lists them. The check runs on the addresses a name resolves
//! to, inside the HTTP client's resolver, so the address checked is the address connected
//! to and DNS rebinding cannot slip past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The networks an operator allows on top of the public internet.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    pub allowed: Vec<IpNet>,
}

/// A delivery to an address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, a {kind} address; deliveries there are refused (see --allow-target-net)")]
pub struct Forbidden {
    pub host: String,
    pub ip: IpAddr,
    pub kind: &'static str,
}

impl EgressPolicy {
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Forbidden> {
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match special_kind(ip) {
            Some(kind) => Err(Forbidden { host: host.to_string(), ip, kind }),
            None => Ok(()),
        }
    }
}

/// What makes an address non-public, if anything. IPv4 addresses embedded in IPv6
/// (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`) are judged as IPv4.
fn special_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    match () {
        _ if ip.is_loopback() => Some("loopback"),
        _ if ip.is_unspecified() || a == 0 => Some("unspecified"),
        _ if ip.is_private() => Some("private"),
        _ if ip.is_link_local() => Some("link-local"),
        _ if a == 100 && (64..128).contains(&b) => Some("shared (carrier-grade NAT)"),
        _ if ip.is_multicast() => Some("multicast"),
        _ if ip.is_broadcast() || a >= 240 => Some("reserved"),
        _ => None,
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    match () {
        _ if ip.is_loopback() => Some("loopback"),
        _ if ip.is_unspecified() => Some("unspecified"),
        _ if ip.is_multicast() => Some("multicast"),
        _ if first & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        _ if first & 0xffc0 == 0xfe80 => Some("link-local"),
        _ if first & 0xffc0 == 0xfec0 => Some("site-local"),
        _ => None,
    }
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || compatible || nat64).then_some(tail)
}

/// The HTTP client's resolver: the system's lookup, then the policy on every address.
/// A name with any refused address is refused whole, so that a client retrying another
/// address cannot end up on the refused one.
pub struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let addrs: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (lookup.as_str(), 0).to_socket_addrs().map(Iterator::collect))
                    .await??;
            for addr in &addrs {
                policy.check(&host, addr.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        EgressPolicy::default().check("h", ip.parse().unwrap()).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1", "127.8.8.8", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
            "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
            "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "::7f00:1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn allow_listed_networks_pass() {
        let policy = EgressPolicy { allowed: vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()] };
        assert!(policy.check("h", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("h", "fd00::5".parse().unwrap()).is_ok());
        let err = policy.check("metadata", "169.254.169.254".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind, "link-local");
        assert!(err.to_string().contains("metadata resolves to 169.254.169.254"));
    }
}
