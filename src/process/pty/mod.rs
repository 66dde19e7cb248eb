//! Pseudo-terminals: interactive shells that any number of websocket clients attach to.
//!
//! Owns the registry of terminals (`id → Session`), each terminal's shell, its threads and its
//! output ring. Invariants:
//! - a terminal leaves the registry as soon as its shell exits or it is deleted, and is never
//!   restarted; a new terminal may then reuse the id;
//! - output is never lost for a client that keeps up, and a client that falls more than the
//!   ring (1 MiB) behind skips ahead with a visible marker instead of blocking anyone;
//! - deleting a terminal kills its whole process tree.
//!
//! Domain code (`session`, `ring`) knows no HTTP; `socket` speaks the websocket
//! protocol and `routes` maps HTTP to the service.

pub mod ring;
pub mod routes;
pub mod session;
pub mod socket;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Dirs;
use crate::environment::Environment;
use crate::error::{ApiError, ErrorCode};
use crate::process::pty::session::{PtyOptions, Session};
use crate::state::Context;

/// Largest terminal dimension accepted.
pub const MAX_DIMENSION: u16 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    #[error("PTY session not found")]
    NotFound(String),
    #[error("PTY session {0} already exists")]
    Exists(String),
    #[error("PTY session {0} has ended")]
    Ended(String),
    #[error("{0}")]
    Invalid(String),
    #[error("failed to start PTY session: {0}")]
    Start(String),
    #[error("failed to resize PTY: {0}")]
    Resize(String),
}

impl From<PtyError> for ApiError {
    fn from(err: PtyError) -> Self {
        match &err {
            PtyError::NotFound(_) => ApiError::new(ErrorCode::ProcessNotFound, err.to_string()),
            PtyError::Exists(_) => ApiError::conflict(err.to_string()),
            PtyError::Ended(_) => ApiError::new(ErrorCode::SessionEnded, err.to_string()),
            PtyError::Invalid(detail) => ApiError::bad_request(detail),
            PtyError::Start(_) | PtyError::Resize(_) => ApiError::internal(err.to_string()),
        }
    }
}

/// What a create request asks for, before defaults are applied.
#[derive(Debug, Default)]
pub struct CreatePty {
    pub id: String,
    pub cwd: Option<String>,
    pub envs: BTreeMap<String, String>,
    pub cols: Option<u16>,
    pub rows: Option<u16>,
    pub lazy_start: bool,
}

#[derive(Debug, Clone)]
pub struct PtyService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    dirs: Arc<Dirs>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl PtyService {
    pub fn new(ctx: &Context) -> Self {
        PtyService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                dirs: Arc::clone(&ctx.dirs),
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub async fn shutdown(&self) {
        let sessions: Vec<_> = self.sessions().drain().map(|(_, session)| session).collect();
        for session in sessions {
            session.kill();
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.inner.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a terminal; starts its shell unless `start` is false or it is lazy.
    pub fn create(&self, request: CreatePty, start: bool) -> Result<Arc<Session>, PtyError> {
        if request.id.is_empty() {
            return Err(PtyError::Invalid("session ID is required".to_owned()));
        }
        let cols = request.cols.filter(|&c| c != 0).unwrap_or(80);
        let rows = request.rows.filter(|&r| r != 0).unwrap_or(24);
        check_size(cols, rows)?;
        let cwd = match request.cwd.as_deref().filter(|cwd| !cwd.is_empty()) {
            Some(cwd) => self.inner.dirs.resolve_path(cwd),
            None => self.inner.dirs.work.clone(),
        };
        if !cwd.is_dir() {
            return Err(PtyError::Invalid(format!("cwd {} is not a directory", cwd.display())));
        }
        for (name, value) in &request.envs {
            if name.is_empty() || name.contains(['=', '\0', '\r', '\n']) || value.contains('\0') {
                return Err(PtyError::Invalid(format!("invalid environment variable {name:?}")));
            }
        }
        let mut envs = request.envs;
        envs.entry("TERM".to_owned()).or_insert_with(|| "xterm-256color".to_owned());
        let session = Arc::new(Session::new(PtyOptions {
            id: request.id.clone(),
            cwd,
            envs,
            cols,
            rows,
            lazy_start: request.lazy_start,
        }));
        {
            let mut sessions = self.sessions();
            if sessions.contains_key(&request.id) {
                return Err(PtyError::Exists(request.id));
            }
            sessions.insert(request.id.clone(), Arc::clone(&session));
        }
        if start && !request.lazy_start {
            if let Err(err) = self.start(&session) {
                self.forget(&session);
                return Err(err);
            }
        }
        Ok(session)
    }

    /// Starts a terminal's shell if it is not running yet (lazy start, create-connect).
    pub fn start(&self, session: &Arc<Session>) -> Result<(), PtyError> {
        let service = self.clone();
        session.start(&self.inner.env, move |session| service.forget(session))
    }

    /// Removes and kills a terminal this exact handle refers to (not a newer one with its id).
    pub fn discard(&self, session: &Arc<Session>) {
        self.forget(session);
        session.kill();
    }

    fn forget(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions();
        if sessions.get(&session.id).is_some_and(|current| Arc::ptr_eq(current, session)) {
            sessions.remove(&session.id);
        }
    }

    pub fn list(&self) -> Vec<Arc<Session>> {
        self.sessions().values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, PtyError> {
        self.sessions().get(id).cloned().ok_or_else(|| PtyError::NotFound(id.to_owned()))
    }

    pub fn delete(&self, id: &str) -> Result<(), PtyError> {
        let session = self.sessions().remove(id).ok_or_else(|| PtyError::NotFound(id.to_owned()))?;
        session.kill();
        Ok(())
    }

    pub fn resize(&self, id: &str, cols: u16, rows: u16) -> Result<Arc<Session>, PtyError> {
        if cols == 0 || rows == 0 {
            return Err(PtyError::Invalid(format!("cols and rows must be between 1 and {MAX_DIMENSION}")));
        }
        check_size(cols, rows)?;
        // An unknown id is a 404, as for get and delete.
        let session = self.get(id)?;
        session.resize(cols, rows)?;
        Ok(session)
    }

    pub fn default_cwd(&self) -> PathBuf {
        self.inner.dirs.work.clone()
    }
}

fn check_size(cols: u16, rows: u16) -> Result<(), PtyError> {
    if cols > MAX_DIMENSION || rows > MAX_DIMENSION {
        return Err(PtyError::Invalid(format!("cols and rows must not exceed {MAX_DIMENSION}")));
    }
    Ok(())
}
