//! The route table: every area's router merged into one, the OpenAPI document generated from
//! the handlers, and the middleware stack. Start here to find any endpoint.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;

use crate::http::route_docs::ApiRouter;
use crate::http::{self, middleware};
use crate::state::AppState;
use crate::{computer_use, fs, git, lsp, mcp, port, process, proxy, system};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "toolboxd",
        description = "The in-sandbox toolbox daemon. Wire-compatible with the Daytona Toolbox API \
            as used by the official clients 0.226.1; operations tagged `toolboxd` are extensions.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(crate::error::ErrorEnvelope))
)]
struct ApiDoc;

/// Every area's routes, with their OpenAPI descriptions.
pub fn api_router() -> ApiRouter<AppState> {
    ApiRouter::with_openapi(ApiDoc::openapi)
        .merge(system::routes::router())
        .merge(fs::routes::router())
        .merge(git::routes::router())
        .merge(process::exec::routes::router())
        .merge(process::session::routes::router())
        .merge(process::pty::routes::router())
        .merge(process::interpreter::routes::router())
        .merge(lsp::routes::router())
        .merge(port::routes::router())
        .merge(proxy::routes::router())
        .merge(computer_use::routes::router())
        .merge(computer_use::desktop::routes::router())
        .merge(computer_use::recording::routes::router())
        .merge(computer_use::a11y::routes::router())
}

/// The OpenAPI document the daemon serves at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = http::route_docs::with_docs(api_router).split_for_parts();
    finish_document(&mut api);
    api
}

/// The whole application: routes, docs, fallbacks and middleware, bound to its state. The
/// routes are registered without their OpenAPI descriptions (`http::route_docs`): start-up
/// only pays for the table.
pub fn app(state: AppState) -> Router {
    let (router, _) = api_router().split_for_parts();
    let router = router
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route_service("/mcp", mcp::transport::http(&state));
    with_middleware(router, state)
}

/// The document is built on first request, not at start-up: rendering it costs milliseconds and
/// megabytes of scratch that most sandboxes never need.
async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: tokio::sync::OnceCell<Bytes> = tokio::sync::OnceCell::const_new();
    let document = DOCUMENT
        .get_or_init(|| async {
            let render = || Bytes::from(openapi().to_json().unwrap_or_else(|_| "{}".to_owned()));
            tokio::task::spawn_blocking(render).await.unwrap_or_else(|_| Bytes::from_static(b"{}"))
        })
        .await;
    ([(header::CONTENT_TYPE, "application/json")], document.clone())
}

/// Completes the generated document: the version, and on every operation the statuses the
/// shared layers can answer whatever the handler (so each route documents only its own):
/// - 401 from `require_token` when the daemon runs with a token;
/// - 400 from the shared extractors, on every operation that takes parameters or a body;
/// - 500 from the panic catcher.
fn finish_document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    api.info.version = system::VERSION.to_owned();
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
                )
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        let shared_parameters = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let takes_input = shared_parameters
                || operation.parameters.as_ref().is_some_and(|p| !p.is_empty())
                || operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            if takes_input {
                responses.entry("400".into()).or_insert_with(|| error("Malformed parameters or body"));
            }
            responses
                .entry("401".into())
                .or_insert_with(|| error("Missing or wrong bearer token (with `--token`)"));
            responses.entry("500".into()).or_insert_with(|| error("Unexpected failure inside the daemon"));
        }
    }
}

/// The fallbacks and the middleware stack (outermost first: trace, envelope, catch-panic, auth).
pub fn with_middleware(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(middleware::route_not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.config.clone(), middleware::require_token))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(middleware::render_envelope))
        // Failures are logged once, with their message, by `render_envelope`.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .with_state(state)
}

/// A self-contained API reference page (no CDN: sandboxes often have no internet).
async fn docs_page() -> impl IntoResponse {
    Html(include_str!("../assets/docs.html"))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use clap::Parser;
    use tower::ServiceExt;

    use std::sync::Arc;

    use super::*;
    use crate::config::{Config, Dirs};
    use crate::state::Context;

    fn test_state(work: &std::path::Path) -> AppState {
        let config = Config::parse_from(["toolboxd"]);
        let dirs = Dirs { work: work.to_owned(), home: None, data: work.to_owned() };
        AppState::new(Context {
            config: Arc::new(config),
            dirs: Arc::new(dirs),
            env: crate::environment::Environment::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }

    async fn boom() -> &'static str {
        panic!("kaboom")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_envelope_and_the_router_keeps_serving() {
        let work = tempfile::tempdir().unwrap();
        let router = Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
        let app = with_middleware(router, test_state(work.path()));

        let response = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "INTERNAL_SERVER_ERROR");
        assert_eq!(body["source"], "DAYTONA_DAEMON");
        assert_eq!(body["path"], "/boom");
        assert!(body["message"].as_str().unwrap().contains("kaboom"), "{body}");

        let response = app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn malformed_path_and_query_parameters_are_400s() {
        use crate::http::extract::{Path, Query};

        #[derive(serde::Deserialize)]
        struct Depth {
            #[allow(dead_code)]
            depth: u32,
        }
        let work = tempfile::tempdir().unwrap();
        let router = Router::new()
            .route("/n/{n}", get(|Path(n): Path<u16>| async move { n.to_string() }))
            .route("/q", get(|Query(_): Query<Depth>| async { "ok" }));
        let app = with_middleware(router, test_state(work.path()));
        for uri in ["/n/not-a-number", "/n/70000", "/q?depth=abc", "/q"] {
            let response = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["code"], "BAD_REQUEST", "{uri}: {body}");
        }
        let response = app.oneshot(Request::get("/n/7").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
