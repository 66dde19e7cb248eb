//! Language servers (pylsp, typescript-language-server) behind a typed LSP client.
//!
//! Owns one language-server process per (language, project directory): python runs `pylsp`,
//! typescript and javascript run `typescript-language-server --stdio`, each started through
//! `process::owner` (the daemon's environment and PATH, a process group of its own) with the
//! project as its cwd and workspace root. `client.rs` speaks JSON-RPC over the child's stdio
//! with `lsp-types` messages; `servers.rs` keeps the registry and the open documents.
//!
//! Invariants: every spawned server is either in the registry or being stopped, and stopping
//! (`/lsp/stop`, a replaced crashed server, daemon shutdown) kills its whole process tree and
//! reaps it, so no language-server process outlives its entry. A request never waits on a dead
//! server: the client records the exit and fails waiting and later requests at once.
//!
//! This module knows nothing of HTTP: `routes.rs` translates requests and [`LspError`]s.

pub mod client;
pub mod error;
pub mod routes;
pub mod servers;
pub mod types;

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lsp_types::{CompletionContext, CompletionList, Position, Uri};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use tokio_util::sync::CancellationToken;

use crate::config::Dirs;
use crate::environment::Environment;
use crate::lsp::client::{Launch, LspClient};
use crate::lsp::servers::{Document, Registry, Server, ServerKey};
use crate::process::owner::Spawn;
use crate::state::Context;

pub use crate::lsp::error::LspError;
pub use crate::lsp::servers::Symbol;

/// The languages the daemon has a server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    TypeScript,
    JavaScript,
}

impl Language {
    pub fn parse(language_id: &str) -> Result<Language, LspError> {
        match language_id.to_ascii_lowercase().as_str() {
            "python" => Ok(Language::Python),
            "typescript" => Ok(Language::TypeScript),
            "javascript" => Ok(Language::JavaScript),
            _ => Err(LspError::UnsupportedLanguage(language_id.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::TypeScript => "typescript",
            Language::JavaScript => "javascript",
        }
    }

    /// The server program, its arguments and how to install it.
    fn server(self) -> (&'static str, &'static [&'static str], &'static str) {
        match self {
            Language::Python => ("pylsp", &[], "pip install python-lsp-server"),
            Language::TypeScript | Language::JavaScript => (
                "typescript-language-server",
                &["--stdio"],
                "npm install -g typescript-language-server typescript",
            ),
        }
    }

    /// File extensions searched when the server cannot search the workspace itself.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Language::Python => &["py", "pyi"],
            Language::TypeScript => &["ts", "tsx", "mts", "cts"],
            Language::JavaScript => &["js", "jsx", "mjs", "cjs"],
        }
    }

    /// The `languageId` of a text document: tsserver tells JSX/TSX apart by it.
    fn document_language_id(self, path: &Path) -> &'static str {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match (self, extension) {
            (Language::Python, _) => "python",
            (_, "ts" | "mts" | "cts") => "typescript",
            (_, "tsx") => "typescriptreact",
            (_, "js" | "mjs" | "cjs") => "javascript",
            (_, "jsx") => "javascriptreact",
            (language, _) => language.as_str(),
        }
    }
}

/// Files searched at most for a workspace-symbol query the server cannot answer itself.
const FALLBACK_MAX_FILES: usize = 2000;

#[derive(Debug, Clone)]
pub struct LspService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    env: Environment,
    dirs: Arc<Dirs>,
    shutdown: CancellationToken,
    servers: Registry,
}

impl LspService {
    pub fn new(ctx: &Context) -> Self {
        LspService {
            inner: Arc::new(Inner {
                env: ctx.env.clone(),
                dirs: Arc::clone(&ctx.dirs),
                shutdown: ctx.shutdown.clone(),
                servers: Registry::default(),
            }),
        }
    }

    /// Stops every language server and waits until each is gone.
    pub async fn shutdown(&self) {
        self.inner.servers.stop_all().await;
    }

    fn key(&self, language_id: &str, project: &str) -> Result<ServerKey, LspError> {
        let language = Language::parse(language_id)?;
        Ok(ServerKey { language, project: normalize(&self.inner.dirs.resolve_path(project)) })
    }

    /// Starts the server for (language, project) unless a live one runs; a crashed one is
    /// replaced.
    pub async fn start(&self, language_id: &str, project: &str) -> Result<(), LspError> {
        let key = self.key(language_id, project)?;
        match tokio::fs::metadata(&key.project).await {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(LspError::ProjectNotADirectory(key.project)),
            Err(_) => return Err(LspError::ProjectNotFound(key.project)),
        }
        if self.inner.shutdown.is_cancelled() {
            return Err(LspError::ShuttingDown);
        }
        // On a task of its own: a client hanging up mid-start must not drop a spawned server
        // before it is registered, where nothing would ever stop it.
        let service = self.clone();
        to_completion(
            async move { service.inner.servers.start(&key, async || service.launch(&key).await).await },
        )
        .await
    }

    async fn launch(&self, key: &ServerKey) -> Result<Server, LspError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(LspError::ShuttingDown);
        }
        let (program, args, install) = key.language.server();
        let root_uri = path_to_uri(&key.project)?;
        let launch = Launch {
            name: format!(
                "{program} ({} language server for {})",
                key.language.as_str(),
                key.project.display()
            ),
            command: Spawn::new(program, &key.project, &self.inner.env),
            program,
            install,
            args,
        };
        let folders =
            serde_json::json!([{ "uri": root_uri.as_str(), "name": key.project.display().to_string() }]);
        let client = LspClient::spawn(launch, folders)?;
        tracing::info!("started {}", client.name());
        Server::initialize(client, key.language, &key.project, root_uri).await.map_err(|err| match err {
            LspError::Exited { server, detail } => LspError::Handshake(format!("{server} exited: {detail}")),
            other => LspError::Handshake(other.to_string()),
        })
    }

    /// Sends `shutdown` and `exit`, then makes sure the process group is gone.
    pub async fn stop(&self, language_id: &str, project: &str) -> Result<(), LspError> {
        let key = self.key(language_id, project)?;
        let service = self.clone();
        to_completion(async move { service.inner.servers.stop(&key).await }).await
    }

    async fn server_and_document(
        &self,
        language_id: &str,
        project: &str,
        uri: &str,
    ) -> Result<(Arc<Server>, Document), LspError> {
        let key = self.key(language_id, project)?;
        let server = self.inner.servers.get(&key).await?;
        let path = document_path(uri, &self.inner.dirs.work, &key.project)?;
        let uri = path_to_uri(&path)?;
        Ok((server, Document { uri, path }))
    }

    pub async fn did_open(&self, language_id: &str, project: &str, uri: &str) -> Result<(), LspError> {
        let (server, document) = self.server_and_document(language_id, project, uri).await?;
        to_completion(async move { server.did_open(&document).await }).await
    }

    pub async fn did_close(&self, language_id: &str, project: &str, uri: &str) -> Result<(), LspError> {
        let (server, document) = self.server_and_document(language_id, project, uri).await?;
        to_completion(async move { server.did_close(&document).await }).await
    }

    /// Completions at a zero-based position (line 0, character 0 included).
    pub async fn completions(
        &self,
        language_id: &str,
        project: &str,
        uri: &str,
        position: Position,
        context: Option<CompletionContext>,
    ) -> Result<CompletionList, LspError> {
        let (server, document) = self.server_and_document(language_id, project, uri).await?;
        to_completion(async move { server.completions(&document, position, context).await }).await
    }

    pub async fn document_symbols(
        &self,
        language_id: &str,
        project: &str,
        uri: &str,
    ) -> Result<Vec<Symbol>, LspError> {
        let (server, document) = self.server_and_document(language_id, project, uri).await?;
        to_completion(async move { server.document_symbols(&document).await }).await
    }

    /// Symbols across the project matching `query`. Servers without `workspace/symbol` (pylsp)
    /// are asked for the document symbols of each project file, kept when the name contains
    /// `query` (case-insensitive); the search stops after [`FALLBACK_MAX_FILES`] files.
    pub async fn workspace_symbols(
        &self,
        language_id: &str,
        project: &str,
        query: &str,
    ) -> Result<Vec<Symbol>, LspError> {
        let key = self.key(language_id, project)?;
        let server = self.inner.servers.get(&key).await?;
        let query = query.to_owned();
        to_completion(async move { search_symbols(&server, &key, &query).await }).await
    }
}

/// Runs work on a task of its own, so a client that hangs up mid-request cannot leave it half
/// done (a server spawned but not registered, a borrowed document never closed, a `didOpen`
/// sent but not recorded).
async fn to_completion<T: Send + 'static>(
    work: impl Future<Output = Result<T, LspError>> + Send + 'static,
) -> Result<T, LspError> {
    tokio::spawn(work).await.map_err(|err| LspError::Task(err.to_string()))?
}

/// `workspace/symbol`, or the document symbols of each project file when the server has none.
async fn search_symbols(server: &Server, key: &ServerKey, query: &str) -> Result<Vec<Symbol>, LspError> {
    let extensions = key.language.extensions();
    if server.has_workspace_symbols() {
        let root = key.project.clone();
        if server.has_open_documents().await {
            return server.workspace_symbols(query).await;
        }
        // tsserver builds its project from an open file: lend it one for the search.
        let first = tokio::task::spawn_blocking(move || project_files(&root, extensions, 1)).await;
        let Some(path) = first.unwrap_or_default().pop() else { return Ok(Vec::new()) };
        let document = Document { uri: path_to_uri(&path)?, path };
        return server.with_document(&document, async || server.workspace_symbols(query).await).await;
    }
    let root = key.project.clone();
    let files = tokio::task::spawn_blocking(move || project_files(&root, extensions, FALLBACK_MAX_FILES))
        .await
        .unwrap_or_default();
    let needle = query.to_lowercase();
    let mut symbols = Vec::new();
    for path in files {
        let document = Document { uri: path_to_uri(&path)?, path };
        match server.document_symbols(&document).await {
            Ok(found) => {
                symbols.extend(found.into_iter().filter(|s| s.name.to_lowercase().contains(&needle)))
            }
            // A file that vanished or cannot be read is skipped; the rest still answer.
            Err(LspError::ReadDocument { .. } | LspError::DocumentTooLarge { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(symbols)
}

/// Source files of the project, honouring `.gitignore` and skipping hidden directories.
fn project_files(root: &Path, extensions: &[&str], limit: usize) -> Vec<PathBuf> {
    ignore::WalkBuilder::new(root)
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .map(ignore::DirEntry::into_path)
        .filter(|path| path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)))
        .take(limit)
        .collect()
}

/// Drops `.` components, repeated and trailing slashes, so `/p/` and `/p` name one server.
fn normalize(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// Characters that cannot appear raw in the path of a `file:` URI.
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn path_to_uri(path: &Path) -> Result<Uri, LspError> {
    let text = format!("file://{}", utf8_percent_encode(&path.to_string_lossy(), URI_PATH));
    Uri::from_str(&text).map_err(|err| LspError::InvalidUri { uri: text.clone(), reason: err.to_string() })
}

/// The file a request's `uri` names. The SDK sends `file://` + the path exactly as the caller
/// gave it (no percent-encoding, possibly relative), so a raw path is taken as is and a
/// percent-encoded one is decoded when only the decoded form exists. A relative path is looked
/// up against the work dir first (as the reference reads it), then against the project; when
/// neither file exists it names the file under the work dir.
fn document_path(uri: &str, work: &Path, project: &Path) -> Result<PathBuf, LspError> {
    let invalid = |reason: &str| LspError::InvalidUri { uri: uri.to_owned(), reason: reason.to_owned() };
    let rest = match uri.strip_prefix("file://") {
        Some(rest) => rest,
        None if uri.contains("://") => return Err(invalid("only file:// URIs name documents")),
        None => uri,
    };
    if rest.is_empty() {
        return Err(invalid("it names no file"));
    }
    if rest.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let decoded = rest.contains('%').then(|| percent_decode_str(rest).decode_utf8().ok()).flatten();
    let bases: &[&Path] = if Path::new(rest).is_absolute() { &[Path::new("/")] } else { &[work, project] };
    for base in bases {
        let raw = normalize(&base.join(rest));
        if raw.exists() {
            return Ok(raw);
        }
        if let Some(decoded) = decoded.as_deref().map(|d| normalize(&base.join(d))).filter(|d| d.exists()) {
            return Ok(decoded);
        }
    }
    Ok(normalize(&bases[0].join(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_uris_resolve_like_the_sdk_builds_them() {
        let (work, project) = (Path::new("/nonexistent/work"), Path::new("/nonexistent/work/proj"));
        assert_eq!(document_path("file:///abs/a.py", work, project).unwrap(), Path::new("/abs/a.py"));
        assert_eq!(
            document_path("file://src/a.py", work, project).unwrap(),
            Path::new("/nonexistent/work/src/a.py")
        );
        assert_eq!(document_path("/abs/./b.ts", work, project).unwrap(), Path::new("/abs/b.ts"));
        assert!(document_path("https://example.com/a.py", work, project).is_err());
        assert!(document_path("file://", work, project).is_err());
    }

    #[test]
    fn relative_uris_try_the_work_dir_then_the_project() {
        let work = tempfile::tempdir().unwrap();
        let project = work.path().join("proj");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("a.py"), "").unwrap();
        std::fs::write(project.join("src/b.py"), "").unwrap();
        assert_eq!(document_path("file://proj/a.py", work.path(), &project).unwrap(), project.join("a.py"));
        assert_eq!(
            document_path("file://src/b.py", work.path(), &project).unwrap(),
            project.join("src/b.py")
        );
        assert_eq!(
            document_path("file://new.py", work.path(), &project).unwrap(),
            work.path().join("new.py")
        );
    }

    #[test]
    fn percent_encoded_uris_decode_when_only_the_decoded_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a b.py"), "x = 1\n").unwrap();
        let uri = format!("file://{}/a%20b.py", dir.path().display());
        assert_eq!(document_path(&uri, Path::new("/"), Path::new("/")).unwrap(), dir.path().join("a b.py"));
    }

    #[test]
    fn paths_become_encoded_file_uris() {
        assert_eq!(path_to_uri(Path::new("/p/a b#1.py")).unwrap().as_str(), "file:///p/a%20b%231.py");
        assert_eq!(normalize(Path::new("/p/./q/")), Path::new("/p/q"));
    }

    #[test]
    fn languages_parse_and_name_their_servers() {
        assert_eq!(Language::parse("python").unwrap().server().0, "pylsp");
        assert_eq!(Language::parse("TypeScript").unwrap().server().0, "typescript-language-server");
        assert_eq!(
            Language::parse("javascript").unwrap().document_language_id(Path::new("a.jsx")),
            "javascriptreact"
        );
        assert!(matches!(Language::parse("rust"), Err(LspError::UnsupportedLanguage(_))));
    }
}
