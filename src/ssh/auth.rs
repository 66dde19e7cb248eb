//! Who may log in over SSH.
//!
//! - With `--token`, the token is accepted as the password (any user name).
//! - Public keys listed in the authorized-keys file are accepted (any user name). The file is
//!   read at every attempt, so adding or removing a key takes effect without a restart, as with
//!   sshd. Entries that carry options (`command=`, `from=`, …) are skipped: they restrict a key
//!   in ways this server does not enforce, so honouring the key without them would widen it.
//! - `--ssh-accept-any` restores the reference daemon's behaviour for sandboxes whose SSH port is
//!   reachable only through an authenticating gateway: every public key, and the password
//!   `sandbox-ssh`.
//! - Nothing else is accepted: without a token, keys or the compatibility flag, every attempt is
//!   refused (safe by default).
//!
//! Secrets never reach a log line: refusals name the user, the peer and the key's fingerprint.

use std::path::{Path, PathBuf};

use russh::MethodKind;
use russh::keys::{HashAlg, PublicKey};
use subtle::ConstantTimeEq;

/// The password the reference daemon accepts, kept for `--ssh-accept-any`.
pub const REFERENCE_PASSWORD: &str = "sandbox-ssh";

#[derive(Clone)]
pub struct AuthPolicy {
    token: Option<String>,
    authorized_keys: Option<PathBuf>,
    accept_any: bool,
}

impl std::fmt::Debug for AuthPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPolicy")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("authorized_keys", &self.authorized_keys)
            .field("accept_any", &self.accept_any)
            .finish()
    }
}

impl AuthPolicy {
    pub fn new(token: Option<String>, authorized_keys: Option<PathBuf>, accept_any: bool) -> Self {
        let token = token.filter(|token| !token.is_empty());
        AuthPolicy { token, authorized_keys, accept_any }
    }

    /// The methods offered to clients: password only when a password can succeed.
    pub fn methods(&self) -> Vec<MethodKind> {
        let mut methods = vec![MethodKind::PublicKey];
        if self.token.is_some() || self.accept_any {
            methods.push(MethodKind::Password);
        }
        methods
    }

    /// One sentence for the startup log saying who can log in.
    pub fn describe(&self) -> String {
        if self.accept_any {
            return "every public key and the password `sandbox-ssh` are accepted (--ssh-accept-any)"
                .to_owned();
        }
        let keys = match &self.authorized_keys {
            Some(path) => format!("keys in {}", path.display()),
            None => "no authorized keys file".to_owned(),
        };
        match &self.token {
            Some(_) => format!("the token as password, and {keys}"),
            None => format!("{keys} only (no --token, so no password)"),
        }
    }

    pub fn password_ok(&self, password: &str) -> bool {
        let token_ok = self
            .token
            .as_deref()
            .is_some_and(|token| bool::from(password.as_bytes().ct_eq(token.as_bytes())));
        token_ok || (self.accept_any && password == REFERENCE_PASSWORD)
    }

    pub fn key_ok(&self, key: &PublicKey) -> bool {
        if self.accept_any {
            return true;
        }
        let Some(path) = &self.authorized_keys else { return false };
        authorized(path, key)
    }
}

/// Whether `key` is listed, without options, in the authorized-keys file at `path`.
fn authorized(path: &Path, key: &PublicKey) -> bool {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            tracing::debug!("cannot read authorized keys {}: {err}", path.display());
            return false;
        }
    };
    listed(&text, key)
}

/// Whether `key` is listed, without options, in the authorized-keys text.
pub fn listed(text: &str, key: &PublicKey) -> bool {
    text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).any(|line| {
        // Without options a line is `type base64 [comment]`; a line whose first word is not a
        // key type carries options and is skipped (see the module comment).
        match line.parse::<PublicKey>() {
            Ok(listed) => listed.key_data() == key.key_data(),
            Err(_) => false,
        }
    })
}

/// The key's fingerprint as OpenSSH prints it, for log lines.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPouO0f3f9b+LAYSOPnOSDlfP4hcIBE8J7dah/jzsFUv a@b";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEPQ+Nf1Wl61fS1h0LvBSDLuK4ZQosa8dAu0U2uHs4/A c@d";

    #[test]
    fn listed_keys_match_without_their_comment_and_options_are_skipped() {
        let key: PublicKey = KEY.parse().unwrap();
        let other: PublicKey = OTHER.parse().unwrap();
        let plain = format!("# keys\n\n{}\n", KEY.replace("a@b", "someone else"));
        assert!(listed(&plain, &key));
        assert!(!listed(&plain, &other));
        let restricted = format!("command=\"/bin/true\" {KEY}\n");
        assert!(!listed(&restricted, &key));
    }

    #[test]
    fn passwords_need_the_token_or_the_compatibility_flag() {
        let strict = AuthPolicy::new(Some("s3cret".into()), None, false);
        assert!(strict.password_ok("s3cret"));
        assert!(!strict.password_ok("s3cre"));
        assert!(!strict.password_ok(REFERENCE_PASSWORD));
        let open = AuthPolicy::new(None, None, false);
        assert!(!open.password_ok(""));
        assert!(!open.methods().contains(&MethodKind::Password));
        let compat = AuthPolicy::new(None, None, true);
        assert!(compat.password_ok(REFERENCE_PASSWORD));
        assert!(!compat.password_ok("anything"));
        assert!(compat.key_ok(&OTHER.parse().unwrap()));
    }
}
