//! `git config` at global, system or local scope, reading and writing the file `git` itself
//! would use for that scope.

use std::path::{Path, PathBuf};

use super::GitService;
use super::error::{GitError, GitResult};
use super::repo;
use crate::environment::Environment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigScope {
    Global,
    System,
    Local,
}

impl ConfigScope {
    /// `None` or empty is global, as in the reference.
    pub fn parse(scope: Option<&str>) -> GitResult<ConfigScope> {
        match scope.unwrap_or_default() {
            "" | "global" => Ok(ConfigScope::Global),
            "system" => Ok(ConfigScope::System),
            "local" => Ok(ConfigScope::Local),
            other => Err(GitError::Invalid(format!("invalid scope '{other}': use global, local or system"))),
        }
    }
}

/// The config file of a scope. Global: `$GIT_CONFIG_GLOBAL`, else an existing `~/.gitconfig`,
/// else an existing `$XDG_CONFIG_HOME/git/config` (or `~/.config/git/config`), else
/// `~/.gitconfig`. System: `$GIT_CONFIG_SYSTEM`, else `/etc/gitconfig`. Local: the repository's
/// own `config` (the repository must exist).
pub(crate) fn config_file(
    env: &Environment,
    scope: ConfigScope,
    repo_path: Option<&Path>,
) -> GitResult<PathBuf> {
    let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    match scope {
        ConfigScope::System => {
            Ok(var("GIT_CONFIG_SYSTEM").unwrap_or_else(|| PathBuf::from("/etc/gitconfig")))
        }
        ConfigScope::Global => {
            if let Some(path) = var("GIT_CONFIG_GLOBAL") {
                return Ok(path);
            }
            let home = var("HOME").ok_or_else(|| GitError::Unexpected("HOME is not set".into()))?;
            let dot = home.join(".gitconfig");
            let xdg =
                var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")).join("git").join("config");
            Ok(if !dot.exists() && xdg.exists() { xdg } else { dot })
        }
        ConfigScope::Local => {
            let path =
                repo_path.ok_or_else(|| GitError::Invalid("path is required for the local scope".into()))?;
            Ok(repo::open(path)?.path().join("config"))
        }
    }
}

/// Keys are `section.name` or `section.subsection.name`.
fn check_key(key: &str) -> GitResult<()> {
    let (section, rest) = key.split_once('.').unwrap_or((key, ""));
    let name = rest.rsplit('.').next().unwrap_or_default();
    if section.is_empty() || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(GitError::Invalid(format!(
            "invalid config key '{key}': use section.name or section.sub.name"
        )));
    }
    Ok(())
}

impl GitService {
    fn scope_file(&self, scope: ConfigScope, path: Option<&str>) -> GitResult<PathBuf> {
        if scope == ConfigScope::Local && path.is_none_or(str::is_empty) {
            return Err(GitError::Invalid("path is required when scope is local".into()));
        }
        let repo_path = path.filter(|p| !p.is_empty()).map(|p| self.resolve(p)).transpose()?;
        config_file(self.env(), scope, repo_path.as_deref())
    }

    /// The value of `key`, or `None` when it is unset (or the scope's file does not exist).
    pub async fn get_config(
        &self,
        key: String,
        scope: ConfigScope,
        path: Option<String>,
    ) -> GitResult<Option<String>> {
        check_key(&key)?;
        let this = self.clone();
        self.blocking(move || {
            let file = this.scope_file(scope, path.as_deref())?;
            if !file.exists() {
                return Ok(None);
            }
            let config = git2::Config::open(&file)?;
            match config.get_string(&key) {
                Ok(value) => Ok(Some(value)),
                Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(err) => Err(err.into()),
            }
        })
        .await
    }

    /// Sets each `(key, value)` in the scope's file, creating it if needed.
    pub async fn set_config(
        &self,
        entries: Vec<(String, String)>,
        scope: ConfigScope,
        path: Option<String>,
    ) -> GitResult<()> {
        for (key, _) in &entries {
            check_key(key)?;
        }
        let this = self.clone();
        self.blocking(move || {
            let file = this.scope_file(scope, path.as_deref())?;
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|err| io_error(&file, &err))?;
            }
            let mut config = git2::Config::open(&file)?;
            for (key, value) in &entries {
                config.set_str(key, value)?;
            }
            Ok(())
        })
        .await
    }
}

fn io_error(file: &Path, err: &std::io::Error) -> GitError {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => {
            GitError::PermissionDenied(format!("cannot write {}: {err}", file.display()))
        }
        _ => GitError::Unexpected(format!("cannot write {}: {err}", file.display())),
    }
}
