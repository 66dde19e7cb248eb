//! Stateful code-interpreter contexts.
//!
//! Routes: `/process/interpreter` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct InterpreterService;

impl InterpreterService {
    pub fn new(_ctx: &Context) -> Self {
        InterpreterService
    }

    pub async fn shutdown(&self) {}
}
