//! Wire types of `/lsp`, field for field as the 0.226.1 clients send and parse them.

use lsp_types::{CompletionTriggerKind, Documentation, MarkupContent, MarkupKind, Position};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::http::extract::require;
use crate::lsp::Symbol;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LspServerRequest {
    pub language_id: String,
    pub path_to_project: String,
}

impl LspServerRequest {
    pub fn validate(&self) -> Result<(), ApiError> {
        require(&self.language_id, "LspServerRequest", "LanguageId")?;
        require(&self.path_to_project, "LspServerRequest", "PathToProject")
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LspDocumentRequest {
    pub language_id: String,
    pub path_to_project: String,
    /// `file://` followed by the document's path; a relative path resolves against the project.
    pub uri: String,
}

impl LspDocumentRequest {
    pub fn validate(&self) -> Result<(), ApiError> {
        require(&self.language_id, "LspDocumentRequest", "LanguageId")?;
        require(&self.path_to_project, "LspDocumentRequest", "PathToProject")?;
        require(&self.uri, "LspDocumentRequest", "Uri")
    }
}

/// A zero-based position; line 0 and character 0 are valid.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct LspPosition {
    pub line: u32,
    pub character: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionContext {
    /// 1 invoked, 2 trigger character, 3 re-trigger of an incomplete list.
    pub trigger_kind: i32,
    pub trigger_character: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LspCompletionParams {
    pub language_id: String,
    pub path_to_project: String,
    pub uri: String,
    pub position: LspPosition,
    pub context: Option<CompletionContext>,
}

impl LspCompletionParams {
    pub fn validate(&self) -> Result<(), ApiError> {
        require(&self.language_id, "LspCompletionParams", "LanguageId")?;
        require(&self.path_to_project, "LspCompletionParams", "PathToProject")?;
        require(&self.uri, "LspCompletionParams", "Uri")
    }

    pub fn position(&self) -> Position {
        Position { line: self.position.line, character: self.position.character }
    }

    pub fn context(&self) -> Result<Option<lsp_types::CompletionContext>, ApiError> {
        let Some(context) = &self.context else { return Ok(None) };
        let trigger_kind = match context.trigger_kind {
            1 => CompletionTriggerKind::INVOKED,
            2 => CompletionTriggerKind::TRIGGER_CHARACTER,
            3 => CompletionTriggerKind::TRIGGER_FOR_INCOMPLETE_COMPLETIONS,
            other => {
                return Err(ApiError::invalid_body(format!(
                    "context.triggerKind must be 1 (invoked), 2 (trigger character) or 3 (incomplete), not {other}"
                )));
            }
        };
        Ok(Some(lsp_types::CompletionContext {
            trigger_kind,
            trigger_character: context.trigger_character.clone(),
        }))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DocumentSymbolsQuery {
    /// Language ID (python, typescript, javascript).
    #[param(required = true)]
    pub language_id: Option<String>,
    /// Path to the project.
    #[param(required = true)]
    pub path_to_project: Option<String>,
    /// Document URI (`file://` + path).
    #[param(required = true)]
    pub uri: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WorkspaceSymbolsQuery {
    /// Search query: symbols whose name contains it.
    #[param(required = true)]
    pub query: Option<String>,
    /// Language ID (python, typescript, javascript).
    #[param(required = true)]
    pub language_id: Option<String>,
    /// Path to the project.
    #[param(required = true)]
    pub path_to_project: Option<String>,
}

/// A required, non-empty query parameter, worded as the reference daemon words its absence.
pub fn required_param<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    match value.as_deref() {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ApiError::bad_request(format!("{name} is required"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionList {
    pub is_incomplete: bool,
    /// Always an array (the 0.226.1 client rejects `null`).
    pub items: Vec<CompletionItem>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionItem {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Always an object `{kind, value}`: plain-string documentation is wrapped as plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub documentation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_text: Option<String>,
}

/// An `lsp-types` enum newtype (`CompletionItemKind`, `SymbolKind`) as its protocol number.
fn number<T: Serialize>(value: &T) -> i64 {
    serde_json::to_value(value).ok().and_then(|v| v.as_i64()).unwrap_or_default()
}

impl From<lsp_types::CompletionList> for CompletionList {
    fn from(list: lsp_types::CompletionList) -> Self {
        CompletionList {
            is_incomplete: list.is_incomplete,
            items: list.items.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<lsp_types::CompletionItem> for CompletionItem {
    fn from(item: lsp_types::CompletionItem) -> Self {
        let documentation = item.documentation.map(|doc| {
            let markup = match doc {
                Documentation::String(value) => MarkupContent { kind: MarkupKind::PlainText, value },
                Documentation::MarkupContent(markup) => markup,
            };
            serde_json::to_value(markup).unwrap_or(Value::Null)
        });
        CompletionItem {
            label: item.label,
            kind: item.kind.as_ref().map(number),
            detail: item.detail,
            documentation,
            sort_text: item.sort_text,
            filter_text: item.filter_text,
            insert_text: item.insert_text,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LspRange {
    pub start: LspPosition,
    pub end: LspPosition,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LspLocation {
    pub uri: String,
    pub range: LspRange,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LspSymbol {
    /// The LSP `SymbolKind` number (5 class, 6 method, 12 function, …).
    pub kind: i64,
    pub name: String,
    pub location: LspLocation,
}

impl From<Position> for LspPosition {
    fn from(position: Position) -> Self {
        LspPosition { line: position.line, character: position.character }
    }
}

impl From<Symbol> for LspSymbol {
    fn from(symbol: Symbol) -> Self {
        let range = symbol.location.range;
        LspSymbol {
            kind: number(&symbol.kind),
            name: symbol.name,
            location: LspLocation {
                uri: symbol.location.uri.as_str().to_owned(),
                range: LspRange { start: range.start.into(), end: range.end.into() },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_documentation_is_always_an_object() {
        let plain = lsp_types::CompletionItem {
            label: "area".into(),
            kind: Some(lsp_types::CompletionItemKind::METHOD),
            documentation: Some(Documentation::String("Area of the circle.".into())),
            ..Default::default()
        };
        let item = serde_json::to_value(CompletionItem::from(plain)).unwrap();
        assert_eq!(
            item,
            serde_json::json!({ "label": "area", "kind": 2,
                "documentation": { "kind": "plaintext", "value": "Area of the circle." } })
        );
        let list = CompletionList::from(lsp_types::CompletionList { is_incomplete: false, items: vec![] });
        assert_eq!(
            serde_json::to_value(list).unwrap(),
            serde_json::json!({ "isIncomplete": false, "items": [] })
        );
    }
}
