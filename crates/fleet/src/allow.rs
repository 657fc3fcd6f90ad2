//! Which targets a worker may load. A worker is a load generator that
//! anyone with access to its NATS subjects can aim: it loads only targets
//! its `--allow-target` patterns name, and without any, only loopback, so
//! it can never be turned on a third party.
//!
//! A pattern is a host name (`api.internal`), a name with a leading
//! wildcard (`*.internal`), either with a port (`api.internal:8080`), an
//! address or network (`10.0.0.7`, `10.0.0.0/8`, `::1`), or `*` (any
//! target: an explicit choice). A network pattern holds when every address
//! the target's name resolves to lies inside it, so a name cannot point
//! a worker elsewhere.

use std::net::IpAddr;

/// One `--allow-target` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Any target.
    Any,
    /// A host name, `*.` for any subdomain, with an optional port.
    Name {
        /// Lower-case name; a leading `*.` matches any subdomain.
        name: String,
        /// Only this port, when given.
        port: Option<u16>,
    },
    /// An address or network.
    Net {
        /// The network's address.
        addr: IpAddr,
        /// Its prefix length.
        prefix: u8,
    },
}

impl std::str::FromStr for Pattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(Pattern::Any);
        }
        if text.is_empty() {
            return Err("an empty --allow-target pattern".into());
        }
        let (addr_text, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        if let Ok(addr) = addr_text.trim_matches(['[', ']']).parse::<IpAddr>() {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|&p| p <= max)
                    .ok_or_else(|| format!("'{text}': the prefix must be 0 to {max}"))?,
            };
            return Ok(Pattern::Net { addr, prefix });
        }
        if prefix.is_some() {
            return Err(format!("'{text}': a /prefix needs an IP address before it"));
        }
        let (name, port) = match text.rsplit_once(':') {
            Some((name, port)) => (
                name,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("'{text}': '{port}' is not a port"))?,
                ),
            ),
            None => (text, None),
        };
        let bare = name.strip_prefix("*.").unwrap_or(name);
        if bare.is_empty()
            || !bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!("'{text}' is not a host name, address or network"));
        }
        Ok(Pattern::Name {
            name: name.to_ascii_lowercase(),
            port,
        })
    }
}

impl Pattern {
    fn allows(&self, host: &str, port: u16, addrs: &[IpAddr]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Name { name, port: only } => {
                let host = host.to_ascii_lowercase();
                let name_matches = match name.strip_prefix("*.") {
                    Some(suffix) => host
                        .strip_suffix(suffix)
                        .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                    None => host == *name,
                };
                name_matches && only.is_none_or(|p| p == port)
            }
            Pattern::Net { addr, prefix } => {
                !addrs.is_empty() && addrs.iter().all(|a| in_network(*a, *addr, *prefix))
            }
        }
    }
}

fn in_network(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (a, net, bits) = match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (a >> shift) == (net >> shift)
}

/// A worker's `--allow-target` patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<Pattern>);

impl AllowList {
    /// Whether the target (its host as written, port, and the addresses it
    /// resolves to) may be loaded. No patterns: loopback only.
    pub fn allows(&self, host: &str, port: u16, addrs: &[IpAddr]) -> bool {
        if self.0.is_empty() {
            return !addrs.is_empty() && addrs.iter().all(IpAddr::is_loopback);
        }
        self.0.iter().any(|p| p.allows(host, port, addrs))
    }

    /// The patterns as the refusal names them.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            "loopback only (no --allow-target given)".into()
        } else {
            self.0
                .iter()
                .map(|p| match p {
                    Pattern::Any => "*".to_string(),
                    Pattern::Name { name, port: None } => name.clone(),
                    Pattern::Name {
                        name,
                        port: Some(port),
                    } => format!("{name}:{port}"),
                    Pattern::Net { addr, prefix } => format!("{addr}/{prefix}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> AllowList {
        AllowList(patterns.iter().map(|p| p.parse().unwrap()).collect())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_patterns_only_loopback_is_allowed() {
        let none = AllowList::default();
        assert!(none.allows("localhost", 80, &[ip("127.0.0.1"), ip("::1")]));
        assert!(!none.allows("example.com", 80, &[ip("93.184.215.14")]));
        // A name that resolves partly elsewhere is refused.
        assert!(!none.allows("mixed", 80, &[ip("127.0.0.1"), ip("10.0.0.1")]));
        assert!(!none.allows("nothing", 80, &[]));
    }

    #[test]
    fn names_wildcards_ports_and_networks() {
        let allow = list(&["api.internal:8080", "*.svc.local", "10.0.0.0/8"]);
        assert!(allow.allows("API.internal", 8080, &[ip("192.168.1.1")]));
        assert!(!allow.allows("api.internal", 80, &[ip("192.168.1.1")]));
        assert!(allow.allows("db.svc.local", 5432, &[ip("172.16.0.1")]));
        assert!(!allow.allows("svc.local", 5432, &[ip("172.16.0.1")]));
        assert!(!allow.allows("evilsvc.local", 5432, &[ip("172.16.0.1")]));
        assert!(allow.allows("anything", 1, &[ip("10.1.2.3")]));
        assert!(!allow.allows("anything", 1, &[ip("10.1.2.3"), ip("11.0.0.1")]));
        assert!(list(&["*"]).allows("example.com", 443, &[ip("93.184.215.14")]));
        assert!(list(&["::1"]).allows("localhost", 1, &[ip("::1")]));
        assert!(!list(&["::1"]).allows("localhost", 1, &[ip("127.0.0.1")]));
        assert_eq!(
            allow.describe(),
            "api.internal:8080, *.svc.local, 10.0.0.0/8"
        );
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        assert!("10.0.0.0/40"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("prefix"));
        assert!("host:http"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("not a port"));
        assert!("a b"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("not a host name"));
        assert!("name/8"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("IP address"));
    }
}
