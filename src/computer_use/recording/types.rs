//! The recordings' wire types, field for field as the contract (`Recording`,
//! `ListRecordingsResponse`, `StartRecordingRequest`, `StopRecordingRequest`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::computer_use::recording as domain;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    pub id: String,
    pub file_name: String,
    pub file_path: String,
    /// RFC 3339.
    pub start_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// `recording`, `completed` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

impl From<domain::Recording> for Recording {
    fn from(r: domain::Recording) -> Self {
        let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        Recording {
            id: r.id,
            file_name: r.file_name,
            file_path: r.file_path.display().to_string(),
            start_time: time(r.start_time),
            end_time: r.end_time.map(time),
            status: r.status.as_str().to_owned(),
            duration_seconds: r.duration_seconds,
            size_bytes: r.size_bytes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListRecordingsResponse {
    pub recordings: Vec<Recording>,
}

impl From<Vec<domain::Recording>> for ListRecordingsResponse {
    fn from(all: Vec<domain::Recording>) -> Self {
        ListRecordingsResponse { recordings: all.into_iter().map(Recording::from).collect() }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartRecordingRequest {
    /// At most 100 characters of letters, digits, space, `.`, `_` and `-`; not starting with `.`.
    pub label: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StopRecordingRequest {
    pub id: Option<String>,
}
