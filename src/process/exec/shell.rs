//! Which shell runs scripts: zsh, then bash, as listed in `/etc/shells`, else `$SHELL`, else
//! `sh`. Probed on every call, so installing zsh takes effect without a restart.

use std::ffi::OsString;

use crate::environment::Environment;

const PREFERRED: [&str; 4] = ["/usr/bin/zsh", "/bin/zsh", "/usr/bin/bash", "/bin/bash"];

/// Picks the shell from the text of `/etc/shells` and the daemon's `$SHELL`.
pub fn pick(etc_shells: Option<&str>, shell_var: Option<OsString>) -> OsString {
    let listed: Vec<&str> = etc_shells
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    for candidate in PREFERRED {
        if listed.contains(&candidate) {
            return candidate.into();
        }
    }
    shell_var.filter(|s| !s.is_empty()).unwrap_or_else(|| "sh".into())
}

/// The shell to use now.
pub fn current(env: &Environment) -> OsString {
    let etc = std::fs::read_to_string("/etc/shells").ok();
    pick(etc.as_deref(), env.get("SHELL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zsh_beats_bash_and_comments_are_skipped() {
        let etc = "# /usr/bin/zsh\n/bin/sh\n/bin/bash\n/usr/bin/zsh\n";
        assert_eq!(pick(Some(etc), None), "/usr/bin/zsh");
        assert_eq!(pick(Some("# /bin/zsh\n/bin/bash\n"), None), "/bin/bash");
    }

    #[test]
    fn falls_back_to_shell_then_sh() {
        assert_eq!(pick(Some("/bin/sh\n"), Some("/bin/fish".into())), "/bin/fish");
        assert_eq!(pick(None, None), "sh");
    }
}
