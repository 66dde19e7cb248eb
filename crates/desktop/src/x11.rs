//! What the helper asks the X server directly (through x11rb, pure Rust): the pointer, the
//! monitors and the window manager's list of application windows.

use toolboxd_desktop_protocol::{Display, ErrorKind, HelperError, Point, Window};
use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, MapState};
use x11rb::rust_connection::RustConnection;

x11rb::atom_manager! {
    Atoms: AtomsCookie {
        _NET_CLIENT_LIST,
        _NET_ACTIVE_WINDOW,
        _NET_WM_NAME,
        _NET_WM_VISIBLE_NAME,
        _NET_WM_PID,
        UTF8_STRING,
    }
}

/// The longest property value read, in 32-bit units (window lists, titles).
const PROPERTY_LIMIT: u32 = 1 << 16;

/// A connection to the X server for queries (input goes through enigo's own connection).
pub(crate) struct X {
    conn: RustConnection,
    root: u32,
    width: u16,
    height: u16,
    atoms: Atoms,
}

impl std::fmt::Debug for X {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X")
            .field("root", &self.root)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

fn failed(what: &str, err: impl std::fmt::Display) -> HelperError {
    HelperError::new(ErrorKind::Failed, format!("{what}: {err}"))
}

impl X {
    pub(crate) fn connect(display: &str) -> Result<X, HelperError> {
        let (conn, screen) = x11rb::connect(Some(display)).map_err(|err| {
            HelperError::new(
                ErrorKind::DisplayUnreachable,
                format!("cannot connect to X display {display}: {err}"),
            )
        })?;
        let root = &conn.setup().roots[screen];
        let (root, width, height) = (root.root, root.width_in_pixels, root.height_in_pixels);
        let atoms = Atoms::new(&conn)
            .map_err(|err| failed("interning atoms", err))?
            .reply()
            .map_err(|err| failed("interning atoms", err))?;
        Ok(X { conn, root, width, height, atoms })
    }

    /// The size of the X screen (the root window).
    pub(crate) fn screen_size(&self) -> (u32, u32) {
        (u32::from(self.width), u32::from(self.height))
    }

    /// Whether the server still answers; a failed operation asks before it blames the input.
    pub(crate) fn alive(&self) -> bool {
        self.conn.get_input_focus().ok().and_then(|cookie| cookie.reply().ok()).is_some()
    }

    pub(crate) fn pointer(&self) -> Result<Point, HelperError> {
        let reply = self
            .conn
            .query_pointer(self.root)
            .map_err(|err| failed("querying the pointer", err))?
            .reply()
            .map_err(|err| failed("querying the pointer", err))?;
        Ok(Point { x: i32::from(reply.root_x), y: i32::from(reply.root_y) })
    }

    /// The RandR monitors, or the whole screen as one display when RandR lists none.
    pub(crate) fn displays(&self) -> Result<Vec<Display>, HelperError> {
        let monitors =
            self.conn.randr_get_monitors(self.root, true).ok().and_then(|cookie| cookie.reply().ok());
        let mut displays: Vec<Display> = monitors
            .map(|reply| reply.monitors)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, monitor)| Display {
                id: index as u32,
                x: i32::from(monitor.x),
                y: i32::from(monitor.y),
                width: u32::from(monitor.width),
                height: u32::from(monitor.height),
                primary: monitor.primary,
            })
            .collect();
        if displays.is_empty() {
            let (width, height) = self.screen_size();
            displays.push(Display { id: 0, x: 0, y: 0, width, height, primary: true });
        }
        Ok(displays)
    }

    /// The window manager's client list (`_NET_CLIENT_LIST`), or, without a window manager, the
    /// mapped top-level windows; untitled windows are left out.
    pub(crate) fn windows(&self) -> Result<Vec<Window>, HelperError> {
        let active = self
            .property32(self.root, self.atoms._NET_ACTIVE_WINDOW, AtomEnum::WINDOW.into())
            .first()
            .copied();
        let mut ids = self.property32(self.root, self.atoms._NET_CLIENT_LIST, AtomEnum::WINDOW.into());
        if ids.is_empty() {
            ids = self.mapped_top_levels()?;
        }
        Ok(ids.into_iter().filter_map(|id| self.window(id, active)).collect())
    }

    /// One window's details, or `None` when it has no title or vanished meanwhile.
    fn window(&self, id: u32, active: Option<u32>) -> Option<Window> {
        let title = self.title(id)?;
        let geometry = self.conn.get_geometry(id).ok()?.reply().ok()?;
        let origin = self.conn.translate_coordinates(id, self.root, 0, 0).ok()?.reply().ok()?;
        let pid = self.property32(id, self.atoms._NET_WM_PID, AtomEnum::CARDINAL.into()).first().copied();
        Some(Window {
            id,
            title,
            x: i32::from(origin.dst_x),
            y: i32::from(origin.dst_y),
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
            active: active == Some(id),
            pid,
        })
    }

    fn title(&self, id: u32) -> Option<String> {
        let utf8 = self.atoms.UTF8_STRING;
        [(self.atoms._NET_WM_VISIBLE_NAME, utf8), (self.atoms._NET_WM_NAME, utf8)]
            .into_iter()
            .chain(std::iter::once((AtomEnum::WM_NAME.into(), AtomEnum::ANY.into())))
            .find_map(|(name, kind)| {
                let reply =
                    self.conn.get_property(false, id, name, kind, 0, PROPERTY_LIMIT).ok()?.reply().ok()?;
                let text = if reply.type_ == utf8 {
                    String::from_utf8_lossy(&reply.value).into_owned()
                } else {
                    // WM_NAME is usually Latin-1 (STRING); each byte is its code point.
                    reply.value.iter().map(|&b| char::from(b)).collect()
                };
                let text = text.trim_end_matches('\0').to_owned();
                (!text.is_empty()).then_some(text)
            })
    }

    fn mapped_top_levels(&self) -> Result<Vec<u32>, HelperError> {
        let tree = self
            .conn
            .query_tree(self.root)
            .map_err(|err| failed("listing windows", err))?
            .reply()
            .map_err(|err| failed("listing windows", err))?;
        Ok(tree
            .children
            .into_iter()
            .filter(|&id| {
                let attributes = self.conn.get_window_attributes(id).ok().and_then(|c| c.reply().ok());
                attributes.is_some_and(|a| a.map_state == MapState::VIEWABLE && !a.override_redirect)
            })
            .collect())
    }

    fn property32(&self, window: u32, property: u32, kind: u32) -> Vec<u32> {
        self.conn
            .get_property(false, window, property, kind, 0, PROPERTY_LIMIT)
            .ok()
            .and_then(|cookie| cookie.reply().ok())
            .and_then(|reply| reply.value32().map(Iterator::collect))
            .unwrap_or_default()
    }
}
