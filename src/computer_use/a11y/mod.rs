//! Accessibility (`/computeruse/a11y/…`): the AT-SPI tree of the desktop's applications, searching
//! it, and focusing, invoking and setting the value of its nodes.
//!
//! AT-SPI is a D-Bus protocol, spoken here with the pure-Rust `atspi` proxies over `zbus` on the
//! daemon's tokio runtime, so this lives in the core binary and links no C library. Nothing
//! happens at start-up: the bus is found and connected to on the first request (`bus.rs`), and
//! the connection is kept until it breaks or the variables that locate the bus change.
//!
//! Invariants: every D-Bus call is bounded by [`bus::CALL_TIMEOUT`] (a hung application fails
//! its own nodes, not the request); a walk visits at most [`walk::WALK_BUDGET`] nodes, goes at
//! most [`walk::MAX_DEPTH`] levels deep and lasts at most [`walk::WALK_DEADLINE`], and says
//! `truncated` when it stopped early. The walk is iterative, so a deep or cyclic tree cannot exhaust the stack.
//!
//! Must not know: HTTP (`routes.rs` translates, `error.rs` maps [`A11yError`] once).

pub mod bus;
pub mod error;
pub mod node;
pub mod routes;
pub mod types;
pub mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use atspi::proxy::action::ActionProxy;
use atspi::proxy::component::ComponentProxy;
use atspi::proxy::editable_text::EditableTextProxy;
use atspi::proxy::value::ValueProxy;
use atspi::{Interface, InterfaceSet};

pub use crate::computer_use::a11y::error::A11yError;
use crate::computer_use::a11y::node::{Filter, Node, NodeRef, Scope};
use crate::computer_use::a11y::walk::{Walker, classify, proxy};
use crate::environment::Environment;
use crate::state::Context;

/// The variables that locate the bus; a change to any of them means connecting again.
const LOCATING_VARS: [&str; 3] = ["AT_SPI_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY"];

#[derive(Debug, Clone)]
pub struct AccessibilityService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    cwd: PathBuf,
    /// Held while connecting (bounded by the connect timeouts), so concurrent first requests
    /// share one connection.
    bus: tokio::sync::Mutex<Option<Bus>>,
}

#[derive(Debug)]
struct Bus {
    connection: zbus::Connection,
    located_by: Vec<Option<std::ffi::OsString>>,
}

/// A tree and whether the walk stopped early.
#[derive(Debug)]
pub struct Tree {
    pub root: Node,
    pub truncated: bool,
}

/// Search results (nodes without children) and whether the walk or the limit stopped it early.
#[derive(Debug)]
pub struct Matches {
    pub nodes: Vec<Node>,
    pub truncated: bool,
}

impl AccessibilityService {
    pub fn new(ctx: &Context) -> Self {
        AccessibilityService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                cwd: ctx.dirs.work.clone(),
                bus: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Closes the connection to the bus, if any.
    pub async fn shutdown(&self) {
        self.inner.bus.lock().await.take();
    }

    /// The tree under the scope's root, `max_depth` levels below it (`None` = unbounded).
    pub async fn tree(&self, scope: Scope, max_depth: Option<usize>) -> Result<Tree, A11yError> {
        let connection = self.connection().await?;
        let result = async {
            let root = walk::scope_root(&connection, scope).await?;
            walk::tree(&connection, root, max_depth).await
        }
        .await;
        self.forget_if_lost(result).await
    }

    /// Every node under the scope's root that matches, in tree order, at most `limit`.
    pub async fn find(&self, scope: Scope, filter: &Filter, limit: usize) -> Result<Matches, A11yError> {
        let connection = self.connection().await?;
        let result = async {
            let root = walk::scope_root(&connection, scope).await?;
            let mut walker = Walker::new(&connection, root, None);
            let mut nodes = Vec::new();
            while let Some(visit) = walker.next().await? {
                walker.descend(visit.children, visit.depth + 1, None);
                if filter.matches(&visit.node) {
                    nodes.push(visit.node);
                    if nodes.len() >= limit {
                        break;
                    }
                }
            }
            let truncated = walker.truncated() || (nodes.len() >= limit && walker.has_pending());
            Ok(Matches { nodes, truncated })
        }
        .await;
        self.forget_if_lost(result).await
    }

    /// Moves keyboard focus to the node (`Component.GrabFocus`).
    pub async fn focus(&self, node: &NodeRef) -> Result<(), A11yError> {
        let connection = self.connection().await?;
        let result = async {
            require(&connection, node, Interface::Component, "it cannot take focus").await?;
            let component: ComponentProxy<'_> = proxy(&connection, node).await?;
            let focused = component.grab_focus().await.map_err(|err| classify(err, node))?;
            if !focused {
                return Err(A11yError::ActionNotSupported(format!("node {} refused focus", node.id())));
            }
            Ok(())
        }
        .await;
        self.forget_if_lost(result).await
    }

    /// Runs the named action (case-insensitive), or the first one when `action` is empty.
    pub async fn invoke(&self, node: &NodeRef, action: Option<&str>) -> Result<(), A11yError> {
        let connection = self.connection().await?;
        let result = async {
            require(&connection, node, Interface::Action, "it has no actions").await?;
            let proxy: ActionProxy<'_> = proxy(&connection, node).await?;
            let actions = proxy.get_actions().await.map_err(|err| classify(err, node))?;
            let wanted = action.map(str::trim).filter(|name| !name.is_empty());
            let index = match wanted {
                None if actions.is_empty() => None,
                None => Some(0),
                Some(name) => actions.iter().position(|a| a.name.eq_ignore_ascii_case(name)),
            };
            let Some(index) = index else {
                let names: Vec<&str> = actions.iter().map(|a| a.name.as_str()).collect();
                return Err(A11yError::ActionNotSupported(format!(
                    "node {} has no action {:?} (its actions: {names:?})",
                    node.id(),
                    wanted.unwrap_or_default()
                )));
            };
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            let done = proxy.do_action(index).await.map_err(|err| classify(err, node))?;
            if !done {
                return Err(A11yError::ActionNotSupported(format!(
                    "node {} refused action {:?}",
                    node.id(),
                    actions[usize::try_from(index).unwrap_or(0)].name
                )));
            }
            Ok(())
        }
        .await;
        self.forget_if_lost(result).await
    }

    /// Replaces the node's text (`EditableText.SetTextContents`), else sets its numeric value
    /// (`Value.CurrentValue`).
    pub async fn set_value(&self, node: &NodeRef, value: &str) -> Result<(), A11yError> {
        let connection = self.connection().await?;
        let result = async {
            let interfaces = interfaces(&connection, node).await?;
            if interfaces.contains(Interface::EditableText) {
                let text: EditableTextProxy<'_> = proxy(&connection, node).await?;
                // Toolkits answer false even when the text changed, so the call succeeding is
                // what counts (as in the reference daemon).
                text.set_text_contents(value).await.map_err(|err| classify(err, node))?;
                return Ok(());
            }
            if interfaces.contains(Interface::Value) {
                let number: f64 = value.trim().parse().map_err(|_| {
                    A11yError::ActionNotSupported(format!(
                        "node {} takes a number and {value:?} is not one",
                        node.id()
                    ))
                })?;
                let proxy: ValueProxy<'_> = proxy(&connection, node).await?;
                proxy.set_current_value(number).await.map_err(|err| classify(err, node))?;
                return Ok(());
            }
            Err(A11yError::ActionNotSupported(format!(
                "node {} has neither editable text nor a value",
                node.id()
            )))
        }
        .await;
        self.forget_if_lost(result).await
    }

    async fn connection(&self) -> Result<zbus::Connection, A11yError> {
        let located_by: Vec<_> = LOCATING_VARS.iter().map(|name| self.inner.env.get(name)).collect();
        let mut bus = self.inner.bus.lock().await;
        if let Some(existing) = bus.as_ref().filter(|b| b.located_by == located_by) {
            return Ok(existing.connection.clone());
        }
        let connection = bus::connect(&self.inner.env, &self.inner.cwd).await?;
        *bus = Some(Bus { connection: connection.clone(), located_by });
        Ok(connection)
    }

    /// A broken connection is dropped, so the next request connects again.
    async fn forget_if_lost<T>(&self, result: Result<T, A11yError>) -> Result<T, A11yError> {
        if matches!(result, Err(A11yError::ConnectionLost(_))) {
            self.inner.bus.lock().await.take();
        }
        result
    }
}

async fn interfaces(connection: &zbus::Connection, node: &NodeRef) -> Result<InterfaceSet, A11yError> {
    let accessible: atspi::proxy::accessible::AccessibleProxy<'_> = proxy(connection, node).await?;
    accessible.get_interfaces().await.map_err(|err| classify(err, node))
}

async fn require(
    connection: &zbus::Connection,
    node: &NodeRef,
    interface: Interface,
    otherwise: &str,
) -> Result<(), A11yError> {
    if interfaces(connection, node).await?.contains(interface) {
        Ok(())
    } else {
        Err(A11yError::ActionNotSupported(format!(
            "node {} has no {interface:?} interface: {otherwise}",
            node.id()
        )))
    }
}
