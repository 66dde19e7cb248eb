//! The recordings page: a table of recordings, each finished one with a `<video>` player, a
//! download link and a delete box. It reads `api/recordings`, deletes through
//! `DELETE api/recordings`, and plays `videos/<file>`. No external resources (sandboxes often
//! have no internet).

pub const PAGE: &str = r#"<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>toolboxd recordings</title>
<style>
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4em; text-align: left; vertical-align: top; }
video { max-width: 360px; max-height: 240px; background: #000; }
.status-failed { color: #b00; } .status-recording { color: #070; }
#message { min-height: 1.2em; }
</style>
</head>
<body>
<h1>Screen recordings</h1>
<p><button id="refresh">Refresh</button> <button id="delete" disabled>Delete selected</button></p>
<p id="message"></p>
<table>
<thead><tr><th></th><th>Recording</th><th>Status</th><th>Started</th><th>Length</th><th>Size</th><th>Video</th></tr></thead>
<tbody id="recordings"></tbody>
</table>
<script>
(function () {
  "use strict";
  var body = document.getElementById("recordings");
  var deleteButton = document.getElementById("delete");
  var message = document.getElementById("message");

  function cell(row, content) {
    var td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : String(content);
    row.appendChild(td);
    return td;
  }
  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + " KiB";
    return (bytes / 1048576).toFixed(1) + " MiB";
  }
  function selected() {
    return Array.prototype.map.call(body.querySelectorAll("input[type=checkbox]:checked"), function (box) { return box.value; });
  }
  function render(recordings) {
    body.textContent = "";
    recordings.slice().reverse().forEach(function (r) {
      var row = document.createElement("tr");
      row.dataset.id = r.id;
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = r.id;
      box.disabled = r.status === "recording";
      box.addEventListener("change", function () { deleteButton.disabled = selected().length === 0; });
      cell(row, box);
      cell(row, r.fileName);
      cell(row, r.status).className = "status-" + r.status;
      cell(row, new Date(r.startTime).toLocaleString());
      cell(row, r.durationSeconds == null ? "" : r.durationSeconds.toFixed(1) + " s");
      cell(row, size(r.sizeBytes));
      if (r.status === "recording") {
        cell(row, "still recording");
      } else {
        var src = "videos/" + encodeURIComponent(r.fileName);
        var wrap = document.createElement("div");
        var video = document.createElement("video");
        video.controls = true;
        video.preload = "metadata";
        video.src = src;
        wrap.appendChild(video);
        var link = document.createElement("a");
        link.href = src;
        link.download = r.fileName;
        link.textContent = "Download";
        wrap.appendChild(document.createElement("br"));
        wrap.appendChild(link);
        cell(row, wrap);
      }
      body.appendChild(row);
    });
    deleteButton.disabled = selected().length === 0;
  }
  function load() {
    return fetch("api/recordings", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("listing failed: HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        render(data.recordings || []);
        message.textContent = (data.recordings || []).length + " recording(s)";
        document.body.dataset.loaded = "true";
      })
      .catch(function (err) { message.textContent = String(err); });
  }
  deleteButton.addEventListener("click", function () {
    var ids = selected();
    if (!ids.length || !window.confirm("Delete " + ids.length + " recording(s)?")) return;
    fetch("api/recordings", {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids: ids })
    })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        return load().then(function () {
          message.textContent = "Deleted " + result.deleted.length +
            (result.failed.length ? ", not deleted " + result.failed.length : "");
        });
      })
      .catch(function (err) { message.textContent = String(err); });
  });
  document.getElementById("refresh").addEventListener("click", load);
  load();
})();
</script>
</body>
</html>
"#;
