//! The sandbox as a Model Context Protocol server: tools and `file://` resources over the
//! official Rust SDK (`rmcp`), served at `/mcp` (streamable HTTP, see `transport::http`) and by
//! `toolboxd mcp` (stdio, see `transport::stdio`).
//!
//! Invariants:
//! - Every tool is a thin call into an area's domain API (desktop tools into `computer_use`) through the same [`AppState`] the
//!   HTTP routes use; no tool reimplements file, process or git logic. A background command
//!   started here is an ordinary `process::session` session.
//! - A failing tool answers an `isError` result carrying the daemon's error code and status
//!   (`reply::failed`), never a protocol error, so the model sees what went wrong. Arguments
//!   that do not match a tool's schema are such a result too (`INVALID_REQUEST_BODY`).
//! - Results are bounded for a model's context: command output and diffs at 64 KiB (head and
//!   tail), file reads at 256 KiB, listings and searches at a fixed number of entries.
//! - This module knows the protocol, not HTTP: authentication stays with the route table's
//!   middleware, which covers `/mcp` like any route.

mod desktop;
mod files;
mod git;
mod ports;
mod process;
mod reply;
mod resources;
pub mod transport;

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::error::ApiError;
use crate::state::AppState;

const INSTRUCTIONS: &str = "Tools for the sandbox this server runs in. Paths are relative to the \
work dir unless absolute. Prefer read_file/edit_file/write_file over shell commands for files, \
run_command for short commands and start_command for servers and watchers. Where a desktop is \
available, screenshot shows the screen and click, move_mouse, type_text and press_keys act on it \
(coordinates in screen pixels). Every failing tool result starts with the daemon's error code, \
e.g. FILE_NOT_FOUND (404).";

/// One MCP server over the daemon's state; cheap to clone (one per HTTP request).
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    tools: Arc<ToolRouter<McpServer>>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("tools", &self.tools.list_all().len()).finish()
    }
}

impl McpServer {
    pub fn new(state: AppState) -> Self {
        let tools = Self::process_tools()
            + Self::file_tools()
            + Self::git_tools()
            + Self::port_tools()
            + Self::desktop_tools();
        McpServer { state, tools: Arc::new(tools) }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("toolboxd", crate::system::VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let answer = self.tools.call(ToolCallContext::new(self, request, context)).await?;
        match answer {
            // Every failure a tool reports carries structured content (`reply::failed`); one
            // without it is the SDK saying the arguments did not fit the schema. That is the
            // model's to fix, so it gets the daemon's code for a bad body like any other error.
            CallToolResponse::Complete(result)
                if result.is_error == Some(true) && result.structured_content.is_none() =>
            {
                let text = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str());
                let message = text.collect::<Vec<_>>().join(" ");
                Ok(reply::failed(ApiError::invalid_body(message))?.into())
            }
            other => Ok(other),
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // The desktop tools only where the desktop helper is installed: elsewhere they could
        // never work, and a model should not be offered them.
        let desktop = self.state.computer_use.helper_installed();
        let tools = self
            .tools
            .list_all()
            .into_iter()
            .filter(|tool| desktop || !desktop::TOOLS.contains(&&*tool.name));
        Ok(ListToolsResult::with_all_items(tools.collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources::list(self.state.dirs.work.clone()).await))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        Ok(resources::read(&request.uri, &self.state.dirs.work).await?.into())
    }
}
