//! Listening-port detection.
//!
//! Routes: `/port` (see `routes.rs`). Not yet implemented: the service holds no state and the
//! router serves no route, so these paths answer 404 in the error envelope.

pub mod routes;

use crate::state::Context;

#[derive(Debug, Clone, Default)]
pub struct PortService;

impl PortService {
    pub fn new(_ctx: &Context) -> Self {
        PortService
    }

    pub async fn shutdown(&self) {}
}
