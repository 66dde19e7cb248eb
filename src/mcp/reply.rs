//! How tool outcomes become MCP results: readable text for the model, structured JSON for
//! programs, and daemon errors as `isError` results carrying the daemon's error code.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Bytes of command output or diff text a tool result carries; past it the head and the tail
/// are kept. A model's context is the scarce resource, not the daemon's memory.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;

/// What every tool method returns: tool failures are `Ok` results with `isError` set, so the
/// model sees them; `Err` is kept for protocol failures.
pub(crate) type ToolResult = Result<CallToolResult, McpError>;

/// A result with text for the model and the same facts as structured content.
pub(crate) fn done(text: impl Into<String>, structured: Value) -> ToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text.into())]);
    result.structured_content = Some(structured);
    Ok(result)
}

/// The machine code of an error: the daemon's code, else the status's name.
fn error_code(err: &ApiError) -> String {
    match err.code.wire() {
        Some(code) => code.to_owned(),
        None => err.status().canonical_reason().unwrap_or("ERROR").to_ascii_uppercase().replace(' ', "_"),
    }
}

/// A daemon error as a tool error: `CODE (status): message` for the model, and
/// `{code, statusCode, message}` as structured content.
pub(crate) fn failed(err: impl Into<ApiError>) -> ToolResult {
    let err = err.into();
    let code = error_code(&err);
    let status = err.status().as_u16();
    let mut result = CallToolResult::structured_error(json!({
        "code": code,
        "statusCode": status,
        "message": err.message,
    }));
    result.content = vec![ContentBlock::text(format!("{code} ({status}): {}", err.message))];
    Ok(result)
}

/// Renders a domain outcome: `render` for a value, a tool error for an error.
pub(crate) fn reply<T, E: Into<ApiError>>(
    outcome: Result<T, E>,
    render: impl FnOnce(T) -> ToolResult,
) -> ToolResult {
    match outcome {
        Ok(value) => render(value),
        Err(err) => failed(err),
    }
}

/// `text` cut to `limit` bytes on character boundaries: the head and the tail, with a notice
/// of how much was left out between them. Returns the text and whether it was cut.
pub(crate) fn head_tail(text: &str, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text.to_owned(), false);
    }
    let mut head = limit / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - limit / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let omitted = tail - head;
    (format!("{}\n[… {omitted} bytes omitted …]\n{}", &text[..head], &text[tail..]), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_keeps_head_and_tail_on_char_boundaries() {
        let text = format!("{}{}", "é".repeat(100), "z".repeat(100));
        let (cut, truncated) = head_tail(&text, 101);
        assert!(truncated);
        assert!(cut.starts_with("éé") && cut.ends_with("zz"), "{cut}");
        assert!(cut.contains("bytes omitted"));
        assert_eq!(head_tail("short", 10), ("short".to_owned(), false));
    }

    #[test]
    fn errors_carry_the_daemon_code() {
        let result = failed(ApiError::not_found("x")).unwrap();
        assert_eq!(result.is_error, Some(true));
        let structured = result.structured_content.unwrap();
        assert_eq!(structured["code"], "NOT_FOUND");
        assert_eq!(structured["statusCode"], 404);
        let uncoded = ApiError::new(crate::error::ErrorCode::InsufficientStorage, "full");
        assert_eq!(failed(uncoded).unwrap().structured_content.unwrap()["code"], "INSUFFICIENT_STORAGE");
    }
}
