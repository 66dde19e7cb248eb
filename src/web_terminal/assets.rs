//! xterm.js for the page, read from Debian's packages at runtime (nothing is vendored).
//!
//! Debian's `libjs-xterm` (xterm.js 3.8) ships the stylesheet and the addons under
//! `/usr/share/javascript/xterm`, but its `xterm.js` is a CommonJS stub that `require`s the real
//! modules, which `node-xterm` installs under `/usr/share/nodejs/xterm/lib`. A browser cannot
//! load CommonJS, so the daemon wraps those modules, and the fit addon, into one script with a
//! small `require` of its own. The result is built once and kept.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub const JS_DIR: &str = "/usr/share/javascript/xterm";
pub const MODULES_DIR: &str = "/usr/share/nodejs/xterm/lib";
/// What to install when the files are missing.
pub const PACKAGES: &str = "libjs-xterm node-xterm";

#[derive(Debug)]
pub struct Assets {
    pub script: String,
    pub css: String,
}

static CACHE: OnceLock<Arc<Assets>> = OnceLock::new();

/// The assets, or why they cannot be served.
pub fn get() -> Result<Arc<Assets>, String> {
    if let Some(assets) = CACHE.get() {
        return Ok(Arc::clone(assets));
    }
    let assets = Arc::new(load(Path::new(JS_DIR), Path::new(MODULES_DIR))?);
    Ok(Arc::clone(CACHE.get_or_init(|| assets)))
}

fn load(js_dir: &Path, modules_dir: &Path) -> Result<Assets, String> {
    let read =
        |path: PathBuf| std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()));
    let css = read(js_dir.join("xterm.css"))?;
    let fit = read(js_dir.join("addons/fit/fit.js"))?;
    let mut modules = Vec::new();
    collect(modules_dir, modules_dir, &mut modules)
        .map_err(|err| format!("{}: {err}", modules_dir.display()))?;
    if !modules.iter().any(|(id, _)| id == "public/Terminal") {
        return Err(format!("{}/public/Terminal.js is missing", modules_dir.display()));
    }
    modules.push(("addons/fit/fit".to_owned(), fit));
    Ok(Assets { script: bundle(&modules), css })
}

/// Every `*.js` below `dir` except tests, as (module id relative to `root`, source).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
            continue;
        }
        let Some(name) = path.to_str() else { continue };
        if !name.ends_with(".js") || name.ends_with(".test.js") {
            continue;
        }
        let id = path.strip_prefix(root).unwrap_or(&path).with_extension("");
        out.push((id.to_string_lossy().into_owned(), std::fs::read_to_string(&path)?));
    }
    Ok(())
}

/// One script defining `window.Terminal` (with the fit addon applied) from CommonJS modules.
pub fn bundle(modules: &[(String, String)]) -> String {
    let mut script = String::from("(function () {\n\"use strict\";\nvar defs = {};\n");
    for (id, source) in modules {
        let _ = write!(
            script,
            "defs[{}] = function (exports, require, module) {{\n{source}\n}};\n",
            serde_json::Value::String(id.clone())
        );
    }
    script.push_str(LOADER);
    script
}

const LOADER: &str = r#"var cache = {};
function resolve(base, rel) {
  var parts = base.split("/");
  parts.pop();
  rel.split("/").forEach(function (part) {
    if (part === "..") parts.pop(); else if (part !== "." && part !== "") parts.push(part);
  });
  return parts.join("/").replace(/\.js$/, "");
}
function load(id) {
  if (cache[id]) return cache[id].exports;
  var module = { exports: {} };
  cache[id] = module;
  if (!defs[id]) throw new Error("xterm module missing: " + id);
  defs[id].call(module.exports, module.exports, function (rel) {
    return load(rel.charAt(0) === "." ? resolve(id, rel) : rel);
  }, module);
  return module.exports;
}
var Terminal = load("public/Terminal").Terminal;
Terminal.applyAddon(load("addons/fit/fit"));
window.Terminal = Terminal;
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), dir.path()).unwrap_err();
        assert!(err.contains("xterm.css"), "{err}");
    }

    #[test]
    fn modules_are_wrapped_with_their_ids() {
        let script = bundle(&[("public/Terminal".into(), "exports.Terminal = 1;".into())]);
        assert!(script.contains("defs[\"public/Terminal\"] = function (exports, require, module) {"));
        assert!(script.contains("exports.Terminal = 1;"));
        assert!(script.ends_with("})();\n"));
    }
}
