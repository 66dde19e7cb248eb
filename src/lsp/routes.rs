//! HTTP routes for `/lsp`: start/stop a language server, open/close documents, completions and
//! symbols. Handlers validate, call one `LspService` function and convert the answer.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::http::StatusCode;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Query};
use crate::lsp::LspService;
use crate::lsp::types::{
    CompletionList, DocumentSymbolsQuery, LspCompletionParams, LspDocumentRequest, LspServerRequest,
    LspSymbol, WorkspaceSymbolsQuery, required_param,
};
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(did_open))
        .routes(routes!(did_close))
        .routes(routes!(completions))
        .routes(routes!(document_symbols))
        .routes(routes!(workspace_symbols))
}

/// Starts the language server for (languageId, pathToProject); a no-op if one runs.
#[utoipa::path(post, path = "/lsp/start", tag = "lsp", operation_id = "Start", request_body = LspServerRequest,
    responses((status = 200, description = "Started"), (status = 400, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn start(
    State(lsp): State<LspService>,
    Json(request): Json<LspServerRequest>,
) -> ApiResult<StatusCode> {
    request.validate()?;
    lsp.start(&request.language_id, &request.path_to_project).await?;
    Ok(StatusCode::OK)
}

/// Shuts the language server down (`shutdown`, `exit`, then its process group is killed).
#[utoipa::path(post, path = "/lsp/stop", tag = "lsp", operation_id = "Stop", request_body = LspServerRequest,
    responses((status = 200, description = "Stopped"), (status = 400, body = ErrorEnvelope),
        (status = 500, body = ErrorEnvelope)))]
async fn stop(State(lsp): State<LspService>, Json(request): Json<LspServerRequest>) -> ApiResult<StatusCode> {
    request.validate()?;
    lsp.stop(&request.language_id, &request.path_to_project).await?;
    Ok(StatusCode::OK)
}

/// Sends the document's current text to the server (`didOpen`, or `didChange` if open).
#[utoipa::path(post, path = "/lsp/did-open", tag = "lsp", operation_id = "DidOpen", request_body = LspDocumentRequest,
    responses((status = 200, description = "Opened"), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn did_open(
    State(lsp): State<LspService>,
    Json(request): Json<LspDocumentRequest>,
) -> ApiResult<StatusCode> {
    request.validate()?;
    lsp.did_open(&request.language_id, &request.path_to_project, &request.uri).await?;
    Ok(StatusCode::OK)
}

/// Tells the server the document is closed.
#[utoipa::path(post, path = "/lsp/did-close", tag = "lsp", operation_id = "DidClose", request_body = LspDocumentRequest,
    responses((status = 200, description = "Closed"), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn did_close(
    State(lsp): State<LspService>,
    Json(request): Json<LspDocumentRequest>,
) -> ApiResult<StatusCode> {
    request.validate()?;
    lsp.did_close(&request.language_id, &request.path_to_project, &request.uri).await?;
    Ok(StatusCode::OK)
}

/// Completion suggestions at a zero-based position.
#[utoipa::path(post, path = "/lsp/completions", tag = "lsp", operation_id = "Completions",
    request_body = LspCompletionParams,
    responses((status = 200, body = CompletionList), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn completions(
    State(lsp): State<LspService>,
    Json(request): Json<LspCompletionParams>,
) -> ApiResult<axum::Json<CompletionList>> {
    request.validate()?;
    let context = request.context()?;
    let list = lsp
        .completions(
            &request.language_id,
            &request.path_to_project,
            &request.uri,
            request.position(),
            context,
        )
        .await?;
    Ok(axum::Json(list.into()))
}

/// Symbols (classes, functions, …) of one document, flattened.
#[utoipa::path(get, path = "/lsp/document-symbols", tag = "lsp", operation_id = "DocumentSymbols",
    params(DocumentSymbolsQuery),
    responses((status = 200, body = Vec<LspSymbol>), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn document_symbols(
    State(lsp): State<LspService>,
    Query(query): Query<DocumentSymbolsQuery>,
) -> ApiResult<axum::Json<Vec<LspSymbol>>> {
    let language_id = required_param(&query.language_id, "languageId")?;
    let project = required_param(&query.path_to_project, "pathToProject")?;
    let uri = required_param(&query.uri, "uri")?;
    let symbols = lsp.document_symbols(language_id, project, uri).await?;
    Ok(axum::Json(symbols.into_iter().map(Into::into).collect()))
}

/// Symbols across the project whose name matches `query`.
#[utoipa::path(get, path = "/lsp/workspacesymbols", tag = "lsp", operation_id = "WorkspaceSymbols",
    params(WorkspaceSymbolsQuery),
    responses((status = 200, body = Vec<LspSymbol>), (status = 400, body = ErrorEnvelope),
        (status = 408, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
async fn workspace_symbols(
    State(lsp): State<LspService>,
    Query(query): Query<WorkspaceSymbolsQuery>,
) -> ApiResult<axum::Json<Vec<LspSymbol>>> {
    let search = required_param(&query.query, "query")?;
    let language_id = required_param(&query.language_id, "languageId")?;
    let project = required_param(&query.path_to_project, "pathToProject")?;
    let symbols = lsp.workspace_symbols(language_id, project, search).await?;
    Ok(axum::Json(symbols.into_iter().map(Into::into).collect()))
}
