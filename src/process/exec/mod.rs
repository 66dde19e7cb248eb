//! One-shot commands and code runs.
//!
//! Routes: `/process/execute`, `/process/code-run` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct ExecService;

impl ExecService {
    pub fn new(_ctx: &Context) -> Self {
        ExecService
    }

    pub async fn shutdown(&self) {}
}
