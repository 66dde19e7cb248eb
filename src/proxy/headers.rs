//! Header rewriting between the client and the app: hop-by-hop headers stay on their hop,
//! `Host` names the app, `X-Forwarded-For` records the caller.

use std::net::IpAddr;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1), plus the
/// de-facto `Proxy-Connection` and `Keep-Alive`.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// How this proxy names itself in `Via` (RFC 9110 §7.6.3): `1.1 toolboxd`.
const VIA_NAME: &str = "toolboxd";

/// The most toolboxd proxies one request may cross: enough for a preview of an app that itself
/// previews another sandbox, few enough that a loop costs a handful of connections.
pub const MAX_HOPS: usize = 5;

/// How many toolboxd proxies the request has already passed, read from its `Via` entries.
pub fn our_hops(headers: &HeaderMap) -> usize {
    headers
        .get_all(header::VIA)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter(|entry| entry.split_whitespace().nth(1) == Some(VIA_NAME))
        .count()
}

/// Whether the request asks to switch protocols (a websocket handshake, typically).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes the hop-by-hop headers, including any the `Connection` header names. When the
/// message is part of a protocol switch, `Connection: upgrade` and `Upgrade` are kept so the
/// next hop sees the handshake.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
    if let (true, Some(protocol)) = (upgrading, upgrade) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

/// Rewrites a client's request headers for the app on `port`.
///
/// - `Host` becomes `localhost:{port}`; `X-Forwarded-Host` (the preview host the outer proxy
///   saw) passes through untouched.
/// - The caller's address is appended to `X-Forwarded-For`.
/// - No `X-Forwarded-Proto`/`-Port` is invented: the daemon only sees the runner's plain-HTTP
///   hop, so it would claim `http` for pages the browser loaded over `https`. Values set by an
///   outer proxy pass through.
/// - `Expect` is dropped: the daemon's own server already answered `100 Continue`.
/// - The daemon's own bearer token, when one is configured, is not handed on to the app.
/// - `Via: 1.1 toolboxd` is appended, so the next toolboxd can count the hops ([`our_hops`]).
pub fn rewrite_request(
    headers: &mut HeaderMap,
    port: u16,
    client_ip: Option<IpAddr>,
    upgrading: bool,
    daemon_token: Option<&str>,
) {
    strip_hop_by_hop(headers, upgrading);
    headers.remove(header::EXPECT);
    if let Some(token) = daemon_token {
        let ours = crate::http::middleware::bearer_token(headers).is_some_and(|presented| presented == token);
        if ours {
            headers.remove(header::AUTHORIZATION);
        }
    }
    headers.append(header::VIA, HeaderValue::from_static("1.1 toolboxd"));
    if let Ok(host) = HeaderValue::from_str(&format!("localhost:{port}")) {
        headers.insert(header::HOST, host);
    }
    if let Some(ip) = client_ip {
        let ip = ip.to_canonical();
        let prior: Vec<&str> =
            headers.get_all(&X_FORWARDED_FOR).iter().filter_map(|value| value.to_str().ok()).collect();
        let joined = if prior.is_empty() { ip.to_string() } else { format!("{}, {ip}", prior.join(", ")) };
        if let Ok(value) = HeaderValue::from_str(&joined) {
            headers.insert(&X_FORWARDED_FOR, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut map = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic abc"),
            ("upgrade", "h2c"),
            ("x-kept", "yes"),
            ("user-agent", "ua"),
        ]);
        rewrite_request(&mut map, 3000, Some("10.0.0.9".parse().unwrap()), false, None);
        let mut names: Vec<_> = map.keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        assert_eq!(names, ["host", "user-agent", "via", "x-forwarded-for", "x-kept"]);
        assert_eq!(map[header::HOST], "localhost:3000");
        assert_eq!(map["x-forwarded-for"], "10.0.0.9");
    }

    #[test]
    fn an_upgrade_keeps_its_handshake_and_forwarded_for_is_appended() {
        let mut map = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-host", "3000-abc.proxy.example"),
            ("host", "10.0.0.2:2280"),
        ]);
        assert!(is_upgrade(&map));
        rewrite_request(&mut map, 8080, Some("::ffff:127.0.0.1".parse().unwrap()), true, None);
        assert_eq!(map[header::CONNECTION], "upgrade");
        assert_eq!(map[header::UPGRADE], "websocket");
        assert_eq!(map[header::HOST], "localhost:8080");
        assert_eq!(map["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 127.0.0.1");
        assert_eq!(map["x-forwarded-host"], "3000-abc.proxy.example");
    }

    #[test]
    fn only_the_daemons_own_token_is_withheld() {
        let mut map = headers(&[("authorization", "Bearer daemon-secret")]);
        rewrite_request(&mut map, 1, None, false, Some("daemon-secret"));
        assert!(!map.contains_key(header::AUTHORIZATION));
        let mut map = headers(&[("authorization", "bEARER  daemon-secret")]);
        rewrite_request(&mut map, 1, None, false, Some("daemon-secret"));
        assert!(!map.contains_key(header::AUTHORIZATION));
        let mut map = headers(&[("authorization", "Bearer app-token")]);
        rewrite_request(&mut map, 1, None, false, Some("daemon-secret"));
        assert_eq!(map[header::AUTHORIZATION], "Bearer app-token");
    }

    #[test]
    fn hops_through_toolboxd_are_counted_in_via() {
        let mut map = headers(&[("via", "1.1 nginx, 1.1 toolboxd"), ("via", "HTTP/1.1 toolboxd (x)")]);
        assert_eq!(our_hops(&map), 2);
        rewrite_request(&mut map, 1, None, false, None);
        assert_eq!(our_hops(&map), 3);
        assert_eq!(our_hops(&headers(&[("via", "1.1 toolboxd-other, 1.0 squid")])), 0);
    }

    #[test]
    fn without_connection_upgrade_it_is_no_upgrade() {
        assert!(!is_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(!is_upgrade(&headers(&[("connection", "upgrade")])));
    }
}
