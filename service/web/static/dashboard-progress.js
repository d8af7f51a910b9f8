/* Bakeoff dashboards: live run progress (templates/dashboards/_progress.html). No dependencies.
 *
 * While a run is going (data-poll="on"), GET the progress API every 2 s with the sign-in
 * cookie (same origin), redraw the bars from the JSON, show or hide the "no worker" warning
 * (the worker heartbeat in progress.worker), and reload the page once when the run is done
 * so that the report shows the final results. Text goes in with textContent only. The
 * "Cancel run" form asks for confirmation first.
 */
(function () {
  "use strict";

  // Cancelling a run cannot be undone: ask first.
  var cancelForm = document.getElementById("cancel-run-form");
  if (cancelForm) {
    cancelForm.addEventListener("submit", function (event) {
      if (!window.confirm("Cancel this run? Open tasks fail and vendors are told; labels already in are kept.")) {
        event.preventDefault();
      }
    });
  }

  var panel = document.getElementById("run-progress");
  if (!panel || panel.getAttribute("data-poll") !== "on") return;
  var url = panel.getAttribute("data-progress-url");
  var vendorsEl = document.getElementById("run-vendors");
  var statusEl = document.getElementById("run-status");
  var overallEl = document.getElementById("run-overall-counts");
  var liveEl = document.getElementById("run-live");
  var PERIOD_MS = 2000;
  var SEGMENTS = ["received", "failed", "timed_out"];
  var finished = false;
  var failures = 0;

  function open(counts) {
    return (counts.pending || 0) + (counts.sent || 0);
  }

  function pct(n, total) {
    return total ? (100 * n / total).toFixed(2) + "%" : "0%";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function count(key, value) {
    var span = el("span", "", String(value));
    span.setAttribute("data-count", key);
    return span;
  }

  function vendorRow(v) {
    var row = el("div", "run-vendor");
    var name = el("div", "run-name", v.name);
    if (v.failing) {
      var warn = el("span", "warn run-failing", "failing, retrying");
      warn.title = v.last_error || "";
      name.appendChild(document.createTextNode(" "));
      name.appendChild(warn);
    }
    row.appendChild(name);
    var bar = el("div", "run-bar");
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", v.name + ": " + v.counts.received + " of " + v.total + " received");
    SEGMENTS.forEach(function (key) {
      var seg = el("span", "seg " + key);
      seg.style.width = pct(v.counts[key] || 0, v.total);
      bar.appendChild(seg);
    });
    row.appendChild(bar);
    var counts = el("div", "run-counts");
    var parts = [
      ["received", v.counts.received || 0, " received · "],
      ["failed", v.counts.failed || 0, " failed · "],
      ["timed_out", v.counts.timed_out || 0, " timed out · "],
      ["open", open(v.counts), " open of "],
      ["total", v.total, ""]
    ];
    parts.forEach(function (p) {
      counts.appendChild(count(p[0], p[1]));
      if (p[2]) counts.appendChild(document.createTextNode(p[2]));
    });
    row.appendChild(counts);
    return row;
  }

  function draw(progress) {
    statusEl.textContent = progress.status;
    var c = progress.counts;
    overallEl.textContent = c.received + "/" + progress.total + " received, " + c.failed +
      " failed, " + c.timed_out + " timed out, " + open(c) + " open";
    var rows = document.createDocumentFragment();
    progress.vendors.forEach(function (v) { rows.appendChild(vendorRow(v)); });
    vendorsEl.replaceChildren(rows);
    var empty = document.getElementById("run-empty");
    if (empty && progress.total > 0) empty.remove();
    var warning = document.getElementById("run-worker-warning");
    if (warning) {
      var worker = progress.worker;
      var stalled = Boolean(worker && worker.stalled);
      warning.textContent = stalled ? (worker.message || "No worker is running this bake-off.") : "";
      warning.hidden = !stalled;
    }
  }

  function schedule() {
    window.setTimeout(poll, failures ? Math.min(PERIOD_MS * Math.pow(2, failures), 30000) : PERIOD_MS);
  }

  function poll() {
    if (finished) return;
    if (document.hidden) { schedule(); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (progress) {
        failures = 0;
        draw(progress);
        liveEl.textContent = "· updated " + new Date().toLocaleTimeString();
        if (progress.done || progress.status !== "running") {
          finished = true;
          liveEl.textContent = "· run finished, loading the results…";
          window.location.reload();
          return;
        }
        schedule();
      })
      .catch(function (err) {
        failures += 1;
        liveEl.textContent = "· could not update (" + err.message + "), retrying";
        schedule();
      });
  }

  schedule();
})();
