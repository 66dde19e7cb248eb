//! The preview reverse proxy to apps listening inside the sandbox.
//!
//! Routes: `/proxy` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct ProxyService;

impl ProxyService {
    pub fn new(_ctx: &Context) -> Self {
        ProxyService
    }

    pub async fn shutdown(&self) {}
}
