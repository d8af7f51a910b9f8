/* Bakeoff review pages: keyboard shortcuts, decisions, layer toggles. No dependencies. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var dataEl = document.getElementById("review-data");
  var data = dataEl ? JSON.parse(dataEl.textContent) : null;
  var statusEl = document.getElementById("status");
  var busy = false;

  function say(text, isError) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.className = isError ? "error" : "ok";
  }

  function withQuery(url) {
    return data && data.query ? url + "?" + data.query : url;
  }

  function go(flagId) {
    if (flagId) {
      window.location.assign(withQuery("/ui/review/flags/" + flagId));
    } else if (data) {
      window.location.assign(withQuery(data.queue_url));
    }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) {
          var detail = json && json.detail;
          if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
          throw new Error(detail || ("HTTP " + response.status));
        }
        return json;
      });
    });
  }

  function comment() {
    var el = document.getElementById("comment");
    return el ? el.value : "";
  }

  function decide(decision, extra) {
    if (!data || busy) return;
    busy = true;
    var body = { decision: decision, comment: comment() };
    if (extra) Object.keys(extra).forEach(function (k) { body[k] = extra[k]; });
    say("Saving…", false);
    post(data.decide_url, body).then(function (result) {
      say("Saved: " + decision.replace(/_/g, " "), false);
      go(data.next_id || result.next_id);
    }).catch(function (err) {
      busy = false;
      say(err.message, true);
    });
  }

  function accept() {
    var extra = {};
    var pick = document.getElementById("accept-candidate");
    if (pick) extra.candidate = pick.value;
    decide("accept_candidate", extra);
  }

  function openCorrect() {
    var panel = document.getElementById("correct-panel");
    if (!panel) return;
    panel.hidden = false;
    var field = document.getElementById("corrected") || document.getElementById("corrected-json");
    if (field) field.focus();
  }

  function saveCorrect() {
    var select = document.getElementById("corrected");
    var json = document.getElementById("corrected-json");
    var value;
    if (select) {
      value = select.value;
    } else if (json) {
      try { value = JSON.parse(json.value); } catch (e) { say("The correction is not valid JSON: " + e.message, true); return; }
    }
    decide("correct", { corrected_value: value });
  }

  function undo() {
    if (!data || busy) return;
    busy = true;
    say("Undoing…", false);
    post(data.undo_url).then(function () {
      window.location.reload();
    }).catch(function (err) {
      busy = false;
      say(err.message, true);
    });
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // Item page --------------------------------------------------------------
  if (data) {
    var actions = { accept: accept, gold: function () { decide("confirm_gold"); }, correct: openCorrect, undo: undo };
    document.querySelectorAll("[data-action]").forEach(function (btn) {
      btn.addEventListener("click", function () { actions[btn.getAttribute("data-action")](); });
    });
    var saveBtn = document.getElementById("btn-save-correct");
    if (saveBtn) saveBtn.addEventListener("click", saveCorrect);

    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var panel = document.getElementById("correct-panel");
      var inCorrect = panel && !panel.hidden && panel.contains(ev.target);
      if (typing(ev.target)) {
        if (ev.key === "Escape") { ev.target.blur(); ev.preventDefault(); }
        else if (ev.key === "Enter" && inCorrect && ev.target.tagName !== "TEXTAREA") { ev.preventDefault(); saveCorrect(); }
        else if (ev.key === "Enter" && inCorrect && ev.target.tagName === "TEXTAREA" && ev.ctrlKey) { saveCorrect(); }
        return;
      }
      switch (ev.key) {
        case "a": ev.preventDefault(); accept(); break;
        case "g": ev.preventDefault(); decide("confirm_gold"); break;
        case "c": ev.preventDefault(); openCorrect(); break;
        case "u": ev.preventDefault(); undo(); break;
        case "j": ev.preventDefault(); go(data.next_id); break;
        case "k": ev.preventDefault(); if (data.prev_id) go(data.prev_id); break;
        default: break;
      }
    });

    // Layer toggles and the overlay's coordinate system.
    document.querySelectorAll(".layer-toggle").forEach(function (box) {
      box.addEventListener("change", function () {
        var layer = document.querySelector('.layer[data-layer="' + box.getAttribute("data-layer") + '"]');
        if (layer) layer.classList.toggle("hidden", !box.checked);
      });
    });
    var img = document.getElementById("item-image");
    var svg = document.getElementById("overlay");
    if (img && svg) {
      var fit = function () {
        if (!svg.getAttribute("viewBox") && img.naturalWidth) {
          svg.setAttribute("viewBox", "0 0 " + img.naturalWidth + " " + img.naturalHeight);
        }
      };
      if (img.complete) fit(); else img.addEventListener("load", fit);
    }
  }

  // Queue page: Enter or j opens the first flag. -------------------------------
  var firstLink = document.querySelector("#queue a.flag-link");
  if (!data && firstLink) {
    document.addEventListener("keydown", function (ev) {
      if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "Enter" || ev.key === "j") { ev.preventDefault(); window.location.assign(firstLink.href); }
    });
  }
})();
