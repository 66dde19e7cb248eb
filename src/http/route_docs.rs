//! Route registration that builds the OpenAPI description only when the document is wanted.
//!
//! `utoipa_axum::routes!` computes every operation and every schema it references while the
//! route is registered, so building the route table at start-up used to build the whole
//! OpenAPI document (then drop it): most of the time from exec to the first answer. This
//! [`routes!`] takes the same handlers and registers the same paths and methods; the
//! operations and schemas are only computed inside [`with_docs`], which `/openapi.json` (and
//! anything else that needs the document) uses.

use std::cell::Cell;

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

/// `routes!(handler, …)` as in `utoipa_axum`, for handlers named by a plain identifier in scope.
/// Without [`with_docs`] each path gets an empty operation per method and no schemas.
macro_rules! routes {
    ( $( $handler:ident ),+ $(,)? ) => {
        if $crate::http::route_docs::wanted() {
            ::utoipa_axum::routes!( $( $handler ),+ )
        } else {
            #[allow(unused_imports)]
            use ::utoipa::Path as _;
            use ::utoipa_axum::PathItemExt as _;
            let mut paths = ::utoipa::openapi::path::Paths::new();
            let mut method_router = ::axum::routing::MethodRouter::new();
            $(
                let (path, types) = ::utoipa_axum::paste! {
                    ([<__path_ $handler>]::path(), [<__path_ $handler>]::methods())
                };
                for method in &types {
                    method_router = method_router.on(method.to_method_filter(), $handler);
                }
                paths.add_path_operation(&path, types, ::utoipa::openapi::path::Operation::new());
            )+
            (::std::vec::Vec::new(), paths, method_router)
        }
    };
}
pub(crate) use routes;
