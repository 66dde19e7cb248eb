//! Computer use (`/computeruse`): the desktop stack and, through the desktop helper, input,
//! screenshots and displays.

use crate::environment::Environment;

pub mod desktop;

/// The X display the stack serves and the helper talks to: the environment's `DISPLAY`, else
/// `:0`.
pub fn display(env: &Environment) -> String {
    env.get("DISPLAY")
        .and_then(|v| v.into_string().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| ":0".to_owned())
}
