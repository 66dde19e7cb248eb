//! HTTP routes for `/computeruse/a11y/…`: tree, find, and focus, invoke and value of one node.
//! Each handler reads its input into the area's types, calls one `AccessibilityService`
//! function and converts the answer.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;

use crate::computer_use::a11y::AccessibilityService;
use crate::computer_use::a11y::node::{Filter, NodeRef, Scope, find_limit};
use crate::computer_use::a11y::types::{
    AccessibilityInvokeRequest, AccessibilityNode, AccessibilityNodeRequest, AccessibilityNodesResponse,
    AccessibilitySetValueRequest, AccessibilityTreeQuery, AccessibilityTreeResponse,
    FindAccessibilityNodesRequest,
};
use crate::computer_use::types::Empty;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Query};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(get_accessibility_tree))
        .routes(routes!(find_accessibility_nodes))
        .routes(routes!(focus_accessibility_node))
        .routes(routes!(invoke_accessibility_node))
        .routes(routes!(set_accessibility_node_value))
}

/// The AT-SPI tree of the focused application, one process's application, or all of them.
#[utoipa::path(get, path = "/computeruse/a11y/tree", tag = "computer-use", operation_id = "GetAccessibilityTree",
    params(AccessibilityTreeQuery),
    responses((status = 200, body = AccessibilityTreeResponse), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn get_accessibility_tree(
    State(a11y): State<AccessibilityService>,
    Query(query): Query<AccessibilityTreeQuery>,
) -> ApiResult<axum::Json<AccessibilityTreeResponse>> {
    let scope = Scope::parse(query.scope.as_deref(), query.pid)?;
    let max_depth = query.max_depth.and_then(|depth| usize::try_from(depth).ok());
    let tree = a11y.tree(scope, max_depth).await?;
    Ok(axum::Json(AccessibilityTreeResponse { root: tree.root.into(), truncated: tree.truncated }))
}

/// The nodes matching a role, name and states, flat and in tree order.
#[utoipa::path(post, path = "/computeruse/a11y/find", tag = "computer-use", operation_id = "FindAccessibilityNodes",
    request_body = FindAccessibilityNodesRequest,
    responses((status = 200, body = AccessibilityNodesResponse), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn find_accessibility_nodes(
    State(a11y): State<AccessibilityService>,
    Json(r): Json<FindAccessibilityNodesRequest>,
) -> ApiResult<axum::Json<AccessibilityNodesResponse>> {
    let scope = Scope::parse(r.scope.as_deref(), r.pid)?;
    let states = r.states.unwrap_or_default();
    let filter = Filter::parse(r.role.as_deref(), r.name.as_deref(), r.name_match.as_deref(), &states)?;
    let found = a11y.find(scope, &filter, find_limit(r.limit)).await?;
    let matches = found.nodes.into_iter().map(AccessibilityNode::from).collect();
    Ok(axum::Json(AccessibilityNodesResponse { matches, truncated: found.truncated }))
}

/// Moves keyboard focus to a node.
#[utoipa::path(post, path = "/computeruse/a11y/node/focus", tag = "computer-use", operation_id = "FocusAccessibilityNode",
    request_body = AccessibilityNodeRequest,
    responses((status = 200, body = Empty), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn focus_accessibility_node(
    State(a11y): State<AccessibilityService>,
    Json(r): Json<AccessibilityNodeRequest>,
) -> ApiResult<axum::Json<Empty>> {
    a11y.focus(&NodeRef::parse(&r.id)?).await?;
    Ok(axum::Json(Empty {}))
}

/// Runs one of a node's actions (the first when none is named).
#[utoipa::path(post, path = "/computeruse/a11y/node/invoke", tag = "computer-use", operation_id = "InvokeAccessibilityNode",
    request_body = AccessibilityInvokeRequest,
    responses((status = 200, body = Empty), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn invoke_accessibility_node(
    State(a11y): State<AccessibilityService>,
    Json(r): Json<AccessibilityInvokeRequest>,
) -> ApiResult<axum::Json<Empty>> {
    a11y.invoke(&NodeRef::parse(&r.id)?, r.action.as_deref()).await?;
    Ok(axum::Json(Empty {}))
}

/// Replaces a node's text, or sets its numeric value.
#[utoipa::path(post, path = "/computeruse/a11y/node/value", tag = "computer-use", operation_id = "SetAccessibilityNodeValue",
    request_body = AccessibilitySetValueRequest,
    responses((status = 200, body = Empty), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn set_accessibility_node_value(
    State(a11y): State<AccessibilityService>,
    Json(r): Json<AccessibilitySetValueRequest>,
) -> ApiResult<axum::Json<Empty>> {
    a11y.set_value(&NodeRef::parse(&r.id)?, r.value.as_deref().unwrap_or_default()).await?;
    Ok(axum::Json(Empty {}))
}
