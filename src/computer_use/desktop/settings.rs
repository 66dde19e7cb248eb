//! The stack's settings, read from the daemon's environment at each start, as the contract
//! names them: `DISPLAY`, `VNC_RESOLUTION`, `VNC_PORT`, `NO_VNC_PORT`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::computer_use::desktop::error::StartFailure;
use crate::environment::Environment;

const DEFAULT_RESOLUTION: &str = "1024x768";
const DEFAULT_VNC_PORT: u16 = 5901;
const DEFAULT_NOVNC_PORT: u16 = 6080;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// As given, e.g. `:0` or `:1.0`.
    pub display: String,
    /// The display number: the X server's socket is `/tmp/.X11-unix/X<number>`.
    pub display_number: u32,
    pub resolution: String,
    pub vnc_port: u16,
    pub novnc_port: u16,
}

impl Settings {
    /// Reads the settings; `display` is the one the desktop helper uses too.
    pub fn from_env(env: &Environment, display: String) -> Result<Settings, StartFailure> {
        let var =
            |name: &'static str| env.get(name).and_then(|v| v.into_string().ok()).filter(|v| !v.is_empty());
        let display_number = parse_display(&display).ok_or_else(|| StartFailure::BadSetting {
            name: "DISPLAY",
            value: display.clone(),
            expected: "a local display such as :0 or :1.0",
        })?;
        let resolution = var("VNC_RESOLUTION").unwrap_or_else(|| DEFAULT_RESOLUTION.to_owned());
        if !valid_resolution(&resolution) {
            return Err(StartFailure::BadSetting {
                name: "VNC_RESOLUTION",
                value: resolution,
                expected: "WIDTHxHEIGHT such as 1024x768",
            });
        }
        let port = |name: &'static str, default: u16| match var(name) {
            None => Ok(default),
            Some(raw) => raw.parse::<u16>().ok().filter(|p| *p != 0).ok_or(StartFailure::BadSetting {
                name,
                value: raw,
                expected: "a TCP port 1-65535",
            }),
        };
        Ok(Settings {
            display,
            display_number,
            resolution,
            vnc_port: port("VNC_PORT", DEFAULT_VNC_PORT)?,
            novnc_port: port("NO_VNC_PORT", DEFAULT_NOVNC_PORT)?,
        })
    }

    /// The variables a command line may use and every program is started with.
    pub fn vars(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("DISPLAY", self.display.clone()),
            ("VNC_RESOLUTION", self.resolution.clone()),
            ("VNC_PORT", self.vnc_port.to_string()),
            ("NO_VNC_PORT", self.novnc_port.to_string()),
        ])
    }

    /// The X server's Unix socket.
    pub fn x_socket(&self) -> PathBuf {
        PathBuf::from(format!("/tmp/.X11-unix/X{}", self.display_number))
    }
}

/// The display number of a local display name: `:N`, `:N.S` or `unix:N[.S]`.
pub fn parse_display(display: &str) -> Option<u32> {
    let rest = display.strip_prefix("unix").unwrap_or(display).strip_prefix(':')?;
    let number = rest.split_once('.').map_or(rest, |(n, _)| n);
    number.parse().ok()
}

fn valid_resolution(value: &str) -> bool {
    value
        .split_once('x')
        .is_some_and(|(w, h)| [w, h].iter().all(|n| n.parse::<u32>().is_ok_and(|n| (1..=16384).contains(&n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_displays_parse_and_remote_ones_do_not() {
        assert_eq!(parse_display(":0"), Some(0));
        assert_eq!(parse_display(":12.0"), Some(12));
        assert_eq!(parse_display("unix:3"), Some(3));
        assert_eq!(parse_display("localhost:10.0"), None);
        assert_eq!(parse_display("0"), None);
        assert_eq!(parse_display(":x"), None);
    }

    #[test]
    fn resolutions_are_width_by_height() {
        assert!(valid_resolution("1024x768"));
        assert!(!valid_resolution("1024x768x24"));
        assert!(!valid_resolution("0x768"));
        assert!(!valid_resolution("big"));
    }
}
