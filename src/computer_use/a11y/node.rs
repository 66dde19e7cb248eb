//! Node ids, nodes, scopes and search filters: the accessibility area's own types, checked once
//! when a request is read.

use atspi::{State, StateSet};
use regex::Regex;
use zbus::names::OwnedBusName;
use zbus::zvariant::OwnedObjectPath;

use crate::computer_use::a11y::error::A11yError;

/// The registry's root, whose children are the applications on the bus.
pub const REGISTRY: &str = "org.a11y.atspi.Registry";
pub const ROOT_PATH: &str = "/org/a11y/atspi/accessible/root";
/// The most a search may return; `limit` ≤ 0 means [`FIND_DEFAULT_LIMIT`].
pub const FIND_MAX_LIMIT: usize = 5000;
pub const FIND_DEFAULT_LIMIT: usize = 500;
/// The longest regex source a search accepts, and the most memory its compiled form may use.
const REGEX_MAX_LEN: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One accessible object: `<bus-name>:<object-path>` on the accessibility bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    pub bus: OwnedBusName,
    pub path: OwnedObjectPath,
}

impl NodeRef {
    pub fn registry_root() -> NodeRef {
        NodeRef::parse(&format!("{REGISTRY}:{ROOT_PATH}")).unwrap_or_else(|_| unreachable!("a valid id"))
    }

    /// Splits at the `:` just before the first `/`: bus names contain no `/` and object paths
    /// start with one, so unique (`:1.42`) and well-known names both parse.
    pub fn parse(id: &str) -> Result<NodeRef, A11yError> {
        let invalid = |why: &str| A11yError::InvalidRequest(format!("invalid node id {id:?}: {why}"));
        let slash = id.find('/').ok_or_else(|| invalid("no object path"))?;
        let bus = id[..slash].strip_suffix(':').ok_or_else(|| invalid("no ':' before the object path"))?;
        if bus.is_empty() {
            return Err(invalid("empty bus name"));
        }
        let bus = OwnedBusName::try_from(bus).map_err(|err| invalid(&format!("bad bus name: {err}")))?;
        let path = OwnedObjectPath::try_from(&id[slash..])
            .map_err(|err| invalid(&format!("bad object path: {err}")))?;
        Ok(NodeRef { bus, path })
    }

    pub fn id(&self) -> String {
        format!("{}:{}", self.bus, self.path.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub id: String,
    /// The AT-SPI role name (`push button`, `text`, `frame`…).
    pub role: String,
    pub name: String,
    pub description: String,
    pub bounds: Bounds,
    pub states: StateSet,
    pub actions: Vec<String>,
    pub children: Vec<Node>,
}

/// A state's wire name: the AT-SPI name in lower_snake (`multi_line`, `read_only`).
pub fn state_name(state: State) -> String {
    state.to_static_str().replace('-', "_")
}

/// Where a walk starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The application with the active window (else the first application).
    Focused,
    /// The application whose connection to the bus belongs to this process.
    Pid(u32),
    /// The registry root: every application.
    All,
}

impl Scope {
    /// `scope` is case-insensitive, absent or empty = focused; `pid` counts only with `pid`.
    pub fn parse(scope: Option<&str>, pid: Option<i64>) -> Result<Scope, A11yError> {
        let scope = scope.unwrap_or_default();
        match scope.trim().to_ascii_lowercase().as_str() {
            "" | "focused" => Ok(Scope::Focused),
            "all" => Ok(Scope::All),
            "pid" => match pid {
                None => Err(A11yError::InvalidRequest("scope pid needs a pid".to_owned())),
                Some(pid) => u32::try_from(pid)
                    .ok()
                    .filter(|pid| *pid > 0)
                    .map(Scope::Pid)
                    .ok_or_else(|| A11yError::InvalidRequest(format!("pid must be positive, got {pid}"))),
            },
            _ => Err(A11yError::InvalidScope(scope.to_owned())),
        }
    }
}

#[derive(Debug, Clone)]
pub enum NameMatch {
    Substring(String),
    Exact(String),
    Regex(Regex),
}

/// What a search looks for; every given part must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Lower-cased; compared with the role name case-insensitively.
    pub role: Option<String>,
    pub name: Option<NameMatch>,
    pub states: StateSet,
}

impl Filter {
    pub fn parse(
        role: Option<&str>,
        name: Option<&str>,
        name_match: Option<&str>,
        states: &[String],
    ) -> Result<Filter, A11yError> {
        let mode = name_match.unwrap_or_default().trim().to_ascii_lowercase();
        let name = name.filter(|name| !name.is_empty());
        let name = match (mode.as_str(), name) {
            ("" | "substring" | "exact" | "regex", None) => None,
            ("" | "substring", Some(name)) => Some(NameMatch::Substring(name.to_owned())),
            ("exact", Some(name)) => Some(NameMatch::Exact(name.to_owned())),
            ("regex", Some(name)) => Some(NameMatch::Regex(compile(name)?)),
            _ => {
                return Err(A11yError::InvalidRequest(format!(
                    "unknown nameMatch {:?}, expected substring, exact or regex",
                    name_match.unwrap_or_default()
                )));
            }
        };
        let role = role.map(str::trim).filter(|role| !role.is_empty()).map(str::to_lowercase);
        let states = states.iter().map(|state| parse_state(state)).collect::<Result<StateSet, _>>()?;
        Ok(Filter { role, name, states })
    }

    pub fn matches(&self, node: &Node) -> bool {
        if self.role.as_ref().is_some_and(|role| node.role.to_lowercase() != *role) {
            return false;
        }
        let name_ok = match &self.name {
            None => true,
            Some(NameMatch::Substring(name)) => node.name.contains(name.as_str()),
            Some(NameMatch::Exact(name)) => node.name == *name,
            Some(NameMatch::Regex(regex)) => regex.is_match(&node.name),
        };
        name_ok && self.states.iter().all(|state| node.states.contains(state))
    }
}

fn compile(source: &str) -> Result<Regex, A11yError> {
    if source.len() > REGEX_MAX_LEN {
        return Err(A11yError::InvalidRequest(format!("name regex longer than {REGEX_MAX_LEN} bytes")));
    }
    regex::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| A11yError::InvalidRequest(format!("invalid name regex: {err}")))
}

/// `multi_line`, `multi-line` and `MULTI_LINE` are one state; an unknown name is an error (it
/// could never match).
fn parse_state(name: &str) -> Result<State, A11yError> {
    let hyphenated = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    let state = State::from(hyphenated.as_str());
    if state == State::Invalid && hyphenated != "invalid" {
        return Err(A11yError::InvalidRequest(format!("unknown state {name:?}")));
    }
    Ok(state)
}

/// `limit` ≤ 0 (or absent) → the default; above the cap → the cap.
pub fn find_limit(limit: Option<i64>) -> usize {
    match limit {
        Some(limit) if limit > 0 => usize::try_from(limit).unwrap_or(FIND_MAX_LIMIT).min(FIND_MAX_LIMIT),
        _ => FIND_DEFAULT_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_split_before_the_object_path() {
        let node = NodeRef::parse(":1.42:/org/a11y/atspi/accessible/7").unwrap();
        assert_eq!(node.bus.as_str(), ":1.42");
        assert_eq!(node.path.as_str(), "/org/a11y/atspi/accessible/7");
        assert_eq!(node.id(), ":1.42:/org/a11y/atspi/accessible/7");
        assert_eq!(NodeRef::registry_root().id(), "org.a11y.atspi.Registry:/org/a11y/atspi/accessible/root");
        for bad in ["", "nopath", "/only/path", ":/x", ":1.2/x", ":1.2:/bad//path", "bad name!:/x"] {
            assert!(matches!(NodeRef::parse(bad), Err(A11yError::InvalidRequest(_))), "{bad}");
        }
    }

    #[test]
    fn scopes_parse_case_insensitively_and_pid_is_checked() {
        assert_eq!(Scope::parse(None, None).unwrap(), Scope::Focused);
        assert_eq!(Scope::parse(Some("ALL"), Some(3)).unwrap(), Scope::All);
        assert_eq!(Scope::parse(Some("Pid"), Some(42)).unwrap(), Scope::Pid(42));
        assert!(matches!(Scope::parse(Some("window"), None), Err(A11yError::InvalidScope(_))));
        for pid in [None, Some(0), Some(-5), Some(i64::MAX)] {
            assert!(matches!(Scope::parse(Some("pid"), pid), Err(A11yError::InvalidRequest(_))));
        }
    }

    #[test]
    fn filters_match_role_name_and_states() {
        let mut node = Node { role: "push button".into(), name: "OK".into(), ..Node::default() };
        node.states.insert(State::Focusable);
        node.states.insert(State::MultiLine);
        let filter = |role, name, mode, states: &[&str]| {
            let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
            Filter::parse(role, name, mode, &states).unwrap()
        };
        assert!(filter(Some("Push Button"), Some("O"), None, &[]).matches(&node));
        assert!(filter(None, Some("OK"), Some("exact"), &["focusable", "MULTI_LINE"]).matches(&node));
        assert!(!filter(None, Some("O"), Some("exact"), &[]).matches(&node));
        assert!(filter(None, Some("^O.$"), Some("regex"), &[]).matches(&node));
        assert!(!filter(Some("text"), None, None, &[]).matches(&node));
        assert!(!filter(None, None, None, &["focused"]).matches(&node));
        assert!(Filter::parse(None, Some("("), Some("regex"), &[]).is_err());
        assert!(Filter::parse(None, Some("x"), Some("fuzzy"), &[]).is_err());
        assert!(Filter::parse(None, None, None, &["shiny".to_owned()]).is_err());
    }

    #[test]
    fn limits_default_and_cap() {
        assert_eq!(find_limit(None), 500);
        assert_eq!(find_limit(Some(0)), 500);
        assert_eq!(find_limit(Some(-1)), 500);
        assert_eq!(find_limit(Some(7)), 7);
        assert_eq!(find_limit(Some(1_000_000)), 5000);
    }

    #[test]
    fn states_are_lower_snake() {
        assert_eq!(state_name(State::MultiLine), "multi_line");
        assert_eq!(state_name(State::ReadOnly), "read_only");
        assert_eq!(state_name(State::Focused), "focused");
    }
}
