//! Where a `/proxy/{port}/{path...}` request goes, read from the raw request URI so the path's
//! percent-encoding and the query reach the app byte for byte (`%2F` must not become `/`).

use crate::proxy::ProxyError;

/// The route prefix every proxied path starts with.
const PREFIX: &str = "/proxy/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Forward to `localhost:{port}` with this origin-form path and query.
    Forward { port: u16, path_and_query: String },
    /// `/proxy/{port}` without the trailing slash: send the client to `/proxy/{port}/`.
    Redirect { location: String },
}

/// Splits the raw path (as received, still percent-encoded) and raw query into a [`Target`].
///
/// The port is not range-checked beyond being a TCP port number here; the service refuses the
/// daemon's own port.
pub fn parse(raw_path: &str, raw_query: Option<&str>) -> Result<Target, ProxyError> {
    let rest = raw_path.strip_prefix(PREFIX).ok_or_else(|| ProxyError::BadTarget(raw_path.to_owned()))?;
    let (port, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], Some(&rest[slash..])),
        None => (rest, None),
    };
    let port = parse_port(port)?;
    let query = raw_query.map(|q| format!("?{q}")).unwrap_or_default();
    Ok(match path {
        Some(path) => Target::Forward { port, path_and_query: format!("{path}{query}") },
        None => Target::Redirect { location: format!("{PREFIX}{port}/{query}") },
    })
}

fn parse_port(raw: &str) -> Result<u16, ProxyError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::BadTarget(format!("invalid port {raw:?} after host")));
    }
    raw.parse().map_err(|_| ProxyError::BadTarget(format!("invalid port {raw:?}: not a TCP port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(port: u16, path_and_query: &str) -> Target {
        Target::Forward { port, path_and_query: path_and_query.to_owned() }
    }

    #[test]
    fn the_raw_path_and_query_are_kept() {
        assert_eq!(parse("/proxy/3000/", None).unwrap(), forward(3000, "/"));
        assert_eq!(parse("/proxy/3000/a%2Fb/%40x", None).unwrap(), forward(3000, "/a%2Fb/%40x"));
        assert_eq!(parse("/proxy/8080/x", Some("a=1&b=%20")).unwrap(), forward(8080, "/x?a=1&b=%20"));
        assert_eq!(parse("/proxy/8080//double", Some("")).unwrap(), forward(8080, "//double?"));
        assert_eq!(parse("/proxy/22221/", None).unwrap(), forward(22221, "/"));
    }

    #[test]
    fn the_bare_port_redirects_with_its_query() {
        assert_eq!(parse("/proxy/3000", None).unwrap(), Target::Redirect { location: "/proxy/3000/".into() });
        assert_eq!(
            parse("/proxy/3000", Some("q=1")).unwrap(),
            Target::Redirect { location: "/proxy/3000/?q=1".into() }
        );
    }

    #[test]
    fn a_port_that_is_not_a_tcp_port_is_rejected() {
        for path in [
            "/proxy/abc/",
            "/proxy//x",
            "/proxy/-1/",
            "/proxy/+80/",
            "/proxy/65536/",
            "/proxy/3000x",
            "/other",
        ] {
            assert!(matches!(parse(path, None), Err(ProxyError::BadTarget(_))), "{path}");
        }
    }
}
