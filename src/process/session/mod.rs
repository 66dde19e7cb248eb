//! Persistent shell sessions with logs kept on disk, and the entrypoint session.
//!
//! Routes: `/process/session` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct SessionService;

impl SessionService {
    pub fn new(_ctx: &Context) -> Self {
        SessionService
    }

    pub async fn shutdown(&self) {}
}
