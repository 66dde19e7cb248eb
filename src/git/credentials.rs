//! Credentials for http(s) remotes: the request's username/password, a URL's embedded ones, or
//! those stored by `POST /git/credentials`, offered to libgit2 at most once per transfer.
//!
//! The store is `<data dir>/git-credentials` in git's credential-store format, mode 0600, written
//! atomically; global git config gets `credential.helper = store --file <that file>` so the `git`
//! CLI in the sandbox finds the same credentials. Passwords never appear in `Debug` output.

use std::cell::Cell;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use tokio_util::sync::CancellationToken;

use super::GitService;
use super::config::{ConfigScope, config_file};
use super::error::{GitError, GitResult};

/// Characters escaped in the userinfo of a stored credential URL.
const USERINFO: &AsciiSet = &CONTROLS.add(b' ').add(b':').add(b'@').add(b'/').add(b'%').add(b'?').add(b'#');

/// A username and password for one request.
#[derive(Clone)]
pub struct Auth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

impl Auth {
    /// HTTP Basic is used only when both fields are given; a lone username means anonymous.
    pub fn from_parts(username: Option<String>, password: Option<String>) -> Option<Auth> {
        match (username, password) {
            (Some(username), Some(password)) => Some(Auth { username, password }),
            _ => None,
        }
    }
}

/// What the credential callback saw, read after the transfer to classify its failure.
#[derive(Debug, Default)]
pub(crate) struct AuthOutcome {
    attempts: Cell<u32>,
    missing: Cell<bool>,
}

impl AuthOutcome {
    /// Turns a transfer error into `GIT_AUTH_FAILED` when the server refused our credentials.
    pub(crate) fn classify(&self, url: &str, err: git2::Error) -> GitError {
        if self.missing.get() {
            return GitError::AuthFailed(format!(
                "authentication required for {url}: no credentials were given (send username and password)"
            ));
        }
        if self.attempts.get() > 1 || err.code() == git2::ErrorCode::Auth {
            return GitError::AuthFailed(format!(
                "authentication failed for {url}: invalid username or password"
            ));
        }
        GitError::from(err)
    }
}

/// Credentials to offer for `url`, in order of precedence.
fn pick(explicit: Option<&Auth>, store: &Path, url: &str) -> Option<Auth> {
    if let Some(auth) = explicit {
        return Some(auth.clone());
    }
    let parsed = ParsedUrl::parse(url)?;
    if let (Some(username), Some(password)) = (&parsed.username, &parsed.password) {
        return Some(Auth { username: username.clone(), password: password.clone() });
    }
    lookup(store, &parsed.protocol, &parsed.host)
}

/// Builds the remote callbacks of one transfer: credentials (tried once), TLS policy and
/// cancellation on shutdown.
pub(crate) fn callbacks<'a>(
    explicit: Option<&'a Auth>,
    store: &'a Path,
    outcome: &'a AuthOutcome,
    insecure_skip_tls: bool,
    cancel: &'a CancellationToken,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |url, _username, allowed| {
        let attempt = outcome.attempts.get() + 1;
        outcome.attempts.set(attempt);
        if attempt > 1 {
            // libgit2 asks again after a 401: the credentials were wrong, do not loop.
            return Err(git2::Error::from_str("authentication failed"));
        }
        if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            outcome.missing.set(true);
            return Err(git2::Error::from_str("only username/password authentication is supported"));
        }
        match pick(explicit, store, url) {
            Some(auth) => Cred::userpass_plaintext(&auth.username, &auth.password),
            None => {
                outcome.missing.set(true);
                Err(git2::Error::from_str("authentication required"))
            }
        }
    });
    if insecure_skip_tls {
        callbacks.certificate_check(|_, _| Ok(CertificateCheckStatus::CertificateOk));
    }
    callbacks.transfer_progress(move |_| !cancel.is_cancelled());
    callbacks.push_transfer_progress(|_, _, _| {});
    callbacks
}

/// The parts of a remote URL the credential store keys on.
#[derive(Debug)]
struct ParsedUrl {
    protocol: String,
    host: String,
    username: Option<String>,
    password: Option<String>,
}

impl ParsedUrl {
    fn parse(url: &str) -> Option<ParsedUrl> {
        let (protocol, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (username, password) =
            match userinfo.map(|u| u.split_once(':').map_or((u, None), |(u, p)| (u, Some(p)))) {
                Some((user, pass)) => (Some(decode(user)), pass.map(decode)),
                None => (None, None),
            };
        // git's own credential store writes `host%3aport`.
        Some(ParsedUrl {
            protocol: protocol.to_ascii_lowercase(),
            host: decode(host).to_ascii_lowercase(),
            username,
            password,
        })
    }
}

pub(crate) fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("git-credentials")
}

/// The stored credential for `protocol://host`, if any.
fn lookup(store: &Path, protocol: &str, host: &str) -> Option<Auth> {
    let text = std::fs::read_to_string(store).ok()?;
    text.lines().filter_map(ParsedUrl::parse).find_map(|entry| {
        (entry.protocol == protocol && entry.host == host)
            .then(|| Some(Auth { username: entry.username?, password: entry.password? }))
            .flatten()
    })
}

/// Adds or replaces the credential for `protocol://host`; the file is 0600 from its creation.
fn store(path: &Path, protocol: &str, host: &str, auth: &Auth) -> std::io::Result<()> {
    let line = format!(
        "{protocol}://{}:{}@{host}",
        utf8_percent_encode(&auth.username, USERINFO),
        utf8_percent_encode(&auth.password, USERINFO)
    );
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<&str> = existing
        .lines()
        .filter(|l| {
            ParsedUrl::parse(l)
                .is_some_and(|e| !(e.protocol == protocol && e.host == host.to_ascii_lowercase()))
        })
        .collect();
    lines.push(&line);
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    for l in lines {
        writeln!(file, "{l}")?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl GitService {
    /// Stores credentials for `protocol://host` (defaults https and github.com) and points the
    /// global git config's credential helper at the store.
    pub async fn store_credentials(
        &self,
        auth: Auth,
        host: Option<String>,
        protocol: Option<String>,
    ) -> GitResult<()> {
        let host = host.filter(|h| !h.is_empty()).unwrap_or_else(|| "github.com".to_owned());
        let protocol = protocol.filter(|p| !p.is_empty()).unwrap_or_else(|| "https".to_owned());
        for (field, value) in [
            ("username", &auth.username),
            ("password", &auth.password),
            ("host", &host),
            ("protocol", &protocol),
        ] {
            if value.contains(['\r', '\n', '\0']) {
                return Err(GitError::Invalid(format!("{field} must not contain CR, LF or NUL")));
            }
        }
        if host.contains(['/', '@', ' ']) || protocol.contains([':', '/', '@', ' ']) {
            return Err(GitError::Invalid(
                "host and protocol must be bare names (e.g. github.com, https)".into(),
            ));
        }
        let path = store_path(self.data_dir());
        let global = config_file(self.env(), ConfigScope::Global, None)?;
        let this = self.clone();
        self.blocking(move || {
            let _guard =
                this.inner.credential_store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            store(&path, &protocol, &host, &auth)
                .map_err(|err| GitError::Unexpected(format!("storing credentials failed: {err}")))?;
            let mut config = git2::Config::open(&global)?;
            config.set_str("credential.helper", &format!("store --file {}", path.display()))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_credentials_round_trip_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(dir.path());
        let a = Auth { username: "me".into(), password: "p@ss:w/rd".into() };
        store(&path, "https", "example.com", &a).unwrap();
        store(&path, "http", "127.0.0.1:8080", &Auth { username: "x".into(), password: "y".into() }).unwrap();
        store(&path, "https", "example.com", &Auth { username: "me".into(), password: "new".into() })
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(lookup(&path, "https", "example.com").unwrap().password, "new");
        assert_eq!(lookup(&path, "http", "127.0.0.1:8080").unwrap().username, "x");
        assert!(lookup(&path, "https", "other.com").is_none());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn url_credentials_are_parsed() {
        let p = ParsedUrl::parse("https://u%40x:p%3Aw@Host.com:443/r.git").unwrap();
        assert_eq!(p.host, "host.com:443");
        assert_eq!(p.username.as_deref(), Some("u@x"));
        assert_eq!(p.password.as_deref(), Some("p:w"));
        assert_eq!(ParsedUrl::parse("http://a:b@127.0.0.1%3a8080").unwrap().host, "127.0.0.1:8080");
    }
}
