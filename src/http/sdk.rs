//! The client-version gates of the contract (§1.4 of the process notes, the Go-client rule of
//! the files notes): which compatibility behaviour a request gets, decided from the
//! `X-Daytona-Source` and `X-Daytona-SDK-Version` headers (or, on a websocket, the
//! `X-Daytona-SDK-Version~<v>` subprotocol). Every gate reads the version through
//! [`parse_version`], so a version string means the same thing to every area.

use axum::http::HeaderMap;

use crate::http::ws::offered_protocols;

/// The version of the SDK that sent the request: the header, else the websocket subprotocol
/// token (browsers cannot set headers on a websocket).
pub fn sdk_version(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = header(headers, "x-daytona-sdk-version") {
        return Some(value.to_owned());
    }
    offered_protocols(headers)
        .into_iter()
        .find_map(|p| p.strip_prefix("X-Daytona-SDK-Version~").map(str::to_owned))
}

/// `(major, minor, patch)` of `0.226.1`, `v0.188.0` or `0.0.0-dev`; missing parts count as 0
/// and parts after the third are ignored; `None` when the numbers do not parse.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim().trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Go SDKs before 0.188.0 decode strictly and break on fields added since (`FileInfo.path`,
/// newer git fields). A development build (`0.0.0`) and an unreadable version are not old.
pub fn strict_go_client(headers: &HeaderMap) -> bool {
    if header(headers, "x-daytona-source") != Some("sdk-go") {
        return false;
    }
    let version = header(headers, "x-daytona-sdk-version").unwrap_or_default();
    match parse_version(version) {
        Some((0, 0, 0)) | None => false,
        Some(version) => version < (0, 188, 0),
    }
}

/// SDKs before 0.103.0 expect a new session's shell to start in `$HOME` rather than the
/// daemon's work directory. Absent, unparseable and `0.0.0-dev` versions are not legacy.
pub fn legacy_session_cwd(headers: &HeaderMap) -> bool {
    match sdk_version(headers) {
        Some(v) if v != "0.0.0-dev" => parse_version(&v).is_some_and(|v| v < (0, 103, 0)),
        _ => false,
    }
}

/// How a client wants session command output, from the two output gates of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputGate {
    /// Stream markers stripped, logs as text (no version and no split-output header, or an SDK
    /// before 0.27.0).
    Combined,
    /// Markers kept, logs as text, no `stdout`/`stderr` fields (SDKs before 0.167.0, split
    /// output asked for by header, unparseable versions).
    Raw,
    /// Markers kept and the server splits `stdout`/`stderr` (0.167.0 and later, dev builds).
    Demux,
}

pub fn output_gate(headers: &HeaderMap) -> OutputGate {
    let Some(version) = sdk_version(headers) else {
        let split = header(headers, "x-daytona-split-output") == Some("true");
        return if split { OutputGate::Raw } else { OutputGate::Combined };
    };
    if version.contains("dev") {
        return OutputGate::Demux;
    }
    match parse_version(&version) {
        Some(v) if v < (0, 27, 0) => OutputGate::Combined,
        Some(v) if v >= (0, 167, 0) => OutputGate::Demux,
        _ => OutputGate::Raw,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn versions_parse_with_prefixes_suffixes_and_missing_parts() {
        assert_eq!(parse_version("0.226.1"), Some((0, 226, 1)));
        assert_eq!(parse_version("v0.188.0"), Some((0, 188, 0)));
        assert_eq!(parse_version("0.0.0-dev"), Some((0, 0, 0)));
        assert_eq!(parse_version("1.2"), Some((1, 2, 0)));
        assert_eq!(parse_version("0.187.9.1"), Some((0, 187, 9)));
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn old_go_sdks_are_recognised() {
        let go = |version| headers(&[("x-daytona-source", "sdk-go"), ("x-daytona-sdk-version", version)]);
        assert!(strict_go_client(&go("0.187.9")));
        assert!(!strict_go_client(&go("v0.188.0")));
        assert!(!strict_go_client(&go("0.0.0")));
        assert!(!strict_go_client(&go("garbage")));
        let python = headers(&[("x-daytona-source", "sdk-python"), ("x-daytona-sdk-version", "0.100.0")]);
        assert!(!strict_go_client(&python));
    }

    #[test]
    fn output_gates_follow_the_contract_table() {
        let version = |v| headers(&[("x-daytona-sdk-version", v)]);
        assert_eq!(output_gate(&version("0.226.1")), OutputGate::Demux);
        assert_eq!(output_gate(&version("0.167.0")), OutputGate::Demux);
        assert_eq!(output_gate(&version("0.100.0")), OutputGate::Raw);
        assert_eq!(output_gate(&version("0.20.0")), OutputGate::Combined);
        assert_eq!(output_gate(&version("0.0.0-dev")), OutputGate::Demux);
        assert_eq!(output_gate(&version("garbage")), OutputGate::Raw);
        assert_eq!(output_gate(&HeaderMap::new()), OutputGate::Combined);
        assert_eq!(output_gate(&headers(&[("x-daytona-split-output", "true")])), OutputGate::Raw);
        let subprotocol = headers(&[("sec-websocket-protocol", "X-Daytona-SDK-Version~0.226.1")]);
        assert_eq!(output_gate(&subprotocol), OutputGate::Demux);
    }

    #[test]
    fn legacy_cwd_only_for_old_parseable_versions() {
        assert!(legacy_session_cwd(&headers(&[("x-daytona-sdk-version", "0.50.0")])));
        assert!(!legacy_session_cwd(&headers(&[("x-daytona-sdk-version", "0.226.1")])));
        assert!(!legacy_session_cwd(&headers(&[("x-daytona-sdk-version", "0.0.0-dev")])));
        assert!(!legacy_session_cwd(&headers(&[("x-daytona-sdk-version", "garbage")])));
        assert!(!legacy_session_cwd(&HeaderMap::new()));
    }
}
