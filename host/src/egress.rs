//! Where deliveries may go. A webhook URL is chosen by whoever configures a target, so the
//! gateway must not become a way into its own network: every address that the IANA
//! special-purpose registries do not mark globally reachable (loopback, private, link-local
//! with cloud metadata at 169.254.169.254, shared, benchmarking, documentation, protocol
//! assignments, ...) is refused, and so are multicast and everything else that is not global
//! unicast, unless an operator allow-lists it. IPv6 forms that carry an IPv4 address are
//! judged by that address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4) or refused outright
//! (Teredo, local-use NAT64, IPv4-compatible and -translated). The check runs on the
//! addresses a name resolves to, inside the HTTP client's resolver, so the address checked
//! is the address connected to and DNS rebinding cannot slip past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The networks an operator allows on top of the public internet.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    pub allowed: Vec<IpNet>,
}

/// A delivery to an address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {why}; deliveries there are refused (see --allow-target-net)")]
pub struct Forbidden {
    pub host: String,
    pub ip: IpAddr,
    pub why: String,
}

impl EgressPolicy {
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Forbidden> {
        // An IPv4-mapped address is its IPv4 address on a dual-stack socket, so an allowed
        // IPv4 network allows it too; the other carrying forms go through a relay or a
        // translator and need their own entry.
        let same_address = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |ip: IpAddr| self.allowed.iter().any(|net| net.contains(&ip));
        if allowed(ip) || same_address.is_some_and(allowed) {
            return Ok(());
        }
        match why_not_global(ip) {
            Some(why) => Err(Forbidden { host: host.to_string(), ip, why }),
            None => Ok(()),
        }
    }
}

/// How the registries treat a block of addresses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reach {
    Global,
    NotGlobal,
    /// The address carries an IPv4 address, which decides.
    CarriesV4,
}

/// One entry of the IANA IPv4 or IPv6 Special-Purpose Address Registry (2025 edition), or
/// a block another registry or RFC sets apart (multicast, deprecated forms).
struct Block {
    net: IpNet,
    name: &'static str,
    reach: Reach,
}

static BLOCKS: LazyLock<Vec<Block>> = LazyLock::new(|| {
    use Reach::*;
    [
        // IPv4 Special-Purpose Address Registry.
        ("0.0.0.0/8", "\"this network\"", NotGlobal),
        ("0.0.0.0/32", "\"this host on this network\"", NotGlobal),
        ("10.0.0.0/8", "private-use", NotGlobal),
        ("100.64.0.0/10", "shared (carrier-grade NAT)", NotGlobal),
        ("127.0.0.0/8", "loopback", NotGlobal),
        ("169.254.0.0/16", "link-local", NotGlobal),
        ("172.16.0.0/12", "private-use", NotGlobal),
        ("192.0.0.0/24", "IETF protocol assignments", NotGlobal),
        ("192.0.0.0/29", "IPv4 service continuity", NotGlobal),
        ("192.0.0.8/32", "IPv4 dummy", NotGlobal),
        ("192.0.0.9/32", "PCP anycast", Global),
        ("192.0.0.10/32", "TURN anycast", Global),
        ("192.0.0.170/32", "NAT64/DNS64 discovery", NotGlobal),
        ("192.0.0.171/32", "NAT64/DNS64 discovery", NotGlobal),
        ("192.0.2.0/24", "documentation (TEST-NET-1)", NotGlobal),
        ("192.31.196.0/24", "AS112-v4", Global),
        ("192.52.193.0/24", "AMT", Global),
        ("192.88.99.0/24", "deprecated 6to4 relay anycast", NotGlobal),
        ("192.88.99.2/32", "6a44 relay anycast", NotGlobal),
        ("192.168.0.0/16", "private-use", NotGlobal),
        ("192.175.48.0/24", "AS112 direct delegation", Global),
        ("198.18.0.0/15", "benchmarking", NotGlobal),
        ("198.51.100.0/24", "documentation (TEST-NET-2)", NotGlobal),
        ("203.0.113.0/24", "documentation (TEST-NET-3)", NotGlobal),
        ("240.0.0.0/4", "reserved", NotGlobal),
        ("255.255.255.255/32", "limited broadcast", NotGlobal),
        // IPv4 multicast (its own registry).
        ("224.0.0.0/4", "multicast", NotGlobal),
        // IPv6 Special-Purpose Address Registry.
        ("::1/128", "loopback", NotGlobal),
        ("::/128", "unspecified", NotGlobal),
        ("::ffff:0:0/96", "IPv4-mapped", CarriesV4),
        ("64:ff9b::/96", "NAT64 well-known prefix", CarriesV4),
        ("64:ff9b:1::/48", "local-use NAT64", NotGlobal),
        ("100::/64", "discard-only", NotGlobal),
        ("100:0:0:1::/64", "dummy IPv6 prefix", NotGlobal),
        ("2001::/23", "IETF protocol assignments", NotGlobal),
        ("2001::/32", "Teredo", NotGlobal),
        ("2001:1::1/128", "PCP anycast", Global),
        ("2001:1::2/128", "TURN anycast", Global),
        ("2001:1::3/128", "DNS-SD SRP anycast", Global),
        ("2001:2::/48", "benchmarking", NotGlobal),
        ("2001:3::/32", "AMT", Global),
        ("2001:4:112::/48", "AS112-v6", Global),
        ("2001:10::/28", "deprecated ORCHID", NotGlobal),
        ("2001:20::/28", "ORCHIDv2", Global),
        ("2001:30::/28", "drone remote ID entity tags", Global),
        ("2001:db8::/32", "documentation", NotGlobal),
        ("2002::/16", "6to4", CarriesV4),
        ("2620:4f:8000::/48", "AS112 direct delegation", Global),
        ("3fff::/20", "documentation", NotGlobal),
        ("5f00::/16", "SRv6 SIDs", NotGlobal),
        ("fc00::/7", "unique-local", NotGlobal),
        ("fe80::/10", "link-local", NotGlobal),
        // Set apart elsewhere: multicast, deprecated site-local (RFC 3879), IPv4-compatible
        // (RFC 4291) and IPv4-translated (RFC 2765) addresses.
        ("ff00::/8", "multicast", NotGlobal),
        ("fec0::/10", "site-local", NotGlobal),
        ("::/96", "IPv4-compatible", NotGlobal),
        ("::ffff:0:0:0/96", "IPv4-translated", NotGlobal),
    ]
    .into_iter()
    .map(|(net, name, reach)| Block { net: net.parse().expect("a CIDR of the table"), name, reach })
    .collect()
});

/// The most specific block `ip` falls in: nested entries (192.0.0.9/32 in 192.0.0.0/24)
/// override the larger ones.
fn block_of(ip: IpAddr) -> Option<&'static Block> {
    BLOCKS.iter().filter(|b| b.net.contains(&ip)).max_by_key(|b| b.net.prefix_len())
}

/// Why `ip` is not a globally reachable unicast address, or `None` when it is.
fn why_not_global(ip: IpAddr) -> Option<String> {
    let global_unicast_v6 = |v6: Ipv6Addr| v6.segments()[0] & 0xe000 == 0x2000;
    match (block_of(ip), ip) {
        (Some(block), _) if block.reach == Reach::Global => None,
        (Some(block), IpAddr::V6(v6)) if block.reach == Reach::CarriesV4 => {
            let v4 = carried_v4(v6)?;
            why_not_global(IpAddr::V4(v4)).map(|why| format!("a {} address carrying {v4}, {why}", block.name))
        }
        (Some(block), _) => Some(format!("a {} address ({})", block.name, block.net)),
        (None, IpAddr::V6(v6)) if !global_unicast_v6(v6) => {
            Some("an address outside IPv6 global unicast (2000::/3), reserved by the IETF".into())
        }
        (None, _) => None,
    }
}

/// The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address carries.
fn carried_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let block = block_of(IpAddr::V6(ip)).filter(|b| b.reach == Reach::CarriesV4)?;
    let bits = u128::from(ip);
    let v4 = match block.net.prefix_len() {
        16 => (bits >> 80) as u32, // 6to4: 2002:AABB:CCDD::/48
        _ => bits as u32,          // the last 32 bits
    };
    Some(Ipv4Addr::from(v4))
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

    /// The IANA IPv4 and IPv6 Special-Purpose Address Registries as published (address
    /// block, name, "Globally Reachable"; N/A where the registry says so), plus multicast.
    const REGISTRIES: &str = "\
        0.0.0.0/8, \"This network\", False
        0.0.0.0/32, \"This host on this network\", False
        10.0.0.0/8, Private-Use, False
        100.64.0.0/10, Shared Address Space, False
        127.0.0.0/8, Loopback, False
        169.254.0.0/16, Link Local, False
        172.16.0.0/12, Private-Use, False
        192.0.0.0/24, IETF Protocol Assignments, False
        192.0.0.0/29, IPv4 Service Continuity Prefix, False
        192.0.0.8/32, IPv4 dummy address, False
        192.0.0.9/32, Port Control Protocol Anycast, True
        192.0.0.10/32, Traversal Using Relays around NAT Anycast, True
        192.0.0.170/32, NAT64/DNS64 Discovery, False
        192.0.0.171/32, NAT64/DNS64 Discovery, False
        192.0.2.0/24, Documentation (TEST-NET-1), False
        192.31.196.0/24, AS112-v4, True
        192.52.193.0/24, AMT, True
        192.88.99.0/24, Deprecated (6to4 Relay Anycast), False
        192.88.99.2/32, 6a44-relay anycast address, False
        192.168.0.0/16, Private-Use, False
        192.175.48.0/24, Direct Delegation AS112 Service, True
        198.18.0.0/15, Benchmarking, False
        198.51.100.0/24, Documentation (TEST-NET-2), False
        203.0.113.0/24, Documentation (TEST-NET-3), False
        240.0.0.0/4, Reserved, False
        255.255.255.255/32, Limited Broadcast, False
        224.0.0.0/4, Multicast, False
        ::1/128, Loopback Address, False
        ::/128, Unspecified Address, False
        ::ffff:0:0/96, IPv4-mapped Address, False
        64:ff9b::/96, IPv4-IPv6 Translat., True
        64:ff9b:1::/48, IPv4-IPv6 Translat., False
        100::/64, Discard-Only Address Block, False
        100:0:0:1::/64, Dummy IPv6 Prefix, False
        2001::/23, IETF Protocol Assignments, False
        2001::/32, TEREDO, N/A
        2001:1::1/128, Port Control Protocol Anycast, True
        2001:1::2/128, Traversal Using Relays around NAT Anycast, True
        2001:1::3/128, DNS-SD Service Registration Protocol Anycast, True
        2001:2::/48, Benchmarking, False
        2001:3::/32, AMT, True
        2001:4:112::/48, AS112-v6, True
        2001:10::/28, Deprecated (previously ORCHID), False
        2001:20::/28, ORCHIDv2, True
        2001:30::/28, Drone Remote ID Protocol Entity Tags (DETs) Prefix, True
        2001:db8::/32, Documentation, False
        2002::/16, 6to4, N/A
        2620:4f:8000::/48, Direct Delegation AS112 Service, True
        3fff::/20, Documentation, False
        5f00::/16, Segment Routing (SRv6) SIDs, False
        fc00::/7, Unique-Local, False
        fe80::/10, Link-Local Unicast, False
        ff00::/8, Multicast, False";

    struct Row {
        net: IpNet,
        name: String,
        global: Option<bool>,
    }

    fn registries() -> Vec<Row> {
        REGISTRIES
            .lines()
            .map(|line| {
                let mut fields = line.trim().splitn(2, ", ");
                let net = fields.next().unwrap().parse().unwrap();
                let (name, global) = fields.next().unwrap().rsplit_once(", ").unwrap();
                let global = match global {
                    "True" => Some(true),
                    "False" => Some(false),
                    _ => None,
                };
                Row { net, name: name.to_string(), global }
            })
            .collect()
    }

    fn refused(ip: IpAddr) -> bool {
        EgressPolicy::default().check("h", ip).is_err()
    }

    /// The entries whose addresses carry an IPv4 address.
    const CARRIERS: [&str; 3] = ["::ffff:0:0/96", "64:ff9b::/96", "2002::/16"];

    /// The first, a middle and the last address of every entry is refused exactly when the
    /// registry says it is not globally reachable, or when a more specific entry holding
    /// that address says so. The samples of the entries that carry an IPv4 address carry
    /// 0.0.0.0, 127.255.255.255 and 255.255.255.255, none of them global, so they are
    /// refused too (public ones pass: the next test).
    #[test]
    fn every_registry_entry_is_judged_as_the_registry_says() {
        let rows = registries();
        let mut checked = 0;
        for row in &rows {
            let (first, last) = (row.net.network(), row.net.broadcast());
            let middle = match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) / 2 + u32::from(b) / 2)),
                (IpAddr::V6(a), IpAddr::V6(b)) => IpAddr::V6(Ipv6Addr::from(u128::from(a) / 2 + u128::from(b) / 2)),
                _ => unreachable!("a network and its broadcast are of one family"),
            };
            for ip in [first, middle, last] {
                let decider = rows.iter().filter(|r| r.net.contains(&ip)).max_by_key(|r| r.net.prefix_len()).unwrap();
                let carrier = CARRIERS.iter().any(|c| c.parse::<IpNet>().unwrap() == decider.net);
                let expect_refused = carrier || decider.global != Some(true);
                assert_eq!(refused(ip), expect_refused, "{ip} ({}, {})", decider.name, decider.net);
                checked += 1;
            }
        }
        assert_eq!(checked, rows.len() * 3);
    }

    #[test]
    fn addresses_that_carry_ipv4_are_judged_by_it_or_refused() {
        for (ip, refused_expected) in [
            ("::ffff:127.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:8.8.8.8", false),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", false),
            ("64:ff9b:1::808:808", true),     // local-use NAT64: refused whatever it carries
            ("2002:7f00:1::", true),          // 6to4 around 127.0.0.1
            ("2002:c612:1::1", true),         // 6to4 around 198.18.0.1
            ("2002:0808:0808::1", false),     // 6to4 around 8.8.8.8
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", true), // Teredo
            ("::7f00:1", true),               // IPv4-compatible
            ("::808:808", true),
            ("::ffff:0:808:808", true),       // IPv4-translated
        ] {
            assert_eq!(refused(ip.parse().unwrap()), refused_expected, "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass_and_unallocated_ipv6_does_not() {
        for ip in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "198.20.0.1", "2606:4700::1111", "2a00:1450::1"] {
            assert!(!refused(ip.parse().unwrap()), "{ip} should pass");
        }
        for ip in ["4000::1", "e000::1", "1::1"] {
            assert!(refused(ip.parse().unwrap()), "{ip} should be refused");
        }
    }

    #[test]
    fn allow_listed_networks_pass() {
        let policy = EgressPolicy { allowed: vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()] };
        for ip in ["127.0.0.1", "fd00::5", "::ffff:127.0.0.1"] {
            assert!(policy.check("h", ip.parse().unwrap()).is_ok(), "{ip}");
        }
        let err = policy.check("h", "2002:7f00:1::".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("a 6to4 address carrying 127.0.0.1, a loopback address"), "{err}");
        let err = policy.check("metadata", "169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("metadata resolves to 169.254.169.254, a link-local address"), "{err}");
        let err = policy.check("h", "2002:c612:1::1".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("a 6to4 address carrying 198.18.0.1, a benchmarking address"), "{err}");
    }
}
