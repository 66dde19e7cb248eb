//! Code-run: turns (language, code, argv) into a shell script, and pulls chart artifacts out of
//! the output.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

const CHART_HELPER: &str = include_str!("../../../assets/matplotlib_charts.py");
const ARTIFACT_MARKER: &str = "dtn_artifact_k39fd2:";

/// A language code-run supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    JavaScript,
    TypeScript,
}

impl Language {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "python" => Some(Language::Python),
            "javascript" => Some(Language::JavaScript),
            "typescript" => Some(Language::TypeScript),
            _ => None,
        }
    }
}

/// Whether Python code imports matplotlib on a line that is not a comment.
pub fn uses_matplotlib(code: &str) -> bool {
    const PATTERNS: [&str; 6] = [
        "import matplotlib",
        "from matplotlib",
        "__import__('matplotlib'",
        "import_module('matplotlib'",
        "load_module('matplotlib'",
        "sys.modules['matplotlib'",
    ];
    code.lines().map(str::trim_start).filter(|line| !line.starts_with('#')).any(|line| {
        let normal = line.replace('"', "'");
        PATTERNS.iter().any(|pattern| normal.contains(pattern))
    })
}

/// The shell script that runs `code`. The run's `argv` are the script's positional parameters
/// and reach the program as `"$@"`: each element exactly one argument, never split or expanded
/// by the shell (the reference daemon joins them into the shell line unquoted).
pub fn script(language: Language, code: &str) -> String {
    let args = "\"$@\"";
    match language {
        Language::Python => {
            let program = if uses_matplotlib(code) {
                format!("_TOOLBOXD_CODE = '{}'\n{CHART_HELPER}", B64.encode(code))
            } else {
                code.to_owned()
            };
            format!("printf '%s' '{}' | base64 -d | python3 -u - {args}\n", B64.encode(program))
        }
        // `node -` leaves `-` at argv[1], so the user's arguments sit at argv[2..] as they would
        // after `node script.js`.
        Language::JavaScript => format!("printf '%s' '{}' | base64 -d | node - {args}\n", B64.encode(code)),
        Language::TypeScript => format!(
            "__tbx_ts=/tmp/dtn_$$_$RANDOM.ts\n\
             printf '%s' '{}' | base64 -d > \"$__tbx_ts\"\n\
             __tbx_tsn() {{ if command -v ts-node >/dev/null 2>&1; then ts-node \"$@\"; \
             elif command -v npx >/dev/null 2>&1 && npx --no ts-node --version >/dev/null 2>&1; then npx --no ts-node \"$@\"; \
             else echo 'TypeScript code-run needs ts-node, which is not installed: install it with npm install -g ts-node typescript' >&2; return 127; fi; }}\n\
             npm_config_loglevel=error __tbx_tsn -T --ignore-diagnostics 5107 -O '{{\"module\":\"CommonJS\"}}' \"$__tbx_ts\" {args}\n\
             __tbx_rc=$?\nrm -f \"$__tbx_ts\"\nexit $__tbx_rc\n",
            B64.encode(code)
        ),
    }
}

/// One chart artifact, as the contract's `Chart` (everything optional but `elements`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Chart {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub png: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_ticks: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_ticks: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_tick_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_tick_labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_scale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_scale: Option<String>,
    pub elements: Option<Vec<ChartElement>>,
}

/// One element of a chart: a line's points, a bar, a pie wedge, a box, or a sub-chart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChartElement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<Vec<f64>>>,
    /// Always a string (numbers are rendered), as the published model declares.
    #[serde(default, deserialize_with = "string_or_number", skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub angle: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_quartile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_quartile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outliers: Option<Vec<f64>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub png: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y_label: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[derive(Deserialize)]
struct Artifact {
    #[serde(rename = "type")]
    kind: String,
    value: Chart,
}

/// Splits output into the text the user sees and the charts the helper reported.
pub fn extract_charts(output: &str) -> (String, Vec<Chart>) {
    if !output.contains(ARTIFACT_MARKER) {
        return (output.to_owned(), Vec::new());
    }
    let mut charts = Vec::new();
    let mut kept = Vec::new();
    for line in output.split('\n') {
        match line.strip_prefix(ARTIFACT_MARKER) {
            Some(json) => {
                // Lines that do not parse are dropped, as the reference daemon drops them.
                match serde_json::from_str::<Artifact>(json) {
                    Ok(artifact) if artifact.kind == "chart" => charts.push(artifact.value),
                    _ => {}
                }
            }
            None => kept.push(line),
        }
    }
    (kept.join("\n"), charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matplotlib_detection_skips_comments() {
        assert!(uses_matplotlib("import numpy\nimport matplotlib.pyplot as plt\n"));
        assert!(uses_matplotlib("m = __import__(\"matplotlib\")"));
        assert!(!uses_matplotlib("# import matplotlib\nprint(1)"));
    }

    #[test]
    fn charts_are_pulled_out_and_bar_values_become_strings() {
        let out = "a\ndtn_artifact_k39fd2:{\"type\":\"chart\",\"value\":{\"type\":\"bar\",\"elements\":[{\"label\":\"x\",\"value\":3.5}]}}\ndtn_artifact_k39fd2:not json\nb\n";
        let (text, charts) = extract_charts(out);
        assert_eq!(text, "a\nb\n");
        assert_eq!(charts.len(), 1);
        let value = charts[0].elements.as_ref().unwrap()[0].value.as_deref();
        assert_eq!(value, Some("3.5"));
    }
}
