//! Files: list, stat, upload, download, move, delete, permissions, search, replace, watch.
//!
//! Routes: `/files` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct FsService;

impl FsService {
    pub fn new(_ctx: &Context) -> Self {
        FsService
    }

    pub async fn shutdown(&self) {}
}
