//! The server's host key: an ed25519 key generated on first start and kept in the data dir, so
//! clients see the same host key after every restart (the reference daemon made a new one each
//! start, and clients warned about a changed host).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey};

/// File name of the key inside the data dir (OpenSSH format, mode 0600).
pub const FILE_NAME: &str = "ssh_host_ed25519_key";

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read host key {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("cannot create host key {path}: {detail}")]
    Create { path: PathBuf, detail: String },
}

/// Loads the host key from `data_dir`, generating and saving it on first use.
pub fn load_or_create(data_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => PrivateKey::from_openssh(text.as_bytes())
            .map_err(|err| HostKeyError::Read { path, detail: err.to_string() }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(err) => Err(HostKeyError::Read { path, detail: err.to_string() }),
    }
}

fn create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let fail = |detail: String| HostKeyError::Create { path: path.to_owned(), detail };
    let key =
        PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(|err| fail(err.to_string()))?;
    let text = key.to_openssh(LineEnding::LF).map_err(|err| fail(err.to_string()))?;
    // Written beside the final name and renamed, so a crash never leaves half a key; created
    // 0600 from the start, so the secret is never readable by others.
    let tmp = path.with_extension("tmp");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(err.to_string()));
    }
    let public = key.public_key().to_openssh().unwrap_or_default();
    tracing::info!("generated SSH host key {} ({public})", path.display());
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }
}
