//! The environment that child processes inherit.
//!
//! `POST /env` changes "the daemon's environment" for every process spawned afterwards. Mutating
//! the real process environment is unsound once threads run (`setenv` races `getenv`), so the
//! daemon keeps its own copy, seeded from the real one at start, and every child is spawned
//! with exactly this copy (see `process::owner`).
//!
//! The daemon's own variables (`TOOLBOXD_*`: its token, port, directories) are left out of
//! the copy, so no child ever learns them; only a variable a client sets through `POST /env`
//! can carry that prefix.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::sync::{Arc, RwLock};

/// Names of the variables the daemon reads for itself (flags, token) start with this.
pub const DAEMON_PREFIX: &str = "TOOLBOXD_";

#[derive(Debug, Clone)]
pub struct Environment(Arc<RwLock<BTreeMap<OsString, OsString>>>);

/// Why an environment update was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("invalid environment variable name {0:?}: names must be non-empty and contain no '=' or NUL")]
    InvalidName(String),
    #[error("invalid value for environment variable {0:?}: values must not contain NUL")]
    InvalidValue(String),
}

/// One `POST /env` request, applied in the reference daemon's order.
#[derive(Debug, Default)]
pub struct EnvUpdate<'a> {
    pub set: Vec<(&'a str, &'a str)>,
    pub unset: Vec<&'a str>,
    pub unset_value_prefix: Option<&'a str>,
}

impl Default for Environment {
    fn default() -> Self {
        Environment(Arc::new(RwLock::new(BTreeMap::new())))
    }
}

impl Environment {
    /// The daemon's environment without its own `TOOLBOXD_*` variables.
    pub fn from_process() -> Self {
        Environment::from_vars(std::env::vars_os())
    }

    fn from_vars(vars: impl Iterator<Item = (OsString, OsString)>) -> Self {
        let inherited =
            vars.filter(|(name, _)| !name.as_encoded_bytes().starts_with(DAEMON_PREFIX.as_bytes()));
        Environment(Arc::new(RwLock::new(inherited.collect())))
    }

    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<OsString> {
        self.read().get(name.as_ref()).cloned()
    }

    /// Calls `f` with every variable, under the read lock and without copying them (a spawn
    /// copies them once itself).
    pub fn for_each(&self, mut f: impl FnMut(&OsStr, &OsStr)) {
        for (name, value) in self.read().iter() {
            f(name, value);
        }
    }

    /// A copy to hand to a child process.
    pub fn snapshot(&self) -> Vec<(OsString, OsString)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Prefix-unset (sparing names being set), then unset, then set; all or nothing.
    pub fn apply(&self, update: &EnvUpdate<'_>) -> Result<(), EnvError> {
        for (name, value) in &update.set {
            validate_name(name)?;
            if value.contains('\0') {
                return Err(EnvError::InvalidValue((*name).to_owned()));
            }
        }
        for name in &update.unset {
            validate_name(name)?;
        }
        let mut vars = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(prefix) = update.unset_value_prefix.filter(|p| !p.is_empty()) {
            let spared: Vec<&str> = update.set.iter().map(|(name, _)| *name).collect();
            vars.retain(|name, value| {
                let matches = value.to_str().is_some_and(|v| v.starts_with(prefix));
                !matches || name.to_str().is_some_and(|n| spared.contains(&n))
            });
        }
        for name in &update.unset {
            vars.remove(OsStr::new(name));
        }
        for (name, value) in &update.set {
            vars.insert(OsString::from(name), OsString::from(value));
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<OsString, OsString>> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn validate_name(name: &str) -> Result<(), EnvError> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(EnvError::InvalidName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_order_is_prefix_then_unset_then_set() {
        let env = Environment::default();
        env.apply(&EnvUpdate {
            set: vec![("A", "secret-1"), ("B", "secret-2"), ("C", "plain")],
            ..Default::default()
        })
        .unwrap();
        env.apply(&EnvUpdate {
            set: vec![("B", "secret-3")],
            unset: vec!["C"],
            unset_value_prefix: Some("secret-"),
        })
        .unwrap();
        assert_eq!(env.get("A"), None, "prefix-matched value is unset");
        assert_eq!(env.get("B").as_deref(), Some(OsStr::new("secret-3")), "names being set are spared");
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn the_daemons_own_variables_are_not_inherited() {
        let vars =
            [("TOOLBOXD_TOKEN", "secret"), ("TOOLBOXD_PORT", "1"), ("PATH", "/bin"), ("XTOOLBOXD_A", "k")];
        let env = Environment::from_vars(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        let names: Vec<OsString> = env.snapshot().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, vec![OsString::from("PATH"), OsString::from("XTOOLBOXD_A")]);
    }

    #[test]
    fn bad_names_change_nothing() {
        let env = Environment::default();
        let err = env.apply(&EnvUpdate { set: vec![("OK", "1"), ("BAD=NAME", "2")], ..Default::default() });
        assert_eq!(err, Err(EnvError::InvalidName("BAD=NAME".into())));
        assert_eq!(env.get("OK"), None);
    }
}
