//! Language servers (pylsp, typescript-language-server) behind a typed LSP client.
//!
//! Routes: `/lsp` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct LspService;

impl LspService {
    pub fn new(_ctx: &Context) -> Self {
        LspService
    }

    pub async fn shutdown(&self) {}
}
