//! Wire types of the desktop-stack operations, field for field as the 0.226.1 client reads them
//! (lowercase `running`/`priority`/`autoRestart`/`pid`, unlike the reference daemon's
//! capitalised keys). `restarts` is an addition the client keeps in `additional_properties`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::computer_use::desktop::ProgramStatus;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessStatus {
    pub running: bool,
    pub priority: i32,
    pub auto_restart: bool,
    /// The program's process id while it runs, else null.
    pub pid: Option<i32>,
    /// Automatic restarts after crashes since the daemon started (toolboxd extension).
    pub restarts: u32,
}

impl From<ProgramStatus> for ProcessStatus {
    fn from(s: ProgramStatus) -> Self {
        ProcessStatus {
            running: s.running,
            priority: s.priority,
            auto_restart: s.auto_restart,
            pid: s.pid,
            restarts: s.restarts,
        }
    }
}

/// The per-program map of the start and stop answers.
pub fn status_map(statuses: BTreeMap<&'static str, ProgramStatus>) -> BTreeMap<String, ProcessStatus> {
    statuses.into_iter().map(|(name, status)| (name.to_owned(), status.into())).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComputerUseStartResponse {
    pub message: String,
    pub status: BTreeMap<String, ProcessStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComputerUseStopResponse {
    pub message: String,
    pub status: BTreeMap<String, ProcessStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComputerUseStatusResponse {
    /// `active` (every program runs), `partial` or `inactive`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessStatusResponse {
    pub process_name: String,
    pub running: bool,
    /// The program's process id while it runs, else null (toolboxd extension).
    pub pid: Option<i32>,
    /// Automatic restarts after crashes since the daemon started (toolboxd extension).
    pub restarts: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRestartResponse {
    pub message: String,
    pub process_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessLogsResponse {
    pub process_name: String,
    pub logs: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessErrorsResponse {
    pub process_name: String,
    pub errors: String,
}
