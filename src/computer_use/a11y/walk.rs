//! Reading nodes and walking the tree: an explicit stack in depth-first pre-order (the order a
//! reader of the tree expects), a node budget, a depth cap and a deadline.
//!
//! A child that vanished during the walk is left out; an application that does not answer in
//! time is left out with everything below it (its other nodes are not asked again in this walk)
//! and the result says `truncated`. Only a failure at the root fails the walk.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use atspi::proxy::accessible::AccessibleProxy;
use atspi::proxy::action::ActionProxy;
use atspi::proxy::component::ComponentProxy;
use atspi::{CoordType, Interface, State};
use zbus::DBusError;
use zbus::proxy::CacheProperties;

use crate::computer_use::a11y::Tree;
use crate::computer_use::a11y::bus::CALL_TIMEOUT;
use crate::computer_use::a11y::error::A11yError;
use crate::computer_use::a11y::node::{Bounds, Node, NodeRef, Scope};

/// The most nodes one walk reads (the reference daemon's budget).
pub const WALK_BUDGET: usize = 20_000;
/// The deepest a walk goes, whatever `maxDepth` says: real trees are a few dozen levels deep,
/// and the JSON of a deeper one would be nested beyond what clients parse.
pub const MAX_DEPTH: usize = 256;
/// The longest one walk may take.
pub const WALK_DEADLINE: Duration = Duration::from_secs(60);

/// A proxy of interface `P` for one node, without property caching (which would cost a call and
/// a signal subscription per node).
pub async fn proxy<'c, P>(connection: &'c zbus::Connection, node: &NodeRef) -> Result<P, A11yError>
where
    P: From<zbus::Proxy<'c>> + zbus::proxy::Defaults,
{
    let builder = zbus::proxy::Builder::<P>::new(connection)
        .destination(node.bus.clone())
        .and_then(|b| b.path(node.path.clone()))
        .map_err(|err| A11yError::InvalidRequest(format!("invalid node id {}: {err}", node.id())))?;
    builder.cache_properties(CacheProperties::No).build().await.map_err(|err| classify(err, node))
}

/// Turns a failed call into what it means for the node.
pub fn classify(err: zbus::Error, node: &NodeRef) -> A11yError {
    let (name, detail) = match &err {
        zbus::Error::MethodError(name, detail, _) => {
            (name.to_string(), detail.as_deref().unwrap_or_default())
        }
        zbus::Error::FDO(fdo) => (fdo.name().to_string(), fdo.description().unwrap_or_default()),
        zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            return A11yError::Timeout { what: format!("the application {}", node.bus), after: CALL_TIMEOUT };
        }
        zbus::Error::InputOutput(io) => return A11yError::ConnectionLost(io.to_string()),
        other => return A11yError::Failed(format!("node {}: {other}", node.id())),
    };
    let detail = detail.trim();
    match name.as_str() {
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner"
        | "org.freedesktop.DBus.Error.UnknownObject" => {
            A11yError::NodeNotFound(format!("{} ({detail})", node.id()))
        }
        "org.freedesktop.DBus.Error.UnknownMethod"
        | "org.freedesktop.DBus.Error.UnknownInterface"
        | "org.freedesktop.DBus.Error.UnknownProperty"
        | "org.freedesktop.DBus.Error.NotSupported" => {
            A11yError::ActionNotSupported(format!("node {}: {name}: {detail}", node.id()))
        }
        _ => A11yError::Failed(format!("node {}: {name}: {detail}", node.id())),
    }
}

/// A read that may fail without failing the node: a D-Bus error from the application gives the
/// default, a timeout or a lost connection does not.
fn optional<T: Default>(result: zbus::Result<T>, node: &NodeRef) -> Result<T, A11yError> {
    match result {
        Ok(value) => Ok(value),
        Err(err) => match classify(err, node) {
            err @ (A11yError::Timeout { .. } | A11yError::ConnectionLost(_)) => Err(err),
            _ => Ok(T::default()),
        },
    }
}

/// Reads one node, and its children's ids when `children` is set. The calls go out together.
pub async fn read(
    connection: &zbus::Connection,
    node: &NodeRef,
    children: bool,
) -> Result<(Node, Vec<NodeRef>), A11yError> {
    let accessible: AccessibleProxy<'_> = proxy(connection, node).await?;
    let kids = async { if children { accessible.get_children().await.map(Some) } else { Ok(None) } };
    let (role, interfaces, name, description, states, kids) = tokio::join!(
        accessible.get_role_name(),
        accessible.get_interfaces(),
        accessible.name(),
        accessible.description(),
        accessible.get_state(),
        kids,
    );
    // The role is the one read every accessible object answers: its failure is the node's.
    let role = role.map_err(|err| classify(err, node))?;
    let interfaces = optional(interfaces, node)?;
    let mut read = Node {
        id: node.id(),
        role,
        name: optional(name, node)?,
        description: optional(description, node)?,
        states: optional(states, node)?,
        ..Node::default()
    };
    let component = interfaces.contains(Interface::Component);
    let action = interfaces.contains(Interface::Action);
    let (extents, actions) = tokio::join!(
        async {
            if !component {
                return Ok(None);
            }
            let proxy: ComponentProxy<'_> = proxy(connection, node).await?;
            optional(proxy.get_extents(CoordType::Screen).await.map(Some), node)
        },
        async {
            if !action {
                return Ok(Vec::new());
            }
            let proxy: ActionProxy<'_> = proxy(connection, node).await?;
            optional(proxy.get_actions().await, node)
        },
    );
    if let Some((x, y, width, height)) = extents? {
        read.bounds = Bounds { x, y, width, height };
    }
    read.actions = actions?.into_iter().map(|action| action.name).collect();
    Ok((read, refs(optional(kids, node)?.unwrap_or_default())))
}

/// The node a walk of `scope` starts at.
pub async fn scope_root(connection: &zbus::Connection, scope: Scope) -> Result<NodeRef, A11yError> {
    let registry = NodeRef::registry_root();
    if scope == Scope::All {
        return Ok(registry);
    }
    let apps = read_children(connection, &registry).await?;
    match scope {
        Scope::All => Ok(registry),
        Scope::Focused => {
            let active =
                futures_util::future::join_all(apps.iter().map(|app| has_active_window(connection, app)))
                    .await;
            let focused = apps.iter().zip(active).find(|(_, active)| *active).map(|(app, _)| app.clone());
            // Without an active window (no window manager), the first application, as in the
            // reference daemon.
            focused.or_else(|| apps.first().cloned()).ok_or(A11yError::NoFocusedRoot)
        }
        Scope::Pid(pid) => {
            let dbus = zbus::fdo::DBusProxy::new(connection)
                .await
                .map_err(|err| A11yError::Failed(format!("cannot ask the bus for process ids: {err}")))?;
            let pids = futures_util::future::join_all(
                apps.iter().map(|app| dbus.get_connection_unix_process_id(app.bus.as_ref())),
            )
            .await;
            apps.iter()
                .zip(pids)
                .find(|(_, owner)| owner.as_ref().is_ok_and(|owner| *owner == pid))
                .map(|(app, _)| app.clone())
                .ok_or(A11yError::NoApplicationForPid(i64::from(pid)))
        }
    }
}

/// Whether one of the application's windows is active; an application that does not answer
/// has none.
async fn has_active_window(connection: &zbus::Connection, app: &NodeRef) -> bool {
    let Ok(windows) = read_children(connection, app).await else {
        return false;
    };
    for window in windows.iter().take(64) {
        let Ok(accessible) = proxy::<AccessibleProxy<'_>>(connection, window).await else {
            continue;
        };
        if accessible.get_state().await.is_ok_and(|states| states.contains(State::Active)) {
            return true;
        }
    }
    false
}

async fn read_children(connection: &zbus::Connection, node: &NodeRef) -> Result<Vec<NodeRef>, A11yError> {
    let accessible: AccessibleProxy<'_> = proxy(connection, node).await?;
    Ok(refs(accessible.get_children().await.map_err(|err| classify(err, node))?))
}

/// Node ids of the (non-null) objects a `GetChildren` answered.
fn refs(children: Vec<atspi::ObjectRefOwned>) -> Vec<NodeRef> {
    children
        .into_iter()
        .filter(|child| !child.is_null())
        .filter_map(|child| NodeRef::parse(&format!("{}:{}", child.name_as_str()?, child.path_as_str())).ok())
        .collect()
}

/// The tree under `root`, `max_depth` levels deep (`None` = as deep as [`MAX_DEPTH`]).
pub async fn tree(
    connection: &zbus::Connection,
    root: NodeRef,
    max_depth: Option<usize>,
) -> Result<Tree, A11yError> {
    let mut walker = Walker::new(connection, root, max_depth);
    // Nodes in pre-order with their parent's index; the tree is assembled at the end.
    let mut nodes: Vec<(Node, Option<usize>)> = Vec::new();
    while let Some(visit) = walker.next().await? {
        let index = nodes.len();
        nodes.push((visit.node, visit.parent));
        walker.descend(visit.children, visit.depth + 1, Some(index));
    }
    // In pre-order every descendant comes after its ancestor: attaching from the back leaves
    // each node complete before it is attached (children reversed, so reverse them back).
    let mut slots: Vec<Option<Node>> = Vec::with_capacity(nodes.len());
    let mut parents = Vec::with_capacity(nodes.len());
    for (node, parent) in nodes {
        slots.push(Some(node));
        parents.push(parent);
    }
    for index in (1..slots.len()).rev() {
        let Some(mut node) = slots[index].take() else { continue };
        node.children.reverse();
        if let Some(parent) = parents[index].and_then(|p| slots[p].as_mut()) {
            parent.children.push(node);
        }
    }
    let mut root = slots
        .first_mut()
        .and_then(Option::take)
        .ok_or_else(|| A11yError::Failed("the walk read no node".to_owned()))?;
    root.children.reverse();
    Ok(Tree { root, truncated: walker.truncated() })
}

/// One node read by the walk.
#[derive(Debug)]
pub struct Visit {
    pub node: Node,
    pub depth: usize,
    pub parent: Option<usize>,
    /// The node's children, when the walk goes below it.
    pub children: Vec<NodeRef>,
}

#[derive(Debug)]
struct Pending {
    node: NodeRef,
    depth: usize,
    parent: Option<usize>,
}

/// Hands out the nodes under a root one by one; the caller decides what to descend into.
#[derive(Debug)]
pub struct Walker<'c> {
    connection: &'c zbus::Connection,
    stack: Vec<Pending>,
    budget: usize,
    max_depth: usize,
    deadline: Instant,
    /// Applications that did not answer in time; their nodes are skipped.
    hung: HashSet<String>,
    truncated: bool,
    first: bool,
}

impl<'c> Walker<'c> {
    pub fn new(connection: &'c zbus::Connection, root: NodeRef, max_depth: Option<usize>) -> Self {
        Walker {
            connection,
            stack: vec![Pending { node: root, depth: 0, parent: None }],
            budget: WALK_BUDGET,
            max_depth: max_depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH),
            deadline: Instant::now() + WALK_DEADLINE,
            hung: HashSet::new(),
            truncated: false,
            first: true,
        }
    }

    /// Whether the budget, the depth cap, the deadline or an unanswering application left
    /// nodes out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn has_pending(&self) -> bool {
        !self.stack.is_empty()
    }

    /// Queues `children` (read next, in order).
    pub fn descend(&mut self, children: Vec<NodeRef>, depth: usize, parent: Option<usize>) {
        // Never queue more than the budget can read.
        let room = self.budget.saturating_sub(self.stack.len());
        if children.len() > room {
            self.truncated = true;
        }
        let take = children.len().min(room);
        self.stack.extend(children.into_iter().take(take).rev().map(|node| Pending { node, depth, parent }));
    }

    /// The next node in pre-order, or `None` when the walk is over.
    pub async fn next(&mut self) -> Result<Option<Visit>, A11yError> {
        while let Some(Pending { node, depth, parent }) = self.stack.pop() {
            let root = std::mem::take(&mut self.first);
            if self.budget == 0 || Instant::now() >= self.deadline {
                self.truncated = true;
                self.stack.clear();
                return Ok(None);
            }
            if self.hung.contains(node.bus.as_str()) {
                continue;
            }
            self.budget -= 1;
            // At the requested depth the children are not read; at the cap they are, to know
            // whether the tree went on.
            let read_children = depth < self.max_depth || (depth == MAX_DEPTH && self.max_depth == MAX_DEPTH);
            match read(self.connection, &node, read_children).await {
                Ok((read, mut children)) => {
                    if depth >= self.max_depth {
                        if !children.is_empty() && depth >= MAX_DEPTH {
                            self.truncated = true;
                        }
                        children.clear();
                    }
                    return Ok(Some(Visit { node: read, depth, parent, children }));
                }
                Err(err) if root => return Err(err),
                Err(A11yError::NodeNotFound(_) | A11yError::ActionNotSupported(_) | A11yError::Failed(_)) => {
                }
                Err(A11yError::Timeout { .. }) => {
                    self.truncated = true;
                    self.hung.insert(node.bus.to_string());
                }
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }
}
