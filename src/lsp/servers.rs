//! The running servers, keyed by (language, project), and what one server does for a request.
//!
//! Each key owns a slot guarded by an async mutex: `start` holds it while the server spawns and
//! initializes, so two concurrent starts make one server and a request that arrives meanwhile
//! waits for the handshake instead of failing. Requests clone the server out of the slot and
//! release it at once, so slow completions never block each other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Initialized,
};
use lsp_types::request::{Completion, DocumentSymbolRequest, Initialize, WorkspaceSymbolRequest};
use lsp_types::{
    ClientCapabilities, ClientInfo, CompletionClientCapabilities, CompletionItemCapability, CompletionParams,
    CompletionResponse, DocumentSymbolClientCapabilities, DocumentSymbolParams, DocumentSymbolResponse,
    InitializeParams, InitializedParams, Location, OneOf, Position, Range, ServerCapabilities, SymbolKind,
    TextDocumentClientCapabilities, TextDocumentIdentifier, TextDocumentItem, TextDocumentPositionParams,
    Uri, VersionedTextDocumentIdentifier, WorkspaceClientCapabilities, WorkspaceFolder,
    WorkspaceSymbolClientCapabilities, WorkspaceSymbolParams, WorkspaceSymbolResponse,
};

use crate::lsp::Language;
use crate::lsp::client::LspClient;
use crate::lsp::error::LspError;

/// How long `initialize` may take: tsserver loads the project first, which on a busy
/// two-core sandbox has been seen to take most of a minute.
pub(crate) const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long any other request may take: jedi's first completion loads the whole standard
/// library and takes a minute on a busy two-core sandbox. A crashed server fails at once anyway.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `shutdown` may take before the server is killed.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub(crate) language: Language,
    pub(crate) project: PathBuf,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Server>>>>;

#[derive(Debug, Default)]
pub(crate) struct Registry {
    slots: Mutex<HashMap<ServerKey, Slot>>,
}

impl Registry {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<ServerKey, Slot>> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slot(&self, key: &ServerKey) -> Option<Slot> {
        self.slots().get(key).cloned()
    }

    /// The running server for `key`, starting one with `launch` unless a live one exists.
    pub(crate) async fn start<F>(&self, key: &ServerKey, launch: F) -> Result<(), LspError>
    where
        F: AsyncFnOnce() -> Result<Server, LspError>,
    {
        let slot = Arc::clone(self.slots().entry(key.clone()).or_default());
        let mut current = slot.lock().await;
        if let Some(server) = current.as_ref() {
            if server.client.exit_reason().is_none() {
                return Ok(());
            }
            // A crashed server is replaced; reaping it first leaves no process behind.
            server.client.stop(SHUTDOWN_TIMEOUT).await;
            *current = None;
        }
        *current = Some(Arc::new(launch().await?));
        Ok(())
    }

    /// The server for `key`, live or exited (requests to an exited one fail with its reason).
    pub(crate) async fn get(&self, key: &ServerKey) -> Result<Arc<Server>, LspError> {
        let not_initialized =
            || LspError::NotInitialized { language: key.language.as_str(), project: key.project.clone() };
        let slot = self.slot(key).ok_or_else(not_initialized)?;
        let current = slot.lock().await;
        current.clone().ok_or_else(not_initialized)
    }

    /// Stops and forgets the server for `key`.
    pub(crate) async fn stop(&self, key: &ServerKey) -> Result<(), LspError> {
        let not_initialized =
            || LspError::NotInitialized { language: key.language.as_str(), project: key.project.clone() };
        let slot = self.slot(key).ok_or_else(not_initialized)?;
        let server = slot.lock().await.take().ok_or_else(not_initialized)?;
        server.client.stop(SHUTDOWN_TIMEOUT).await;
        Ok(())
    }

    /// Stops every server (daemon shutdown).
    pub(crate) async fn stop_all(&self) {
        let slots: Vec<Slot> = { self.slots().drain().map(|(_, slot)| slot).collect() };
        let stops = slots.into_iter().map(|slot| async move {
            if let Some(server) = slot.lock().await.take() {
                server.client.stop(SHUTDOWN_TIMEOUT).await;
            }
        });
        futures_util::future::join_all(stops).await;
    }
}

/// One open document: its version and who holds it open.
#[derive(Debug)]
struct OpenDocument {
    version: i32,
    /// Opened through `did-open` (until `did-close`).
    by_client: bool,
    /// Requests that opened it on their own and will close it when done.
    borrowers: usize,
}

/// A language server that completed the handshake.
#[derive(Debug)]
pub(crate) struct Server {
    client: LspClient,
    language: Language,
    capabilities: ServerCapabilities,
    /// Keyed by URI string. Async so that open/change/close notifications go out in the order
    /// the bookkeeping saw them.
    documents: tokio::sync::Mutex<HashMap<String, OpenDocument>>,
}

/// A document the server is asked about: its URI and where its text lives.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) uri: Uri,
    pub(crate) path: PathBuf,
}

/// A symbol with its location, whichever shape the server answered in.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub location: Location,
}

impl Server {
    /// Runs the `initialize`/`initialized` handshake on a freshly spawned client.
    pub(crate) async fn initialize(
        client: LspClient,
        language: Language,
        root: &Path,
        root_uri: Uri,
    ) -> Result<Server, LspError> {
        let name =
            root.file_name().map_or_else(|| root.display().to_string(), |n| n.to_string_lossy().into_owned());
        #[allow(deprecated)]
        // rootUri is deprecated in favour of workspaceFolders; older servers still read it.
        let params = InitializeParams {
            process_id: Some(std::process::id()),
            root_uri: Some(root_uri.clone()),
            capabilities: client_capabilities(),
            workspace_folders: Some(vec![WorkspaceFolder { uri: root_uri, name }]),
            client_info: Some(ClientInfo {
                name: "toolboxd".to_owned(),
                version: Some(crate::system::VERSION.to_owned()),
            }),
            ..InitializeParams::default()
        };
        let handshake = async {
            let result = client.request::<Initialize>(params, INITIALIZE_TIMEOUT).await?;
            client.notify::<Initialized>(InitializedParams {}).await?;
            Ok::<_, LspError>(result)
        };
        match handshake.await {
            Ok(result) => Ok(Server {
                client,
                language,
                capabilities: result.capabilities,
                documents: tokio::sync::Mutex::new(HashMap::new()),
            }),
            Err(err) => {
                client.stop(SHUTDOWN_TIMEOUT).await;
                Err(err)
            }
        }
    }

    fn language_id(&self, path: &Path) -> &'static str {
        self.language.document_language_id(path)
    }

    /// `didOpen` with the file's current text, or `didChange` with it when already open, so
    /// the server always sees what is on disk at the time of the call.
    pub(crate) async fn did_open(&self, document: &Document) -> Result<(), LspError> {
        let text = read_document(&document.path).await?;
        let mut documents = self.documents.lock().await;
        self.open_locked(&mut documents, document, text).await?;
        if let Some(open) = documents.get_mut(document.uri.as_str()) {
            open.by_client = true;
        }
        Ok(())
    }

    async fn open_locked(
        &self,
        documents: &mut HashMap<String, OpenDocument>,
        document: &Document,
        text: String,
    ) -> Result<(), LspError> {
        let key = document.uri.as_str().to_owned();
        if let Some(open) = documents.get_mut(&key) {
            open.version += 1;
            let params = lsp_types::DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier {
                    uri: document.uri.clone(),
                    version: open.version,
                },
                content_changes: vec![lsp_types::TextDocumentContentChangeEvent {
                    range: None,
                    range_length: None,
                    text,
                }],
            };
            return self.client.notify::<DidChangeTextDocument>(params).await;
        }
        let item = TextDocumentItem {
            uri: document.uri.clone(),
            language_id: self.language_id(&document.path).to_owned(),
            version: 1,
            text,
        };
        self.client
            .notify::<DidOpenTextDocument>(lsp_types::DidOpenTextDocumentParams { text_document: item })
            .await?;
        documents.insert(key, OpenDocument { version: 1, by_client: false, borrowers: 0 });
        Ok(())
    }

    /// `didClose`, if the document is open and no request still uses it.
    pub(crate) async fn did_close(&self, document: &Document) -> Result<(), LspError> {
        let mut documents = self.documents.lock().await;
        let Some(open) = documents.get_mut(document.uri.as_str()) else { return Ok(()) };
        open.by_client = false;
        self.close_if_unused(&mut documents, &document.uri).await
    }

    async fn close_if_unused(
        &self,
        documents: &mut HashMap<String, OpenDocument>,
        uri: &Uri,
    ) -> Result<(), LspError> {
        let unused = documents.get(uri.as_str()).is_some_and(|open| !open.by_client && open.borrowers == 0);
        if unused {
            documents.remove(uri.as_str());
            let params = lsp_types::DidCloseTextDocumentParams {
                text_document: TextDocumentIdentifier { uri: uri.clone() },
            };
            self.client.notify::<DidCloseTextDocument>(params).await?;
        }
        Ok(())
    }

    /// Runs `f` with the document open: as the client opened it, or else opened from disk for
    /// the duration of the request (servers such as tsserver answer nothing for closed files).
    pub(crate) async fn with_document<T>(
        &self,
        document: &Document,
        f: impl AsyncFnOnce() -> Result<T, LspError>,
    ) -> Result<T, LspError> {
        {
            let mut documents = self.documents.lock().await;
            if !documents.contains_key(document.uri.as_str()) {
                let text = read_document(&document.path).await?;
                self.open_locked(&mut documents, document, text).await?;
            }
            if let Some(open) = documents.get_mut(document.uri.as_str()) {
                open.borrowers += 1;
            }
        }
        let result = f().await;
        let mut documents = self.documents.lock().await;
        if let Some(open) = documents.get_mut(document.uri.as_str()) {
            open.borrowers = open.borrowers.saturating_sub(1);
        }
        let closed = self.close_if_unused(&mut documents, &document.uri).await;
        let value = result?;
        closed?;
        Ok(value)
    }

    pub(crate) async fn completions(
        &self,
        document: &Document,
        position: Position,
        context: Option<lsp_types::CompletionContext>,
    ) -> Result<lsp_types::CompletionList, LspError> {
        let params = CompletionParams {
            text_document_position: TextDocumentPositionParams {
                text_document: TextDocumentIdentifier { uri: document.uri.clone() },
                position,
            },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context,
        };
        let response = self
            .with_document(document, async || {
                self.client.request::<Completion>(params, REQUEST_TIMEOUT).await
            })
            .await?;
        Ok(match response {
            None => lsp_types::CompletionList { is_incomplete: false, items: Vec::new() },
            Some(CompletionResponse::Array(items)) => {
                lsp_types::CompletionList { is_incomplete: false, items }
            }
            Some(CompletionResponse::List(list)) => list,
        })
    }

    pub(crate) async fn document_symbols(&self, document: &Document) -> Result<Vec<Symbol>, LspError> {
        let params = DocumentSymbolParams {
            text_document: TextDocumentIdentifier { uri: document.uri.clone() },
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        let response = self
            .with_document(document, async || {
                self.client.request::<DocumentSymbolRequest>(params, REQUEST_TIMEOUT).await
            })
            .await?;
        let mut symbols = Vec::new();
        match response {
            None => {}
            Some(DocumentSymbolResponse::Flat(flat)) => symbols.extend(flat.into_iter().map(|s| Symbol {
                name: s.name,
                kind: s.kind,
                location: s.location,
            })),
            Some(DocumentSymbolResponse::Nested(nested)) => flatten(&document.uri, nested, &mut symbols),
        }
        Ok(symbols)
    }

    /// Whether any document is open (tsserver has no project to search until one is).
    pub(crate) async fn has_open_documents(&self) -> bool {
        !self.documents.lock().await.is_empty()
    }

    /// Whether the server answers `workspace/symbol` itself (pylsp does not).
    pub(crate) fn has_workspace_symbols(&self) -> bool {
        match &self.capabilities.workspace_symbol_provider {
            None | Some(OneOf::Left(false)) => false,
            Some(OneOf::Left(true) | OneOf::Right(_)) => true,
        }
    }

    pub(crate) async fn workspace_symbols(&self, query: &str) -> Result<Vec<Symbol>, LspError> {
        let params = WorkspaceSymbolParams {
            query: query.to_owned(),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        };
        let response = self.client.request::<WorkspaceSymbolRequest>(params, REQUEST_TIMEOUT).await?;
        Ok(match response {
            None => Vec::new(),
            Some(WorkspaceSymbolResponse::Flat(flat)) => flat
                .into_iter()
                .map(|s| Symbol { name: s.name, kind: s.kind, location: s.location })
                .collect(),
            Some(WorkspaceSymbolResponse::Nested(nested)) => nested
                .into_iter()
                .map(|s| {
                    let location = match s.location {
                        OneOf::Left(location) => location,
                        OneOf::Right(workspace) => Location { uri: workspace.uri, range: Range::default() },
                    };
                    Symbol { name: s.name, kind: s.kind, location }
                })
                .collect(),
        })
    }
}

/// Hierarchical document symbols, depth first, as the flat list the contract returns.
fn flatten(uri: &Uri, nested: Vec<lsp_types::DocumentSymbol>, out: &mut Vec<Symbol>) {
    for symbol in nested {
        out.push(Symbol {
            name: symbol.name,
            kind: symbol.kind,
            location: Location { uri: uri.clone(), range: symbol.range },
        });
        if let Some(children) = symbol.children {
            flatten(uri, children, out);
        }
    }
}

fn client_capabilities() -> ClientCapabilities {
    ClientCapabilities {
        workspace: Some(WorkspaceClientCapabilities {
            configuration: Some(true),
            workspace_folders: Some(true),
            symbol: Some(WorkspaceSymbolClientCapabilities::default()),
            ..Default::default()
        }),
        text_document: Some(TextDocumentClientCapabilities {
            completion: Some(CompletionClientCapabilities {
                completion_item: Some(CompletionItemCapability {
                    // Plain insert text: the contract's CompletionItem carries no snippets.
                    snippet_support: Some(false),
                    documentation_format: Some(vec![
                        lsp_types::MarkupKind::Markdown,
                        lsp_types::MarkupKind::PlainText,
                    ]),
                    ..Default::default()
                }),
                context_support: Some(true),
                ..Default::default()
            }),
            document_symbol: Some(DocumentSymbolClientCapabilities {
                hierarchical_document_symbol_support: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }),
        window: Some(lsp_types::WindowClientCapabilities {
            work_done_progress: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Largest document sent to a server; LSP carries whole texts, so this bounds memory.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

async fn read_document(path: &Path) -> Result<String, LspError> {
    let read_error = |source| LspError::ReadDocument { path: path.to_owned(), source };
    let metadata = tokio::fs::metadata(path).await.map_err(read_error)?;
    if metadata.is_dir() {
        return Err(read_error(std::io::Error::other("it is a directory")));
    }
    if metadata.len() > MAX_DOCUMENT_BYTES {
        return Err(LspError::DocumentTooLarge { path: path.to_owned(), limit: MAX_DOCUMENT_BYTES });
    }
    let bytes = tokio::fs::read(path).await.map_err(read_error)?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
}
