//! The four programs of the desktop stack, their default command lines, the Debian packages that
//! provide them, and how a command line becomes an argv.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::computer_use::desktop::error::StartFailure;
use crate::computer_use::desktop::settings::Settings;

/// A program of the stack, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Program {
    Xvfb,
    Xfce4,
    X11vnc,
    Novnc,
}

/// How the stack knows a program is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The X server answers a connection setup on its Unix socket.
    XDisplay,
    /// Started and still running: a desktop session has nothing to probe from outside.
    Started,
    /// Something accepts TCP connections on this port of 127.0.0.1.
    Port(u16),
}

/// Where noVNC's launcher lives on Debian; the first one present is used.
const NOVNC_LAUNCHERS: [&str; 2] = ["/usr/share/novnc/utils/novnc_proxy", "/usr/share/novnc/utils/launch.sh"];

impl Program {
    pub const ALL: [Program; 4] = [Program::Xvfb, Program::Xfce4, Program::X11vnc, Program::Novnc];

    pub fn name(self) -> &'static str {
        match self {
            Program::Xvfb => "xvfb",
            Program::Xfce4 => "xfce4",
            Program::X11vnc => "x11vnc",
            Program::Novnc => "novnc",
        }
    }

    pub fn from_name(name: &str) -> Option<Program> {
        Program::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The reference daemon's priorities; they order start (ascending) and stop (descending).
    pub fn priority(self) -> i32 {
        match self {
            Program::Xvfb => 100,
            Program::Xfce4 => 200,
            Program::X11vnc => 300,
            Program::Novnc => 400,
        }
    }

    /// The Debian packages to install when the program is missing, as a phrase.
    pub fn packages(self) -> &'static str {
        match self {
            Program::Xvfb => "the Debian package xvfb",
            Program::Xfce4 => "the Debian packages xfce4 (startxfce4 is in xfce4-session) and dbus-x11",
            Program::X11vnc => "the Debian package x11vnc",
            Program::Novnc => "the Debian packages novnc and websockify",
        }
    }

    /// The flag and environment variable that replace the default command.
    pub fn override_hint(self) -> &'static str {
        match self {
            Program::Xvfb => "--xvfb-command / TOOLBOXD_XVFB_COMMAND",
            Program::Xfce4 => "--xfce4-command / TOOLBOXD_XFCE4_COMMAND",
            Program::X11vnc => "--x11vnc-command / TOOLBOXD_X11VNC_COMMAND",
            Program::Novnc => "--novnc-command / TOOLBOXD_NOVNC_COMMAND",
        }
    }

    pub fn readiness(self, settings: &Settings) -> Readiness {
        match self {
            Program::Xvfb => Readiness::XDisplay,
            Program::Xfce4 => Readiness::Started,
            Program::X11vnc => Readiness::Port(settings.vnc_port),
            Program::Novnc => Readiness::Port(settings.novnc_port),
        }
    }

    /// The contract's command line, in the override grammar (`$VAR` expanded). Servers listen
    /// on loopback only when the daemon itself is bound to a loopback address.
    pub fn default_command(self, loopback: bool) -> String {
        match self {
            // `-noreset`: without it Xvfb resets (pointer centred, windows gone) each time its
            // last client disconnects, which a readiness probe or a short-lived client triggers.
            Program::Xvfb => "Xvfb $DISPLAY -screen 0 ${VNC_RESOLUTION}x24 -noreset".to_owned(),
            Program::Xfce4 => "startxfce4".to_owned(),
            Program::X11vnc => {
                let local = if loopback { " -localhost" } else { "" };
                format!("x11vnc -display $DISPLAY -forever -shared -rfbport $VNC_PORT{local}")
            }
            Program::Novnc => {
                let listen = if loopback { "127.0.0.1:$NO_VNC_PORT" } else { "$NO_VNC_PORT" };
                match NOVNC_LAUNCHERS.iter().find(|path| Path::new(path).exists()) {
                    Some(launcher) => format!("{launcher} --vnc localhost:$VNC_PORT --listen {listen}"),
                    None => format!("websockify --web=/usr/share/novnc/ {listen} localhost:$VNC_PORT"),
                }
            }
        }
    }

    /// Programs the default command needs besides its own executable.
    pub fn default_helpers(self) -> &'static [&'static str] {
        match self {
            // startxfce4 starts the session bus through dbus-launch.
            Program::Xfce4 => &["dbus-launch"],
            // noVNC's launcher runs websockify (and tries to download it when it is missing).
            Program::Novnc => &["websockify"],
            Program::Xvfb | Program::X11vnc => &[],
        }
    }
}

/// A resolved command: the executable found on PATH and its arguments, variables expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: Program,
    pub executable: PathBuf,
    pub args: Vec<String>,
    /// The command line as configured, for messages.
    pub command_line: String,
}

/// Turns `command_line` into a [`Launch`]: shell-style words, `$NAME`/`${NAME}` replaced from
/// `vars`, the executable (and for default commands its helpers) found on `path`.
pub fn resolve(
    program: Program,
    command_line: &str,
    is_default: bool,
    vars: &BTreeMap<&str, String>,
    path: Option<&OsString>,
) -> Result<Launch, StartFailure> {
    let words = shell_words::split(command_line).map_err(|err| StartFailure::BadCommand {
        program: program.name(),
        command: command_line.to_owned(),
        reason: err.to_string(),
    })?;
    let mut words = words.iter().map(|word| expand(word, vars));
    let Some(first) = words.next().filter(|w| !w.is_empty()) else {
        return Err(StartFailure::BadCommand {
            program: program.name(),
            command: command_line.to_owned(),
            reason: "the command is empty".to_owned(),
        });
    };
    let not_installed = |missing: &str| StartFailure::NotInstalled {
        program: program.name(),
        missing: missing.to_owned(),
        packages: program.packages(),
        hint: program.override_hint(),
    };
    let executable = find_executable(&first, path).ok_or_else(|| not_installed(&first))?;
    if is_default {
        for helper in program.default_helpers() {
            find_executable(helper, path).ok_or_else(|| not_installed(helper))?;
        }
    }
    Ok(Launch { program, executable, args: words.collect(), command_line: command_line.to_owned() })
}

/// Replaces `$NAME` and `${NAME}` for the names in `vars`; anything else is left as written.
pub fn expand(word: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        match vars.get(name) {
            Some(value) if !name.is_empty() => {
                out.push_str(value);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `name` itself when it contains a slash, else the first executable file called `name` in
/// the directories of `path`.
pub fn find_executable(name: &str, path: Option<&OsString>) -> Option<PathBuf> {
    let is_executable = |candidate: &Path| {
        candidate.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let candidate = PathBuf::from(name);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        BTreeMap::from([("DISPLAY", ":7".to_owned()), ("VNC_RESOLUTION", "800x600".to_owned())])
    }

    #[test]
    fn variables_expand_in_both_spellings_and_unknown_ones_stay() {
        assert_eq!(expand("${VNC_RESOLUTION}x24", &vars()), "800x600x24");
        assert_eq!(expand("$DISPLAY", &vars()), ":7");
        assert_eq!(expand("a$DISPLAY.b", &vars()), "a:7.b");
        assert_eq!(expand("$HOME/x", &vars()), "$HOME/x");
        assert_eq!(expand("${NOPE", &vars()), "${NOPE");
        assert_eq!(expand("cost$", &vars()), "cost$");
    }

    #[test]
    fn a_missing_executable_names_the_program_and_its_package() {
        let path = OsString::from("/nonexistent-dir");
        let err =
            resolve(Program::Xvfb, "/nonexistent/Xvfb $DISPLAY", false, &vars(), Some(&path)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("xvfb") && message.contains("Debian package xvfb"), "{message}");
        assert!(message.contains("/nonexistent/Xvfb"), "{message}");
    }

    #[test]
    fn commands_split_like_a_shell_and_expand() {
        let path = std::env::var_os("PATH");
        let launch =
            resolve(Program::Xfce4, "sh -c 'echo $DISPLAY' $DISPLAY", false, &vars(), path.as_ref()).unwrap();
        assert!(launch.executable.ends_with("sh"));
        assert_eq!(launch.args, vec!["-c", "echo :7", ":7"]);
        assert!(resolve(Program::Xfce4, "sh 'unclosed", false, &vars(), path.as_ref()).is_err());
        assert!(resolve(Program::Xfce4, "  ", false, &vars(), path.as_ref()).is_err());
    }

    #[test]
    fn default_commands_follow_the_bind_address() {
        assert!(Program::X11vnc.default_command(true).ends_with("-localhost"));
        assert!(!Program::X11vnc.default_command(false).contains("-localhost"));
        assert!(Program::Novnc.default_command(true).contains("127.0.0.1:$NO_VNC_PORT"));
    }
}
