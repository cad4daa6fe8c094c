// Live progress of a delivery that is loading: polls its JSON progress once a second and updates
// the bar and the figures (an aria-live region). Without this script the page shows the state at
// load time and a refresh link.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  if (status !== "received" && status !== "processing") { return; }
  var url = box.getAttribute("data-url");
  var bar = document.getElementById("progress-bar");
  var done = document.getElementById("progress-done");
  var total = document.getElementById("progress-total");
  var finished = document.getElementById("progress-finished");
  var format = function (n) { return n.toLocaleString(document.documentElement.lang === "en" ? "en" : "sv"); };
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { return; }
        bar.max = Math.max(p.total, 1);
        bar.value = p.done;
        done.textContent = format(p.done);
        total.textContent = format(p.total);
        box.setAttribute("data-status", p.status);
        if (p.status === "done" || p.status === "failed") {
          finished.hidden = false;
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
