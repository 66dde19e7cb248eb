//! The listening-ports tool: `port::PortService` plus the preview path of each port.

use rmcp::{tool, tool_router};
use serde_json::json;

use super::McpServer;
use super::reply::{ToolResult, done, reply};

#[tool_router(router = port_tools, vis = "pub(crate)")]
impl McpServer {
    #[tool(description = "List the TCP ports something listens on in the sandbox (IPv4 and IPv6), \
        each with its preview path: the app on port P is reachable through the daemon at \
        /proxy/P/ on the daemon's own address (the sandbox's preview URL for the daemon's port).")]
    async fn list_ports(&self) -> ToolResult {
        reply(self.state.port.list().await, |ports| {
            let own = self.state.config.port;
            let mut lines = Vec::new();
            let mut items = Vec::new();
            for port in ports {
                let preview = format!("/proxy/{port}/");
                let note = if port == own { "\t(toolboxd itself)" } else { "" };
                lines.push(format!("{port}\t{preview}{note}"));
                items.push(json!({"port": port, "previewPath": preview}));
            }
            if lines.is_empty() {
                lines.push("nothing is listening".to_owned());
            }
            done(lines.join("\n"), json!({"ports": items}))
        })
    }
}
