//! The `--url` target: parsed, resolved, and refused unless loopback (or
//! `--allow-remote`). Host names other than `localhost` are refused without
//! being resolved, so a refusal never touches the network.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::BenchError;

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The resolved address every connection is made to.
    pub addr: SocketAddr,
    /// `HOST:PORT` as given, for the HTTP `Host` header.
    pub authority: String,
    /// The host as given (the name a TLS certificate must carry).
    pub host: String,
    /// The URL said `https://`.
    pub tls: bool,
}

/// Parses and resolves `url` (`HOST:PORT`, `[V6]:PORT`, optionally with
/// `http://` or, for TLS, `https://`), refusing anything that is not loopback unless `allow_remote`.
pub fn resolve(url: &str, allow_remote: bool) -> Result<Target, BenchError> {
    let (authority, tls) = strip_scheme(url);
    let (host, port) = split_host_port(authority)?;
    let refuse = |reason: String| BenchError::RemoteTarget {
        target: url.to_string(),
        reason,
    };
    let addr = if let Ok(ip) = host.parse::<IpAddr>() {
        if !allow_remote && !ip.to_canonical().is_loopback() {
            return Err(refuse(format!("{ip} is not a loopback address")));
        }
        SocketAddr::new(ip, port)
    } else {
        if !allow_remote && !is_localhost_name(host) {
            return Err(refuse(format!("host name '{host}' is not localhost")));
        }
        let resolved = resolve_name(url, host, port)?;
        if !allow_remote && let Some(remote) = resolved.iter().find(|a| !is_loopback(a)) {
            return Err(refuse(format!("'{host}' resolves to {}", remote.ip())));
        }
        // Prefer IPv4: servers commonly listen on 127.0.0.1 only.
        let first = resolved.iter().find(|a| a.is_ipv4()).or(resolved.first());
        *first.ok_or_else(|| BenchError::Resolve {
            target: url.to_string(),
            message: "no addresses".to_string(),
        })?
    };
    Ok(Target {
        addr,
        authority: authority.to_string(),
        host: host.to_string(),
        tls,
    })
}

/// The authority, and whether the scheme asks for TLS.
fn strip_scheme(url: &str) -> (&str, bool) {
    let (rest, tls) = match url.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (url.strip_prefix("http://").unwrap_or(url), false),
    };
    (rest.strip_suffix('/').unwrap_or(rest), tls)
}

fn split_host_port(authority: &str) -> Result<(&str, u16), BenchError> {
    let bad = || BenchError::Usage(format!("--url '{authority}' is not HOST:PORT"));
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed.split_once(']').ok_or_else(bad)?;
            (host, rest.strip_prefix(':').ok_or_else(bad)?)
        }
        None => authority.rsplit_once(':').ok_or_else(bad)?,
    };
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((host, port.parse().map_err(|_| bad())?))
}

fn is_localhost_name(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

fn resolve_name(url: &str, host: &str, port: u16) -> Result<Vec<SocketAddr>, BenchError> {
    (host, port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| BenchError::Resolve {
            target: url.to_string(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_accepted() {
        for (url, addr) in [
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("http://127.0.0.2:80/", "127.0.0.2:80"),
            ("[::1]:8001", "[::1]:8001"),
        ] {
            let target = resolve(url, false).expect(url);
            assert_eq!(target.addr, addr.parse().expect("address"), "{url}");
        }
        let secure = resolve("https://127.0.0.1:8443/", false).expect("https");
        assert!(secure.tls);
        assert_eq!(secure.host, "127.0.0.1");
        assert!(!resolve("127.0.0.1:1", false).expect("plain").tls);
        let localhost = resolve("localhost:9000", false).expect("localhost");
        assert!(localhost.addr.ip().is_loopback());
        assert_eq!(localhost.authority, "localhost:9000");
    }

    #[test]
    fn remote_targets_are_refused_without_resolving() {
        for url in [
            "10.1.2.3:8001",
            "example.com:80",
            "[2001:db8::1]:1",
            "0.0.0.0:1",
        ] {
            let error = resolve(url, false).expect_err(url).to_string();
            assert!(error.contains("--allow-remote"), "{url}: {error}");
        }
        assert!(resolve("10.1.2.3:8001", true).is_ok());
    }

    #[test]
    fn malformed_urls_are_usage_errors() {
        for url in [
            "nohost",
            "127.0.0.1",
            ":80",
            "127.0.0.1:x",
            "[::1",
            "https://a",
        ] {
            assert!(
                matches!(resolve(url, false), Err(BenchError::Usage(_))),
                "{url}"
            );
        }
    }
}
