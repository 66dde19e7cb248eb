//! Pseudo-terminals over websockets.
//!
//! Routes: `/process/pty` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct PtyService;

impl PtyService {
    pub fn new(_ctx: &Context) -> Self {
        PtyService
    }

    pub async fn shutdown(&self) {}
}
