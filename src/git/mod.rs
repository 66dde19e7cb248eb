//! Git repositories through libgit2: clone, status, branches, commit, push, pull and the rest.
//!
//! Routes: `/git` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct GitService;

impl GitService {
    pub fn new(_ctx: &Context) -> Self {
        GitService
    }

    pub async fn shutdown(&self) {}
}
