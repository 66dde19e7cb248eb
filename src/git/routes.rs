//! HTTP routes for `/git`: decode, validate required fields with the reference's wording, call
//! the domain, and pick the contract's status code.

use crate::http::route_docs::{ApiRouter, routes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::GitService;
use super::branches::ListBranchResponse;
use super::clone::CloneRequest;
use super::config::ConfigScope;
use super::credentials::Auth;
use super::index::{ResetMode, RestoreRequest};
use super::remote::ListRemotesResponse;
use super::status::{GitCommitInfo, GitStatus};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Json, Query, require};
use crate::http::sdk;
use crate::state::AppState;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .routes(routes!(get_status))
        .routes(routes!(list_branches, create_branch, delete_branch))
        .routes(routes!(checkout_branch))
        .routes(routes!(add_files))
        .routes(routes!(commit_changes))
        .routes(routes!(clone_repository))
        .routes(routes!(pull_changes))
        .routes(routes!(push_changes))
        .routes(routes!(get_commit_history))
        .routes(routes!(init_repository))
        .routes(routes!(reset_changes))
        .routes(routes!(restore_files))
        .routes(routes!(list_remotes, add_remote))
        .routes(routes!(get_git_config, set_git_config))
        .routes(routes!(configure_user))
        .routes(routes!(authenticate))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RepoQuery {
    /// Repository root, relative to the work dir or absolute.
    pub path: Option<String>,
}

fn repo_path(query: RepoQuery) -> ApiResult<String> {
    query.path.filter(|p| !p.is_empty()).ok_or_else(|| ApiError::bad_request("path is required"))
}

fn opt(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The status of a repository: branch, upstream, ahead/behind and every changed path.
#[utoipa::path(get, path = "/git/status", tag = "git", operation_id = "GetStatus", params(RepoQuery),
    responses((status = 200, body = GitStatus), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn get_status(
    State(git): State<GitService>,
    headers: HeaderMap,
    Query(query): Query<RepoQuery>,
) -> ApiResult<axum::Json<GitStatus>> {
    let mut status = git.status(&repo_path(query)?).await?;
    if sdk::strict_go_client(&headers) {
        status.detached = false;
        status.upstream.clear();
    }
    Ok(axum::Json(status))
}

/// Local branches and the checked-out one.
#[utoipa::path(get, path = "/git/branches", tag = "git", operation_id = "ListBranches", params(RepoQuery),
    responses((status = 200, body = ListBranchResponse), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn list_branches(
    State(git): State<GitService>,
    headers: HeaderMap,
    Query(query): Query<RepoQuery>,
) -> ApiResult<axum::Json<ListBranchResponse>> {
    let mut branches = git.branches(&repo_path(query)?).await?;
    if sdk::strict_go_client(&headers) {
        branches.current = None;
    }
    Ok(axum::Json(branches))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitBranchRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub name: String,
}

/// Creates a branch at HEAD and checks it out.
#[utoipa::path(post, path = "/git/branches", tag = "git", operation_id = "CreateBranch", request_body = GitBranchRequest,
    responses((status = 201), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn create_branch(
    State(git): State<GitService>,
    Json(req): Json<GitBranchRequest>,
) -> ApiResult<StatusCode> {
    require(&req.path, "GitBranchRequest", "Path")?;
    require(&req.name, "GitBranchRequest", "Name")?;
    git.create_branch(&req.path, req.name).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitDeleteBranchRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub name: String,
}

/// Deletes a local branch (JSON body on DELETE).
#[utoipa::path(delete, path = "/git/branches", tag = "git", operation_id = "DeleteBranch", request_body = GitDeleteBranchRequest,
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn delete_branch(
    State(git): State<GitService>,
    Json(req): Json<GitDeleteBranchRequest>,
) -> ApiResult<StatusCode> {
    require(&req.path, "GitDeleteBranchRequest", "Path")?;
    require(&req.name, "GitDeleteBranchRequest", "Name")?;
    git.delete_branch(&req.path, req.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitCheckoutRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub branch: String,
}

/// Checks out a branch (local, or a remote-tracking one of that name) or a commit.
#[utoipa::path(post, path = "/git/checkout", tag = "git", operation_id = "CheckoutBranch", request_body = GitCheckoutRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn checkout_branch(
    State(git): State<GitService>,
    Json(req): Json<GitCheckoutRequest>,
) -> ApiResult<()> {
    require(&req.path, "GitCheckoutRequest", "Path")?;
    require(&req.branch, "GitCheckoutRequest", "Branch")?;
    Ok(git.checkout(&req.path, req.branch).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitAddRequest {
    #[serde(default)]
    pub path: String,
    /// Paths relative to the repository root; `.` stages everything.
    pub files: Option<Vec<String>>,
}

/// Stages files (new, modified and deleted).
#[utoipa::path(post, path = "/git/add", tag = "git", operation_id = "AddFiles", request_body = GitAddRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn add_files(State(git): State<GitService>, Json(req): Json<GitAddRequest>) -> ApiResult<()> {
    require(&req.path, "GitAddRequest", "Path")?;
    let files = req.files.ok_or_else(|| required("GitAddRequest", "Files"))?;
    Ok(git.add(&req.path, files).await?)
}

fn required(type_name: &str, field: &str) -> ApiError {
    ApiError::invalid_body(format!(
        "Key: '{type_name}.{field}' Error:Field validation for '{field}' failed on the 'required' tag"
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitCommitRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub allow_empty: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GitCommitResponse {
    pub hash: String,
}

/// Commits the index.
#[utoipa::path(post, path = "/git/commit", tag = "git", operation_id = "CommitChanges", request_body = GitCommitRequest,
    responses((status = 200, body = GitCommitResponse), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn commit_changes(
    State(git): State<GitService>,
    Json(req): Json<GitCommitRequest>,
) -> ApiResult<axum::Json<GitCommitResponse>> {
    require(&req.path, "GitCommitRequest", "Path")?;
    require(&req.message, "GitCommitRequest", "Message")?;
    require(&req.author, "GitCommitRequest", "Author")?;
    require(&req.email, "GitCommitRequest", "Email")?;
    let hash =
        git.commit(&req.path, req.message, req.author, req.email, req.allow_empty.unwrap_or(false)).await?;
    Ok(axum::Json(GitCommitResponse { hash }))
}

#[derive(Deserialize, ToSchema)]
pub struct GitCloneRequest {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub path: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub branch: Option<String>,
    pub commit_id: Option<String>,
    pub insecure_skip_tls: Option<bool>,
    pub depth: Option<i64>,
}

impl std::fmt::Debug for GitCloneRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCloneRequest")
            .field("url", &super::error::redact(&self.url))
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Clones a repository (http(s), file:// or a local path).
#[utoipa::path(post, path = "/git/clone", tag = "git", operation_id = "CloneRepository", request_body = GitCloneRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn clone_repository(State(git): State<GitService>, Json(req): Json<GitCloneRequest>) -> ApiResult<()> {
    require(&req.url, "GitCloneRequest", "URL")?;
    require(&req.path, "GitCloneRequest", "Path")?;
    let request = CloneRequest {
        url: req.url,
        path: req.path,
        branch: opt(req.branch),
        commit_id: opt(req.commit_id),
        auth: Auth::from_parts(req.username, req.password),
        insecure_skip_tls: req.insecure_skip_tls.unwrap_or(false),
        depth: req.depth,
    };
    Ok(git.clone_repo(request).await?)
}

#[derive(Deserialize, ToSchema)]
pub struct GitPullRequest {
    #[serde(default)]
    pub path: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Branch to pull (defaults to the current branch's upstream).
    pub branch: Option<String>,
    /// Remote to pull from (defaults to the upstream's remote, else `origin`).
    pub remote: Option<String>,
}

impl std::fmt::Debug for GitPullRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitPullRequest").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Fetches and fast-forwards the current branch to its upstream (or the named branch).
#[utoipa::path(post, path = "/git/pull", tag = "git", operation_id = "PullChanges", request_body = GitPullRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn pull_changes(State(git): State<GitService>, Json(req): Json<GitPullRequest>) -> ApiResult<()> {
    require(&req.path, "GitPullRequest", "Path")?;
    Ok(git
        .pull(&req.path, Auth::from_parts(req.username, req.password), opt(req.remote), opt(req.branch))
        .await?)
}

#[derive(Deserialize, ToSchema)]
pub struct GitPushRequest {
    #[serde(default)]
    pub path: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Branch to push (defaults to the current branch).
    pub branch: Option<String>,
    /// Remote to push to (defaults to the branch's remote, else `origin`).
    pub remote: Option<String>,
    pub set_upstream: Option<bool>,
}

impl std::fmt::Debug for GitPushRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitPushRequest").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Pushes a branch to the same name on the remote.
#[utoipa::path(post, path = "/git/push", tag = "git", operation_id = "PushChanges", request_body = GitPushRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope), (status = 502, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope)))]
async fn push_changes(State(git): State<GitService>, Json(req): Json<GitPushRequest>) -> ApiResult<()> {
    require(&req.path, "GitPushRequest", "Path")?;
    let auth = Auth::from_parts(req.username, req.password);
    Ok(git.push(&req.path, auth, opt(req.remote), opt(req.branch), req.set_upstream.unwrap_or(false)).await?)
}

/// Commits reachable from HEAD, newest first.
#[utoipa::path(get, path = "/git/history", tag = "git", operation_id = "GetCommitHistory", params(RepoQuery),
    responses((status = 200, body = Vec<GitCommitInfo>), (status = 404, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn get_commit_history(
    State(git): State<GitService>,
    Query(query): Query<RepoQuery>,
) -> ApiResult<axum::Json<Vec<GitCommitInfo>>> {
    Ok(axum::Json(git.history(&repo_path(query)?, None).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitInitRequest {
    #[serde(default)]
    pub path: String,
    pub bare: Option<bool>,
    pub initial_branch: Option<String>,
}

/// Creates a repository.
#[utoipa::path(post, path = "/git/init", tag = "git", operation_id = "InitRepository", request_body = GitInitRequest,
    responses((status = 201), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn init_repository(
    State(git): State<GitService>,
    Json(req): Json<GitInitRequest>,
) -> ApiResult<StatusCode> {
    require(&req.path, "GitInitRequest", "Path")?;
    git.init(&req.path, req.bare.unwrap_or(false), opt(req.initial_branch)).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitResetRequest {
    #[serde(default)]
    pub path: String,
    /// soft, mixed (default), hard, merge or keep.
    pub mode: Option<String>,
    /// Revision to reset to (default HEAD).
    pub target: Option<String>,
    pub files: Option<Vec<String>>,
}

/// Resets HEAD, the index and (by mode) the work tree.
#[utoipa::path(post, path = "/git/reset", tag = "git", operation_id = "ResetChanges", request_body = GitResetRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn reset_changes(State(git): State<GitService>, Json(req): Json<GitResetRequest>) -> ApiResult<()> {
    require(&req.path, "GitResetRequest", "Path")?;
    let mode = ResetMode::parse(req.mode.as_deref())?;
    Ok(git.reset(&req.path, mode, req.target, req.files.unwrap_or_default()).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitRestoreRequest {
    #[serde(default)]
    pub path: String,
    pub files: Option<Vec<String>>,
    pub staged: Option<bool>,
    pub worktree: Option<bool>,
    pub source: Option<String>,
}

/// Restores work-tree files and/or index entries.
#[utoipa::path(post, path = "/git/restore", tag = "git", operation_id = "RestoreFiles", request_body = GitRestoreRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn restore_files(State(git): State<GitService>, Json(req): Json<GitRestoreRequest>) -> ApiResult<()> {
    require(&req.path, "GitRestoreRequest", "Path")?;
    let files = req.files.ok_or_else(|| required("GitRestoreRequest", "Files"))?;
    let request = RestoreRequest { files, staged: req.staged, worktree: req.worktree, source: req.source };
    Ok(git.restore(&req.path, request).await?)
}

/// The repository's remotes (passwords in URLs removed).
#[utoipa::path(get, path = "/git/remotes", tag = "git", operation_id = "ListRemotes", params(RepoQuery),
    responses((status = 200, body = ListRemotesResponse), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn list_remotes(
    State(git): State<GitService>,
    Query(query): Query<RepoQuery>,
) -> ApiResult<axum::Json<ListRemotesResponse>> {
    Ok(axum::Json(git.remotes(&repo_path(query)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitAddRemoteRequest {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    pub fetch: Option<bool>,
    pub overwrite: Option<bool>,
}

/// Adds a remote, or replaces its URL with `overwrite`.
#[utoipa::path(post, path = "/git/remotes", tag = "git", operation_id = "AddRemote", request_body = GitAddRemoteRequest,
    responses((status = 201), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn add_remote(
    State(git): State<GitService>,
    Json(req): Json<GitAddRemoteRequest>,
) -> ApiResult<StatusCode> {
    require(&req.path, "GitAddRemoteRequest", "Path")?;
    require(&req.name, "GitAddRemoteRequest", "Name")?;
    require(&req.url, "GitAddRemoteRequest", "URL")?;
    git.add_remote(&req.path, req.name, req.url, req.fetch.unwrap_or(false), req.overwrite.unwrap_or(false))
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConfigQuery {
    /// `section.name` or `section.sub.name`.
    pub key: Option<String>,
    /// global (default), local or system.
    pub scope: Option<String>,
    /// Repository path, required for the local scope.
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GitConfigResponse {
    /// Omitted when the key is unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Reads one config value.
#[utoipa::path(get, path = "/git/config", tag = "git", operation_id = "GetGitConfig", params(ConfigQuery),
    responses((status = 200, body = GitConfigResponse), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn get_git_config(
    State(git): State<GitService>,
    Query(query): Query<ConfigQuery>,
) -> ApiResult<axum::Json<GitConfigResponse>> {
    let key = opt(query.key).ok_or_else(|| ApiError::bad_request("key is required"))?;
    let scope = ConfigScope::parse(query.scope.as_deref())?;
    let value = git.get_config(key, scope, opt(query.path)).await?;
    Ok(axum::Json(GitConfigResponse { value }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitSetConfigRequest {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub scope: Option<String>,
    pub path: Option<String>,
}

/// Sets one config value.
#[utoipa::path(post, path = "/git/config", tag = "git", operation_id = "SetGitConfig", request_body = GitSetConfigRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn set_git_config(
    State(git): State<GitService>,
    Json(req): Json<GitSetConfigRequest>,
) -> ApiResult<()> {
    require(&req.key, "GitSetConfigRequest", "Key")?;
    require(&req.value, "GitSetConfigRequest", "Value")?;
    let scope = ConfigScope::parse(req.scope.as_deref())?;
    Ok(git.set_config(vec![(req.key, req.value)], scope, opt(req.path)).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GitConfigureUserRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    pub scope: Option<String>,
    pub path: Option<String>,
}

/// Sets `user.name` and `user.email`.
#[utoipa::path(post, path = "/git/config/user", tag = "git", operation_id = "ConfigureUser", request_body = GitConfigureUserRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn configure_user(
    State(git): State<GitService>,
    Json(req): Json<GitConfigureUserRequest>,
) -> ApiResult<()> {
    require(&req.name, "GitConfigureUserRequest", "Name")?;
    require(&req.email, "GitConfigureUserRequest", "Email")?;
    let scope = ConfigScope::parse(req.scope.as_deref())?;
    let entries = vec![("user.name".to_owned(), req.name), ("user.email".to_owned(), req.email)];
    Ok(git.set_config(entries, scope, opt(req.path)).await?)
}

#[derive(Deserialize, ToSchema)]
pub struct GitAuthenticateRequest {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Defaults to github.com.
    pub host: Option<String>,
    /// Defaults to https.
    pub protocol: Option<String>,
}

impl std::fmt::Debug for GitAuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuthenticateRequest")
            .field("username", &self.username)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Stores credentials (file mode 0600) used by later clone/pull/push and by the `git` CLI.
#[utoipa::path(post, path = "/git/credentials", tag = "git", operation_id = "Authenticate", request_body = GitAuthenticateRequest,
    responses((status = 200), (status = 400, body = ErrorEnvelope), (status = 500, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
async fn authenticate(
    State(git): State<GitService>,
    Json(req): Json<GitAuthenticateRequest>,
) -> ApiResult<()> {
    require(&req.username, "GitAuthenticateRequest", "Username")?;
    require(&req.password, "GitAuthenticateRequest", "Password")?;
    let auth = Auth { username: req.username, password: req.password };
    Ok(git.store_credentials(auth, req.host, req.protocol).await?)
}
