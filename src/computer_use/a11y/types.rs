//! Wire types of `/computeruse/a11y/…`, field for field as the 0.226.1 client sends and reads
//! them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::computer_use::a11y::node::{Node, state_name};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AccessibilityTreeQuery {
    /// focused (default), pid or all; case-insensitive.
    pub scope: Option<String>,
    /// The process whose application to walk, with scope=pid.
    pub pid: Option<i64>,
    /// Levels below the root to include: absent or negative = all, 0 = the root only.
    pub max_depth: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindAccessibilityNodesRequest {
    pub scope: Option<String>,
    pub pid: Option<i64>,
    /// The AT-SPI role name (`push button`, `text`…), case-insensitive.
    pub role: Option<String>,
    pub name: Option<String>,
    /// substring (default), exact or regex.
    pub name_match: Option<String>,
    /// States every match has (`focusable`, `multi_line`…).
    pub states: Option<Vec<String>>,
    /// At most this many matches: ≤ 0 or absent = 500, capped at 5000.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccessibilityNodeRequest {
    /// `<bus-name>:<object-path>` as the tree and find answers give it.
    pub id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccessibilityInvokeRequest {
    pub id: String,
    /// The action's name (case-insensitive); absent or empty = the node's first action.
    pub action: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccessibilitySetValueRequest {
    pub id: String,
    pub value: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessibilityBounds {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessibilityNode {
    pub id: String,
    pub role: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub bounds: AccessibilityBounds,
    /// AT-SPI state names in lower_snake (`focused`, `multi_line`, `read_only`…).
    pub states: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<AccessibilityNode>,
}

impl From<Node> for AccessibilityNode {
    fn from(node: Node) -> Self {
        AccessibilityNode {
            id: node.id,
            role: node.role,
            name: node.name,
            description: node.description,
            bounds: AccessibilityBounds {
                x: node.bounds.x,
                y: node.bounds.y,
                width: node.bounds.width,
                height: node.bounds.height,
            },
            states: node.states.iter().map(state_name).collect(),
            actions: node.actions,
            children: node.children.into_iter().map(AccessibilityNode::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessibilityTreeResponse {
    pub root: AccessibilityNode,
    /// The walk stopped early (node budget, depth cap, deadline or an application that did
    /// not answer).
    pub truncated: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessibilityNodesResponse {
    /// Matching nodes in tree order, without children.
    pub matches: Vec<AccessibilityNode>,
    /// The limit or the walk stopped the search early.
    pub truncated: bool,
}
