//! HTTP plumbing shared by every area: extractors whose rejections speak the error envelope,
//! the middleware stack (envelope rendering, panic catching, auth), the connection server with
//! its timeouts (also serving the side servers), the client-version gates and the websocket loops.
//!
//! Nothing here knows about files, git or processes.

pub mod extract;
pub mod login;
pub mod middleware;
pub mod route_docs;
pub mod sdk;
pub mod server;
pub mod side;
pub mod ws;
