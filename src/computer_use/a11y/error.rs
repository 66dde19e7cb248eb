//! What can go wrong with an accessibility request, named for what happened, and the one place
//! that decides how each failure reaches the client.
//!
//! Every message starts with the contract's sentinel text (`accessibility bus not reachable`,
//! `accessibility node not found`, …), which is what clients of the reference daemon match on.

use std::time::Duration;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum A11yError {
    /// No address for the accessibility bus, or it did not accept a connection.
    #[error("accessibility bus not reachable: {0}")]
    BusUnreachable(String),

    /// The connection to the bus broke during the request; the next request connects again.
    #[error(
        "accessibility bus not reachable: the connection was lost ({0}); the next request connects again"
    )]
    ConnectionLost(String),

    /// `scope=focused` with no application on the bus.
    #[error("no accessible root for focused window: no application is registered on the accessibility bus")]
    NoFocusedRoot,

    /// `scope=pid` names a process that has no application on the bus.
    #[error(
        "no accessible root for focused window: no application with pid {0} is registered on the accessibility bus"
    )]
    NoApplicationForPid(i64),

    /// The node's application left the bus or no longer has that object.
    #[error("accessibility node not found: {0}")]
    NodeNotFound(String),

    /// The node lacks the interface or the action, or refused it.
    #[error("action not supported by node: {0}")]
    ActionNotSupported(String),

    #[error("invalid accessibility scope: got {0:?}, expected focused, pid or all")]
    InvalidScope(String),

    /// A malformed node id, a missing or non-positive pid, a bad match mode, regex or state.
    #[error("invalid accessibility request: {0}")]
    InvalidRequest(String),

    /// An application did not answer a call in time (it may be hung or busy).
    #[error("{what} did not answer within {}s", .after.as_secs())]
    Timeout { what: String, after: Duration },

    /// Any other D-Bus error an application answered with.
    #[error("{0}")]
    Failed(String),
}

impl From<A11yError> for ApiError {
    fn from(err: A11yError) -> Self {
        let code = match &err {
            A11yError::BusUnreachable(_) | A11yError::ConnectionLost(_) => ErrorCode::A11yUnavailable,
            A11yError::NoFocusedRoot | A11yError::NoApplicationForPid(_) | A11yError::NodeNotFound(_) => {
                ErrorCode::NotFound
            }
            A11yError::ActionNotSupported(_) | A11yError::InvalidScope(_) | A11yError::InvalidRequest(_) => {
                ErrorCode::BadRequest
            }
            A11yError::Timeout { .. } | A11yError::Failed(_) => ErrorCode::InternalServerError,
        };
        ApiError::new(code, err.to_string())
    }
}
