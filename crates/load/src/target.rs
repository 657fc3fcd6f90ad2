//! Parsing and resolving a load target given as a URL. The scheme picks the
//! driver: `http`, `https`, `ws`, `wss`, `tcp`, `redis`, `postgres`
//! (`postgresql`) and `nats`.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Protocol, from the URL's scheme.
    pub scheme: Scheme,
    /// Host name or address as written (without brackets for IPv6).
    pub host: String,
    /// Port (the scheme's default when not written).
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path_and_query: String,
    /// The URL as given, with any user-info removed.
    pub display: String,
    /// User name from the URL's user-info (percent-decoded).
    pub user: Option<String>,
    /// Password from the URL's user-info (percent-decoded); never displayed.
    pub password: Option<String>,
}

/// The protocol of a target, named by its URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HTTP over plain TCP.
    Http,
    /// HTTP over TLS.
    Https,
    /// WebSocket over plain TCP.
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// Raw TCP: connect, optionally write and read back a payload.
    Tcp,
    /// Redis (RESP).
    Redis,
    /// PostgreSQL.
    Postgres,
    /// NATS.
    Nats,
}

impl Scheme {
    /// Every scheme with its URL spellings and default port (`None`: the URL must give one).
    const TABLE: [(Scheme, &'static [&'static str], Option<u16>); 8] = [
        (Scheme::Http, &["http"], Some(80)),
        (Scheme::Https, &["https"], Some(443)),
        (Scheme::Ws, &["ws"], Some(80)),
        (Scheme::Wss, &["wss"], Some(443)),
        (Scheme::Tcp, &["tcp"], None),
        (Scheme::Redis, &["redis"], Some(6379)),
        (Scheme::Postgres, &["postgres", "postgresql"], Some(5432)),
        (Scheme::Nats, &["nats"], Some(4222)),
    ];

    fn from_name(name: &str) -> Option<Scheme> {
        Scheme::TABLE
            .iter()
            .find(|(_, names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(scheme, _, _)| *scheme)
    }

    /// The URL spelling.
    pub fn as_str(self) -> &'static str {
        Scheme::TABLE
            .iter()
            .find(|(scheme, _, _)| *scheme == self)
            .map_or("?", |(_, names, _)| names[0])
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> Option<u16> {
        Scheme::TABLE
            .iter()
            .find(|(scheme, _, _)| *scheme == self)
            .and_then(|(_, _, port)| *port)
    }

    /// Whether the transport is TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// Whether this is HTTP (plain or TLS).
    pub fn is_http(self) -> bool {
        matches!(self, Scheme::Http | Scheme::Https)
    }
}

/// The URL schemes scalewall can load, for error messages.
pub const SUPPORTED_SCHEMES: &str = "http, https, ws, wss, tcp, redis, postgres, nats";

/// Why a target cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not parseable as a URL.
    #[error("'{url}' is not a valid URL: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme no driver serves.
    #[error("'{url}': unsupported scheme '{scheme}' (expected one of http, https, ws, wss, tcp, redis, postgres, nats)")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve host '{host}' of {url}: {reason}")]
    Resolve {
        /// The URL as given.
        url: String,
        /// The host that failed.
        host: String,
        /// The resolver's message.
        reason: String,
    },
}

impl Target {
    /// The URL with its user-info back (percent-encoded): what another
    /// machine needs to load the same target.
    pub fn url_with_credentials(&self) -> String {
        let userinfo = match (&self.user, &self.password) {
            (None, None) => return self.display.clone(),
            (user, None) => percent_encode(user.as_deref().unwrap_or("")),
            (user, Some(password)) => format!(
                "{}:{}",
                percent_encode(user.as_deref().unwrap_or("")),
                percent_encode(password)
            ),
        };
        match self.display.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{userinfo}@{rest}"),
            None => self.display.clone(),
        }
    }

    /// Parses a URL with one of the [`SUPPORTED_SCHEMES`].
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let invalid = |reason: &str| TargetError::Invalid {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = match uri.scheme_str() {
            Some(name) => {
                Scheme::from_name(name).ok_or_else(|| TargetError::UnsupportedScheme {
                    url: url.to_string(),
                    scheme: name.to_string(),
                })?
            }
            None => return Err(invalid("missing scheme (write http://host:port/path)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
        let (user, password) = match authority.as_str().rsplit_once('@') {
            None => (None, None),
            Some((userinfo, _)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(percent_decode(p))),
                    None => (userinfo, None),
                };
                ((!user.is_empty()).then(|| percent_decode(user)), password)
            }
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        let port = match authority.port_u16().or(scheme.default_port()) {
            Some(port) => port,
            None => return Err(invalid("missing port (write tcp://host:port)")),
        };
        if port == 0 {
            return Err(invalid("port 0 cannot be connected to"));
        }
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let path_and_query = if path_and_query.starts_with('/') {
            path_and_query
        } else {
            format!("/{path_and_query}")
        };
        let scheme_str = scheme.as_str();
        let host_for_url = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let display = match authority.port_u16() {
            Some(p) => format!("{scheme_str}://{host_for_url}:{p}{path_and_query}"),
            None => format!("{scheme_str}://{host_for_url}{path_and_query}"),
        };
        Ok(Target {
            scheme,
            host: host.to_string(),
            port,
            path_and_query,
            display,
            user,
            password,
        })
    }

    /// The path without its leading `/` and query (a PostgreSQL database name, a NATS subject).
    pub fn path_name(&self) -> &str {
        let path = self.path_and_query.split('?').next().unwrap_or("");
        path.trim_start_matches('/')
    }

    /// The `Host` header value: host, plus the port when it is not the default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if Some(self.port) == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Resolves the host to socket addresses (blocking; done once, before load).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, TargetError> {
        let resolve_error = |reason: String| TargetError::Resolve {
            url: self.display.clone(),
            host: self.host.clone(),
            reason,
        };
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| resolve_error(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(resolve_error("no addresses".into()));
        }
        Ok(addrs)
    }
}

/// Decodes `%XX` escapes (user-info may hold `@`, `:` or `/` escaped).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_survive_the_trip_to_another_machine() {
        for url in [
            "postgres://app:p%40ss:w@db:5432/test",
            "redis://:secret@127.0.0.1:6379/2",
            "nats://tok@127.0.0.1:4222",
            "http://127.0.0.1:8080/x?y=1",
        ] {
            let t = super::Target::parse(url).unwrap();
            let again = super::Target::parse(&t.url_with_credentials()).unwrap();
            assert_eq!((again.user, again.password), (t.user, t.password), "{url}");
            assert_eq!(again.display, t.display);
        }
    }

    use super::*;

    #[test]
    fn parses_host_port_and_path() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?x=1").unwrap();
        assert_eq!(t.scheme, Scheme::Http);
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.path_and_query, "/a/b?x=1");
        assert_eq!(t.host_header(), "127.0.0.1:8080");
    }

    #[test]
    fn default_ports_and_paths() {
        let t = Target::parse("https://example.com").unwrap();
        assert_eq!(t.port, 443);
        assert_eq!(t.path_and_query, "/");
        assert_eq!(t.host_header(), "example.com");
        let t = Target::parse("http://[::1]:9000/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.host_header(), "[::1]:9000");
    }

    #[test]
    fn credentials_never_reach_the_display_form() {
        let t = Target::parse("http://user:secret@127.0.0.1:80/x").unwrap();
        assert!(!t.display.contains("secret"), "{}", t.display);
    }

    #[test]
    fn every_scheme_has_its_default_port_and_credentials_are_kept_apart() {
        let t = Target::parse("postgres://bench:p%40ss@127.0.0.1/test").unwrap();
        assert_eq!((t.scheme, t.port), (Scheme::Postgres, 5432));
        assert_eq!(t.user.as_deref(), Some("bench"));
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.path_name(), "test");
        assert_eq!(t.display, "postgres://127.0.0.1/test");
        let t = Target::parse("redis://:secret@localhost").unwrap();
        assert_eq!(
            (t.scheme, t.port, t.user.clone()),
            (Scheme::Redis, 6379, None)
        );
        assert_eq!(t.password.as_deref(), Some("secret"));
        assert_eq!(Target::parse("nats://h").unwrap().port, 4222);
        assert_eq!(Target::parse("ws://h/echo").unwrap().port, 80);
        assert!(Target::parse("wss://h/").unwrap().scheme.is_tls());
        assert_eq!(Target::parse("tcp://h:7").unwrap().port, 7);
        assert!(matches!(
            Target::parse("tcp://h"),
            Err(TargetError::Invalid { .. })
        ));
    }

    #[test]
    fn rejects_bad_urls_with_reasons() {
        assert!(matches!(
            Target::parse("localhost:8080"),
            Err(TargetError::UnsupportedScheme { .. }) | Err(TargetError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("ftp://x/"),
            Err(TargetError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("http://127.0.0.1:0/"),
            Err(TargetError::Invalid { .. })
        ));
    }
}
