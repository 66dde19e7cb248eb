//! HTTP routes for `/port`: the listening ports and the in-use check.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::Path;
use crate::port::{PortService, parse_port};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().routes(routes!(get_ports)).routes(routes!(is_port_in_use))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortList {
    /// Local TCP ports in LISTEN state, IPv4 and IPv6, deduplicated; `[]` when none.
    pub ports: Vec<u16>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IsPortInUseResponse {
    pub is_in_use: bool,
}

/// Every local TCP port something listens on (IPv4 and IPv6, any address), read on request.
#[utoipa::path(get, path = "/port", tag = "port", operation_id = "GetPorts",
    responses((status = 200, body = PortList), (status = 500, body = ErrorEnvelope)))]
async fn get_ports(State(ports): State<PortService>) -> ApiResult<axum::Json<PortList>> {
    Ok(axum::Json(PortList { ports: ports.list().await? }))
}

/// Whether something listens on `port`. Any TCP port 1–65535 is accepted (the reference
/// daemon only accepted 3000–9999); anything else is a 400.
#[utoipa::path(get, path = "/port/{port}/in-use", tag = "port", operation_id = "IsPortInUse",
    params(("port" = String, Path, description = "TCP port, 1-65535")),
    responses((status = 200, body = IsPortInUseResponse), (status = 400, body = ErrorEnvelope)))]
async fn is_port_in_use(
    State(ports): State<PortService>,
    Path(port): Path<String>,
) -> ApiResult<axum::Json<IsPortInUseResponse>> {
    let port = parse_port(&port)?;
    Ok(axum::Json(IsPortInUseResponse { is_in_use: ports.is_in_use(port).await }))
}
