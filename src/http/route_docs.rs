//! Route registration that builds the OpenAPI description only when the document is wanted.
//!
//! `utoipa_axum::routes!` computes every operation and every schema it references while the
//! route is registered, so building the route table at start-up used to build the whole
//! OpenAPI document (then drop it): most of the time from exec to the first answer. This
//! [`routes!`] takes the same handlers and registers the same paths and methods; the
//! operations and schemas are only computed inside [`with_docs`], which `/openapi.json` (and
//! anything else that needs the document) uses. Outside it, [`ApiRouter`] is a plain axum
//! router: no OpenAPI paths are collected or merged at all.

use std::cell::Cell;
use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

thread_local! {
    static WANTED: Cell<bool> = const { Cell::new(false) };
}

/// Whether routes registered on this thread now must carry their OpenAPI description.
pub fn wanted() -> bool {
    WANTED.with(Cell::get)
}

/// Runs `build` (which registers routes) with full OpenAPI descriptions.
pub fn with_docs<T>(build: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            WANTED.with(|wanted| wanted.set(self.0));
        }
    }
    let _reset = Reset(WANTED.with(|wanted| wanted.replace(true)));
    build()
}

/// Handlers to register together: with their OpenAPI description, or only their paths.
#[allow(missing_debug_implementations)] // utoipa's parts have no Debug
pub enum Routes<S> {
    Described(UtoipaMethodRouter<S>),
    Plain(Vec<String>, MethodRouter<S>),
}

/// An area's routes: an `OpenApiRouter` inside [`with_docs`], an axum `Router` otherwise.
#[allow(missing_debug_implementations)] // `OpenApiRouter` has no Debug
pub enum ApiRouter<S> {
    Described(Box<OpenApiRouter<S>>),
    Plain(Router<S>),
}

impl<S: Clone + Send + Sync + 'static> Default for ApiRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> ApiRouter<S> {
    pub fn new() -> Self {
        match wanted() {
            true => ApiRouter::Described(Box::new(OpenApiRouter::new())),
            false => ApiRouter::Plain(Router::new()),
        }
    }

    /// Starts from the document `doc` makes (called only when descriptions are wanted).
    pub fn with_openapi(doc: impl FnOnce() -> OpenApi) -> Self {
        match wanted() {
            true => ApiRouter::Described(Box::new(OpenApiRouter::with_openapi(doc()))),
            false => ApiRouter::Plain(Router::new()),
        }
    }

    pub fn routes(self, routes: Routes<S>) -> Self {
        match (self, routes) {
            (ApiRouter::Described(router), Routes::Described(routes)) => {
                ApiRouter::Described(Box::new(router.routes(routes)))
            }
            (ApiRouter::Plain(mut router), Routes::Plain(paths, method_router)) => {
                // As `OpenApiRouter::routes` does: the one method router at each path.
                for path in paths {
                    let path = if path.is_empty() { "/" } else { path.as_str() };
                    router = router.route(path, method_router.clone());
                }
                ApiRouter::Plain(router)
            }
            // `wanted()` is the same for the router and the routes made on one thread.
            _ => unreachable!("routes registered with and without descriptions on one router"),
        }
    }

    pub fn route(self, path: &str, method_router: MethodRouter<S>) -> Self {
        match self {
            ApiRouter::Described(router) => ApiRouter::Described(Box::new(router.route(path, method_router))),
            ApiRouter::Plain(router) => ApiRouter::Plain(router.route(path, method_router)),
        }
    }

    pub fn route_layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        match self {
            ApiRouter::Described(router) => ApiRouter::Described(Box::new(router.route_layer(layer))),
            ApiRouter::Plain(router) => ApiRouter::Plain(router.route_layer(layer)),
        }
    }

    pub fn merge(self, other: ApiRouter<S>) -> Self {
        match (self, other) {
            (ApiRouter::Described(router), ApiRouter::Described(other)) => {
                ApiRouter::Described(Box::new(router.merge(*other)))
            }
            (ApiRouter::Plain(router), ApiRouter::Plain(other)) => ApiRouter::Plain(router.merge(other)),
            _ => unreachable!("routers made with and without descriptions merged"),
        }
    }

    /// The routes, and the document (empty without [`with_docs`]).
    pub fn split_for_parts(self) -> (Router<S>, OpenApi) {
        match self {
            ApiRouter::Described(router) => router.split_for_parts(),
            ApiRouter::Plain(router) => (router, OpenApi::default()),
        }
    }
}

/// `routes!(handler, …)` as in `utoipa_axum`, for handlers named by a plain identifier in scope.
/// Without [`with_docs`] only the paths and methods are computed.
macro_rules! routes {
    ( $( $handler:ident ),+ $(,)? ) => {
        if $crate::http::route_docs::wanted() {
            $crate::http::route_docs::Routes::Described(::utoipa_axum::routes!( $( $handler ),+ ))
        } else {
            #[allow(unused_imports)]
            use ::utoipa::Path as _;
            use ::utoipa_axum::PathItemExt as _;
            let mut paths: ::std::vec::Vec<::std::string::String> = ::std::vec::Vec::new();
            let mut method_router = ::axum::routing::MethodRouter::new();
            $(
                let (path, types) = ::utoipa_axum::paste! {
                    ([<__path_ $handler>]::path(), [<__path_ $handler>]::methods())
                };
                for method in &types {
                    method_router = method_router.on(method.to_method_filter(), $handler);
                }
                if !paths.contains(&path) {
                    paths.push(path);
                }
            )+
            $crate::http::route_docs::Routes::Plain(paths, method_router)
        }
    };
}
pub(crate) use routes;
