//! The web terminal's HTML: the terminal page and the page shown when xterm.js is not
//! installed (the login form is `http::login`'s).

use crate::http::login::escape;
use crate::web_terminal::assets::{JS_DIR, MODULES_DIR, PACKAGES};

/// The terminal: xterm.js fitted to the window, one websocket per page (so per tab). Sizes go
/// to the server as `{"cols","rows"}` text frames, keystrokes as plain text frames.
pub const TERMINAL: &str = r#"<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>toolboxd terminal</title>
<link rel="stylesheet" href="assets/xterm.css">
<style>html, body { margin: 0; height: 100%; background: #000; } #terminal { height: 100%; width: 100%; }</style>
</head>
<body>
<div id="terminal"></div>
<script src="assets/xterm.js"></script>
<script>
(function () {
  var term = new Terminal({ cursorBlink: true, rendererType: "dom" });
  term.open(document.getElementById("terminal"));
  term.fit();
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var base = location.pathname.replace(/[^\/]*$/, "");
  var ws = new WebSocket(scheme + location.host + base + "ws");
  function sendSize() {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ cols: term.cols, rows: term.rows }));
  }
  ws.onopen = function () { sendSize(); term.focus(); document.body.dataset.connected = "true"; };
  ws.onmessage = function (event) { term.write(event.data); };
  ws.onclose = function () { document.body.dataset.connected = "false"; term.write("\r\n[terminal closed]\r\n"); };
  term.on("data", function (data) { if (ws.readyState === WebSocket.OPEN) ws.send(data); });
  term.on("resize", sendSize);
  window.addEventListener("resize", function () { term.fit(); });
  window.toolboxdTerminal = term;
})();
</script>
</body>
</html>
"#;

/// Said instead of the terminal when xterm.js cannot be found.
pub fn missing(detail: &str) -> String {
    format!(
        r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>toolboxd terminal: xterm.js missing</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>The web terminal needs xterm.js</h1>
<p>Install Debian's packages and reload this page:</p>
<pre>apt-get install {PACKAGES}</pre>
<p>They provide {JS_DIR} and {MODULES_DIR}, which the daemon reads at runtime.</p>
<p>What is missing: <code>{}</code></p>
</body>
</html>
"#,
        escape(detail)
    )
}
