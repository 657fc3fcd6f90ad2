//! Parsing and resolving a load target given as a URL.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed HTTP(S) target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address as written (without brackets for IPv6).
    pub host: String,
    /// Port (the scheme's default when not written).
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path_and_query: String,
    /// The URL as given, with any user-info removed.
    pub display: String,
}

/// Transport security of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS.
    Https,
}

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
    /// A scheme no HTTP driver serves.
    #[error("'{url}': unsupported scheme '{scheme}' (expected http or https)")]
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
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let invalid = |reason: &str| TargetError::Invalid {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => {
                return Err(TargetError::UnsupportedScheme {
                    url: url.to_string(),
                    scheme: other.to_string(),
                })
            }
            None => return Err(invalid("missing scheme (write http://host:port/path)")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
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
        let scheme_str = if scheme == Scheme::Http {
            "http"
        } else {
            "https"
        };
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
        })
    }

    /// The `Host` header value: host, plus the port when it is not the default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        if self.port == default_port {
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

#[cfg(test)]
mod tests {
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
