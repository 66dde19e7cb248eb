//! Finding the accessibility bus and connecting to it, as AT-SPI clients do.
//!
//! AT-SPI runs a D-Bus bus of its own (started by `at-spi-bus-launcher`). Its address is found,
//! in order: the `AT_SPI_BUS_ADDRESS` variable; `org.a11y.Bus.GetAddress` on the session bus
//! (`DBUS_SESSION_BUS_ADDRESS`, else `/run/user/<uid>/bus`), which also starts the launcher
//! when the session bus can activate it; the `AT_SPI_BUS` property of the X root window, which
//! the launcher of a desktop session sets (read with `xprop`, only when `DISPLAY` is set). All
//! variables are read from the daemon's environment as `POST /env` leaves it. Every step is
//! bounded by a timeout, so a wedged bus answers 503 instead of hanging the request.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use atspi::proxy::bus::BusProxy;
use tokio::io::AsyncReadExt;

use crate::computer_use::a11y::error::A11yError;
use crate::environment::Environment;
use crate::process::owner::{ChildIo, Spawn};

/// How long connecting to a bus (and its authentication handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one D-Bus call may take before the application is presumed hung.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of `xprop`'s output that is read (the property is one short address).
const XPROP_OUTPUT_LIMIT: u64 = 64 * 1024;

/// Connects to the accessibility bus; the error says everything that was tried.
pub async fn connect(env: &Environment, cwd: &Path) -> Result<zbus::Connection, A11yError> {
    let mut tried = Vec::new();
    if let Some(address) = var(env, "AT_SPI_BUS_ADDRESS") {
        return open(&address).await.map_err(|err| {
            A11yError::BusUnreachable(format!("AT_SPI_BUS_ADDRESS={address} does not answer: {err}"))
        });
    }
    match session_bus_address(env) {
        Some(session) => match address_from_session_bus(&session).await {
            Ok(address) => match open(&address).await {
                Ok(connection) => return Ok(connection),
                Err(err) => {
                    tried.push(format!("the address {address} from the session bus does not answer: {err}"))
                }
            },
            Err(err) => tried.push(format!("the session bus {session}: {err}")),
        },
        None => tried.push("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)".to_owned()),
    }
    if var(env, "DISPLAY").is_some() {
        match address_from_x_root(env, cwd).await {
            Ok(address) => match open(&address).await {
                Ok(connection) => return Ok(connection),
                Err(err) => {
                    tried.push(format!("AT_SPI_BUS={address} on the X root window does not answer: {err}"))
                }
            },
            Err(detail) => tried.push(detail),
        }
    }
    Err(A11yError::BusUnreachable(format!(
        "{}; start the desktop with POST /computeruse/start (with at-spi2-core installed) or set \
         AT_SPI_BUS_ADDRESS or DBUS_SESSION_BUS_ADDRESS with POST /env",
        tried.join("; ")
    )))
}

fn var(env: &Environment, name: &str) -> Option<String> {
    env.get(name).and_then(|value: OsString| value.into_string().ok()).filter(|value| !value.is_empty())
}

/// The session bus, without D-Bus autolaunch (which would start a bus nobody else uses).
fn session_bus_address(env: &Environment) -> Option<String> {
    if let Some(address) = var(env, "DBUS_SESSION_BUS_ADDRESS").filter(|a| !a.starts_with("autolaunch:")) {
        return Some(address);
    }
    let user_bus = format!("/run/user/{}/bus", rustix::process::geteuid().as_raw());
    Path::new(&user_bus).exists().then(|| format!("unix:path={user_bus}"))
}

async fn open(address: &str) -> Result<zbus::Connection, String> {
    let builder = zbus::connection::Builder::address(address).map_err(|err| err.to_string())?;
    match tokio::time::timeout(CONNECT_TIMEOUT, builder.method_timeout(CALL_TIMEOUT).build()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

async fn address_from_session_bus(session: &str) -> Result<String, String> {
    let connection = open(session).await?;
    let ask = async {
        let bus = BusProxy::new(&connection).await?;
        bus.get_address().await
    };
    let address = match tokio::time::timeout(CALL_TIMEOUT, ask).await {
        Ok(Ok(address)) => address,
        Ok(Err(err)) => return Err(format!("org.a11y.Bus.GetAddress failed: {err}")),
        Err(_) => {
            return Err(format!("org.a11y.Bus.GetAddress did not answer within {}s", CALL_TIMEOUT.as_secs()));
        }
    };
    if address.is_empty() {
        return Err("org.a11y.Bus.GetAddress answered an empty address".to_owned());
    }
    Ok(address)
}

/// Reads `AT_SPI_BUS` from the X root window with `xprop` (x11-utils), so the core links no X
/// library and X authorisation works as for any X client.
async fn address_from_x_root(env: &Environment, cwd: &Path) -> Result<String, String> {
    let mut spawn = Spawn::new("xprop", cwd, env);
    spawn.args(["-root", "AT_SPI_BUS"]).stdout(ChildIo::Piped);
    let mut child = spawn
        .spawn()
        .map_err(|err| format!("cannot run xprop (x11-utils) to read the X root window: {err}"))?;
    let Some(stdout) = child.stdout.take() else {
        return Err("xprop has no output pipe".to_owned());
    };
    let read = async {
        let mut text = String::new();
        stdout.take(XPROP_OUTPUT_LIMIT).read_to_string(&mut text).await.map(|_| text)
    };
    let output = tokio::time::timeout(CALL_TIMEOUT, read).await;
    // The tree dies with its last handle; make sure xprop is gone before answering.
    child.tree.kill().await;
    let text = match output {
        Ok(Ok(text)) => text,
        Ok(Err(err)) => return Err(format!("cannot read xprop's output: {err}")),
        Err(_) => return Err(format!("xprop did not answer within {}s", CALL_TIMEOUT.as_secs())),
    };
    // xprop prints the property's name when it reached the display, and nothing on stdout
    // when it could not.
    if !text.starts_with("AT_SPI_BUS") {
        let display = var(env, "DISPLAY").unwrap_or_default();
        return Err(format!("xprop cannot read the root window of DISPLAY={display} (no X server there?)"));
    }
    parse_xprop(&text).ok_or_else(|| "the X root window has no AT_SPI_BUS property".to_owned())
}

/// `AT_SPI_BUS(STRING) = "unix:path=…"` → the address.
fn parse_xprop(text: &str) -> Option<String> {
    let (_, value) = text.split_once(" = ")?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    (!value.is_empty()).then(|| value.replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xprop_output_gives_the_address() {
        let text = "AT_SPI_BUS(STRING) = \"unix:path=/run/user/0/at-spi/bus_0,guid=abc\"\n";
        assert_eq!(parse_xprop(text).as_deref(), Some("unix:path=/run/user/0/at-spi/bus_0,guid=abc"));
        assert_eq!(parse_xprop("AT_SPI_BUS:  not found.\n"), None);
        assert_eq!(parse_xprop("AT_SPI_BUS(STRING) = \"\"\n"), None);
    }

    #[test]
    fn autolaunch_is_not_a_session_bus() {
        let env = Environment::default();
        env.apply(&crate::environment::EnvUpdate {
            set: vec![("DBUS_SESSION_BUS_ADDRESS", "autolaunch:")],
            ..Default::default()
        })
        .unwrap();
        assert!(session_bus_address(&env).is_none_or(|address| address.starts_with("unix:path=/run/user/")));
    }
}
