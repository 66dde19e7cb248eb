//! HTTP routes for `/proxy/{port}/{path...}`, the preview route every preview URL reaches.
//!
//! Registered by hand (not with `routes!`) because the path is a catch-all and every method is
//! served; [`ProxyDoc`] documents the same three paths for the OpenAPI document.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use utoipa::OpenApi;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::route_docs::ApiRouter;
use crate::proxy::ProxyService;
use crate::proxy::target::{self, Target};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(proxy_bare_port, proxy_root, proxy_path))]
struct ProxyDoc;

pub fn router() -> ApiRouter<AppState> {
    // The description is built only for the document (`http::route_docs`).
    ApiRouter::with_openapi(|| {
        let mut doc = ProxyDoc::openapi();
        unique_operation_ids(&mut doc);
        doc
    })
    .route("/proxy/{port}", any(proxy_bare_port))
    .route("/proxy/{port}/", any(proxy_root))
    .route("/proxy/{port}/{*path}", any(proxy_path))
}

/// `/proxy/{port}` without the trailing slash redirects to `/proxy/{port}/` (query kept):
/// 301 for GET and HEAD, 307 otherwise so the method and body survive.
#[utoipa::path(method(get, head, post, put, patch, delete, options), path = "/proxy/{port}", tag = "toolboxd",
    params(("port" = u16, Path, description = "TCP port of the app on loopback")),
    responses(
        (status = 301, description = "GET/HEAD: to `/proxy/{port}/`"),
        (status = 307, description = "Other methods: to `/proxy/{port}/`"),
        (status = 400, description = "The port is not a number", body = ErrorEnvelope),
    ))]
async fn proxy_bare_port(State(proxy): State<ProxyService>, request: Request) -> ApiResult<Response> {
    proxy_request(&proxy, request).await
}

/// The preview route at an app's root; see `/proxy/{port}/{path}`.
#[utoipa::path(method(get, head, post, put, patch, delete, options), path = "/proxy/{port}/", tag = "toolboxd",
    params(("port" = u16, Path, description = "TCP port of the app on loopback")),
    responses(
        (status = 200, description = "Whatever the app answers, streamed"),
        (status = 400, description = "The port is not a number, or a proxy loop (`Via` shows 5 toolboxd hops)", body = ErrorEnvelope),
        (status = 403, description = "The port is the daemon's own API port", body = ErrorEnvelope),
        (status = 502, description = "Nothing answers on the port: `proxy upstream error: …`", body = ErrorEnvelope),
    ))]
async fn proxy_root(State(proxy): State<ProxyService>, request: Request) -> ApiResult<Response> {
    proxy_request(&proxy, request).await
}

/// The preview route: reverse-proxies any method to `http://localhost:{port}/{path}` (127.0.0.1,
/// then ::1). Not part of the Toolbox API document, but all preview traffic arrives here.
///
/// The path keeps its percent-encoding and the query is forwarded verbatim. `Host` becomes
/// `localhost:{port}`, hop-by-hop headers are dropped, the caller is appended to
/// `X-Forwarded-For`, `X-Forwarded-Host` passes through. Bodies stream both ways; websocket
/// and other upgrades are tunnelled after the app's `101`.
#[utoipa::path(method(get, head, post, put, patch, delete, options), path = "/proxy/{port}/{path}", tag = "toolboxd",
    params(
        ("port" = u16, Path, description = "TCP port of the app on loopback; any port but the daemon's own"),
        ("path" = String, Path, description = "Rest of the path, forwarded with its original percent-encoding"),
    ),
    responses(
        (status = 200, description = "Whatever the app answers, streamed"),
        (status = 101, description = "The app accepted an upgrade; bytes are tunnelled both ways"),
        (status = 400, description = "The port is not a number, or a proxy loop (`Via` shows 5 toolboxd hops)", body = ErrorEnvelope),
        (status = 403, description = "The port is the daemon's own API port", body = ErrorEnvelope),
        (status = 502, description = "Nothing answers on the port: `proxy upstream error: …`", body = ErrorEnvelope),
    ))]
async fn proxy_path(State(proxy): State<ProxyService>, request: Request) -> ApiResult<Response> {
    proxy_request(&proxy, request).await
}

/// One handler serves every method, so utoipa repeats its name; OpenAPI wants one id per
/// operation (`proxy_path_get`, `proxy_path_post`, …).
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            ("get", &mut item.get),
            ("head", &mut item.head),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let base = operation.operation_id.take().unwrap_or_default();
                operation.operation_id = Some(format!("{base}_{method}"));
            }
        }
    }
}

async fn proxy_request(proxy: &ProxyService, request: Request) -> ApiResult<Response> {
    match target::parse(request.uri().path(), request.uri().query())? {
        Target::Redirect { location } => {
            let status = if matches!(*request.method(), Method::GET | Method::HEAD) {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::TEMPORARY_REDIRECT
            };
            Ok((status, [(header::LOCATION, location)], Body::empty()).into_response())
        }
        Target::Forward { port, path_and_query } => {
            let client_ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
            Ok(proxy.forward(port, &path_and_query, client_ip, request).await?)
        }
    }
}
