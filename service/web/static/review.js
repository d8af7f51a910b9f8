/* Bakeoff review pages: keyboard shortcuts, decisions (with a confirm step for anything that
 * changes gold), layer toggles, zoom and pan, and drawing boxes on the image. No dependencies. */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var dataEl = document.getElementById("review-data");
  var data = dataEl ? JSON.parse(dataEl.textContent) : null;
  var statusEl = document.getElementById("status");
  var busy = false;

  function $(id) { return document.getElementById(id); }

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
      window.location.assign(data.queue_url);
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

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // Queue page: Enter or j opens the first flag. -------------------------------
  if (!data) {
    var firstLink = document.querySelector("#queue a.flag-link");
    if (firstLink) {
      document.addEventListener("keydown", function (ev) {
        if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
        if (ev.key === "Enter" || ev.key === "j") { ev.preventDefault(); window.location.assign(firstLink.href); }
      });
    }
    return;
  }

  // Item page ------------------------------------------------------------------
  var layers = data.layers || [];
  var picked = null;

  function comment() {
    var el = $("comment");
    return el ? el.value : "";
  }

  function decide(decision, extra) {
    if (busy) return;
    busy = true;
    var body = { decision: decision, comment: comment() };
    if (extra) Object.keys(extra).forEach(function (k) { body[k] = extra[k]; });
    say("Saving…", false);
    post(data.decide_url, body).then(function () {
      say("Saved: " + decision.replace(/_/g, " "), false);
      go(data.next_open_id || data.next_id);
    }).catch(function (err) {
      busy = false;
      say(err.message, true);
    });
  }

  // The confirm step: anything that changes gold says so and waits for Enter (or Esc).
  var pendingConfirm = null;

  function confirmThen(text, action) {
    var box = $("confirm");
    pendingConfirm = action;
    $("confirm-text").textContent = text;
    box.hidden = false;
    $("confirm-yes").focus();
  }

  function closeConfirm() {
    pendingConfirm = null;
    $("confirm").hidden = true;
  }

  function answerConfirm(yes) {
    var action = pendingConfirm;
    closeConfirm();
    if (yes && action) action();
    else say("Cancelled: gold is unchanged.", false);
  }

  function layerByKey(key) {
    for (var i = 0; i < layers.length; i++) if (layers[i].key === key) return layers[i];
    return null;
  }

  function pick(key) {
    var layer = layerByKey(key);
    if (!layer) { say("There is no candidate " + key + ".", true); return; }
    picked = layer;
    document.querySelectorAll("#labels tr").forEach(function (tr) {
      tr.classList.toggle("picked", tr.getAttribute("data-key") === key);
    });
    document.querySelectorAll("#overlay .layer").forEach(function (g) {
      g.classList.toggle("picked", g.getAttribute("data-key") === key);
    });
    $("accept-text").textContent = "Accept " + layer.name;
    say("Picked " + layer.name + (layer.drew_nothing ? " (it drew nothing)" : "") + ": press a to accept.", false);
  }

  function acceptLayer(layer, extra) {
    var verb = "Accepting " + layer.name;
    if (!layer.changes_gold) { decide("accept_candidate", extra); return; }
    var what = layer.drew_nothing
      ? layer.name + " drew nothing: accepting it proposes removing all of gold's " + data.gold_text + "."
      : verb + " proposes changing gold from " + data.gold_text + " to " + layer.text + ".";
    confirmThen(what + " A lead confirms it as a new golden-set version.", function () { decide("accept_candidate", extra); });
  }

  function accept() {
    if (busy) return;
    if (picked) {
      var extra = { candidate: picked.candidate };
      if (picked.annotator) extra.annotator = picked.annotator;
      acceptLayer(picked, extra);
      return;
    }
    if (data.target === "gold" && data.suggestion) {
      var s = data.suggestion;
      if (!s.changes_gold) { decide("accept_candidate"); return; }
      confirmThen("Accepting the suggestion proposes changing gold from " + data.gold_text + " to " + s.text + ".",
        function () { decide("accept_candidate"); });
      return;
    }
    var flagged = data.target === "vendor" ? layers.filter(function (l) { return l.flagged; }) : [];
    var n = layers.length;
    var pickOne = n ? "Press 1" + (n > 1 ? "–" + n : "") + (n > 9 ? " (10 on: both digits quickly)" : "") + " to pick one first." : "";
    if (flagged.length === 1 && !flagged[0].drew_nothing) { acceptLayer(flagged[0], {}); return; }
    if (flagged.length > 1) { say("The flagged candidate has several annotators' answers. " + pickOne, true); return; }
    say((flagged.length ? flagged[0].name + " drew nothing; pick it explicitly if you mean it. " : "No candidate picked. ") + pickOne, true);
  }

  // Number keys: a digit picks its candidate at once; with 10 or more rows, a second digit
  // typed within PICK_WINDOW_MS extends it (1 then 0 picks 10), so rows past 9 have keys too.
  var PICK_WINDOW_MS = 1000;
  var digits = "", digitsAt = -Infinity;

  function pickDigit(d, now) {
    var longer = now - digitsAt < PICK_WINDOW_MS ? digits + d : "";
    if (longer && layerByKey(longer)) { digits = longer; digitsAt = now; pick(longer); return true; }
    digits = "";
    if (d === "0") return false;  // 0 on its own fits the zoom
    digits = d; digitsAt = now;
    pick(d);
    return true;
  }

  // Correcting ----------------------------------------------------------------
  var editor = null;  // set below for box items

  function openCorrect() {
    var panel = $("correct-panel");
    if (!panel) return;
    panel.hidden = false;
    if (editor) { editor.open(picked); return; }
    var field = $("corrected") || $("corrected-json");
    if (field) field.focus();
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function saveCorrect() {
    if (busy) return;
    var select = $("corrected");
    var json = $("corrected-json");
    var value, text;
    if (select) {
      value = select.value;
      text = value;
    } else if (json) {
      try { value = JSON.parse(json.value); } catch (e) { say("The correction is not valid JSON: " + e.message, true); return; }
      text = Array.isArray(value) ? value.length + " shape" + (value.length === 1 ? "" : "s") : JSON.stringify(value);
    }
    if (same(value, data.gold)) { decide("correct", { corrected_value: value }); return; }
    confirmThen("Correcting proposes changing gold from " + data.gold_text + " to " + text +
      ". A lead confirms it as a new golden-set version.", function () { decide("correct", { corrected_value: value }); });
  }

  function undo() {
    if (busy) return;
    var target = data.mine ? data.flag_id : data.last_mine_id;
    if (!target) { say("Nothing of yours to undo in this bake-off.", true); return; }
    busy = true;
    say("Undoing…", false);
    post("/ui/review/flags/" + target + "/undo").then(function () {
      if (target === data.flag_id) window.location.reload();
      else go(target);
    }).catch(function (err) {
      busy = false;
      say(err.message, true);
    });
  }

  var actions = { accept: accept, gold: function () { decide("confirm_gold"); }, correct: openCorrect, undo: undo };
  document.querySelectorAll("[data-action]").forEach(function (btn) {
    btn.addEventListener("click", function () { actions[btn.getAttribute("data-action")](); });
  });
  document.querySelectorAll("button.pick").forEach(function (btn) {
    btn.addEventListener("click", function () { pick(btn.getAttribute("data-key")); });
  });
  $("btn-save-correct") && $("btn-save-correct").addEventListener("click", saveCorrect);
  $("confirm-yes").addEventListener("click", function () { answerConfirm(true); });
  $("confirm-no").addEventListener("click", function () { answerConfirm(false); });

  document.addEventListener("keydown", function (ev) {
    if (pendingConfirm) {
      if (ev.key === "Enter" || ev.key === "y") { ev.preventDefault(); answerConfirm(true); }
      else if (ev.key === "Escape" || ev.key === "n") { ev.preventDefault(); answerConfirm(false); }
      else if (ev.key !== "Tab") ev.preventDefault();
      return;
    }
    var panel = $("correct-panel");
    var inCorrect = panel && !panel.hidden && panel.contains(ev.target);
    if (typing(ev.target)) {
      if (ev.key === "Escape") { ev.target.blur(); ev.preventDefault(); }
      else if (ev.key === "Enter" && inCorrect && ev.target.tagName !== "TEXTAREA") { ev.preventDefault(); saveCorrect(); }
      else if (ev.key === "Enter" && inCorrect && ev.target.tagName === "TEXTAREA" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); saveCorrect(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (editor && editor.active()) {
      if (ev.key === "Enter") { ev.preventDefault(); saveCorrect(); return; }
      if (ev.key === "Delete" || ev.key === "Backspace") { ev.preventDefault(); editor.removeSelected(); return; }
      if (ev.key === "Escape") { ev.preventDefault(); editor.close(); panel.hidden = true; return; }
    }
    if (/^[0-9]$/.test(ev.key) && pickDigit(ev.key, performance.now())) { ev.preventDefault(); return; }
    switch (ev.key) {
      case "a": ev.preventDefault(); accept(); break;
      case "g": ev.preventDefault(); decide("confirm_gold"); break;
      case "c": ev.preventDefault(); openCorrect(); break;
      case "u": ev.preventDefault(); undo(); break;
      case "j": ev.preventDefault(); if (data.next_id) go(data.next_id); else say("This is the last flag of the queue.", false); break;
      case "k": ev.preventDefault(); if (data.prev_id) go(data.prev_id); else say("This is the first flag of the queue.", false); break;
      case "+": case "=": ev.preventDefault(); if (viewer) viewer.zoomBy(1.25); break;
      case "-": ev.preventDefault(); if (viewer) viewer.zoomBy(0.8); break;
      case "0": ev.preventDefault(); if (viewer) viewer.fit(); break;
      case "Escape": if (panel && !panel.hidden) { panel.hidden = true; } break;
      default: break;
    }
  });

  // The overlay: coordinate system, labels that do not overlap, toggles -----------
  var img = $("item-image");
  var svg = $("overlay");
  var SVGNS = "http://www.w3.org/2000/svg";

  function viewBox() {
    var vb = svg.viewBox && svg.viewBox.baseVal;
    return vb && vb.width ? vb : { x: 0, y: 0, width: svg.clientWidth || 1, height: svg.clientHeight || 1 };
  }

  function layoutLabels() {
    if (!svg) return;
    var vb = viewBox();
    var fs = parseFloat(svg.getAttribute("font-size")) || 10;
    var placed = [];
    var pad = fs * 0.15;
    function hits(b) {
      if (b.x < vb.x - pad || b.y < vb.y - pad || b.x + b.width > vb.x + vb.width + pad || b.y + b.height > vb.y + vb.height + pad) return true;
      for (var i = 0; i < placed.length; i++) {
        var p = placed[i];
        if (b.x < p.x + p.width + pad && p.x < b.x + b.width + pad && b.y < p.y + p.height + pad && p.y < b.y + b.height + pad) return true;
      }
      return false;
    }
    var labels = Array.prototype.slice.call(svg.querySelectorAll(".layer:not(.hidden) .boxlabel"));
    labels.sort(function (a, b) {  // gold's labels are placed first, next to their boxes
      return (b.closest(".layer").classList.contains("gold") ? 1 : 0) - (a.closest(".layer").classList.contains("gold") ? 1 : 0);
    });
    labels.forEach(function (t) {
      var x = +t.getAttribute("data-x"), y = +t.getAttribute("data-y");
      var w = +t.getAttribute("data-w"), h = +t.getAttribute("data-h");
      t.setAttribute("x", x); t.setAttribute("y", y);
      var tw = t.getBBox().width;
      var spots = [[x, y - fs * 0.25], [x, y + h + fs * 0.95], [x + w - tw, y - fs * 0.25], [x + w - tw, y + h + fs * 0.95],
                   [x + fs * 0.2, y + fs * 0.95]];
      for (var k = 1; k < 40; k++) {
        spots.push([x, y + h + fs * 0.95 + k * fs * 1.05]);
        spots.push([x, y - fs * 0.25 - k * fs * 1.05]);
      }
      for (var s = 0; s < spots.length; s++) {
        t.setAttribute("x", spots[s][0]); t.setAttribute("y", spots[s][1]);
        var b = t.getBBox();
        if (!hits(b) || s === spots.length - 1) { placed.push({ x: b.x, y: b.y, width: b.width, height: b.height }); break; }
      }
    });
  }

  document.querySelectorAll(".layer-toggle").forEach(function (box) {
    box.addEventListener("change", function () {
      var layer = document.querySelector('#overlay .layer[data-layer="' + box.getAttribute("data-layer") + '"]');
      if (layer) layer.classList.toggle("hidden", !box.checked);
      layoutLabels();
    });
  });

  function fitViewBox() {
    if (svg && img && !svg.getAttribute("viewBox") && img.naturalWidth) {
      svg.setAttribute("viewBox", "0 0 " + img.naturalWidth + " " + img.naturalHeight);
    }
    layoutLabels();
  }
  if (svg) {
    if (img && !img.complete) img.addEventListener("load", fitViewBox); else fitViewBox();
  }

  // Zoom and pan ----------------------------------------------------------------
  var viewer = null;
  var viewport = $("viewport");
  var stage = $("stage");
  if (svg && viewport && stage) {
    viewer = (function () {
      var z = 1, tx = 0, ty = 0, drag = null;
      var level = $("zoom-level");
      function apply() {
        stage.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + z + ")";
        stage.setAttribute("data-zoom", z.toFixed(3));
        if (level) level.textContent = Math.round(z * 100) + "%";
        viewport.classList.toggle("zoomed", z > 1.001);
        scaleLabels(z);
        // Edit handles are sized in screen pixels: redraw them at the new scale so they keep
        // their size instead of growing and shrinking with the image.
        if (editor && editor.active()) editor.render();
      }
      // Box labels keep their screen size too: the zoom is a CSS transform of the image and
      // its overlay, so the overlay's font size (in image units) is divided by it, and the
      // labels are laid out again at that size (only when the zoom changed, not on a pan).
      var baseFont = parseFloat(svg.getAttribute("font-size")) || 10;
      var labelZoom = 1;
      function scaleLabels(zoom) {
        if (Math.abs(zoom - labelZoom) < 1e-6) return;
        labelZoom = zoom;
        svg.setAttribute("font-size", String(baseFont / zoom));
        layoutLabels();
      }
      function zoomAt(factor, px, py) {
        var nz = Math.min(16, Math.max(1, z * factor));
        tx = px - (px - tx) * nz / z;
        ty = py - (py - ty) * nz / z;
        z = nz;
        if (z === 1) { tx = 0; ty = 0; }
        apply();
      }
      function zoomBy(factor) { zoomAt(factor, viewport.clientWidth / 2, viewport.clientHeight / 2); }
      function fit() { z = 1; tx = 0; ty = 0; apply(); }
      viewport.addEventListener("wheel", function (ev) {
        // The page scrolls past the image; Ctrl+wheel (or any wheel once zoomed) zooms.
        if (z <= 1.001 && !ev.ctrlKey && !ev.metaKey) return;
        ev.preventDefault();
        var r = viewport.getBoundingClientRect();
        zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
      }, { passive: false });
      viewport.addEventListener("pointerdown", function (ev) {
        if (editor && editor.active() && ev.button === 0 && !ev.shiftKey) return;
        if ((ev.button !== 0 && ev.button !== 1) || z <= 1.001) return;  // nothing to pan at fit
        drag = { x: ev.clientX, y: ev.clientY, tx: tx, ty: ty };
        viewport.setPointerCapture(ev.pointerId);
        viewport.classList.add("panning");
        ev.preventDefault();
      });
      viewport.addEventListener("pointermove", function (ev) {
        if (!drag) return;
        tx = drag.tx + ev.clientX - drag.x;
        ty = drag.ty + ev.clientY - drag.y;
        apply();
      });
      function endDrag() { drag = null; viewport.classList.remove("panning"); }
      viewport.addEventListener("pointerup", endDrag);
      viewport.addEventListener("pointercancel", endDrag);
      $("zoom-in") && $("zoom-in").addEventListener("click", function () { zoomBy(1.25); });
      $("zoom-out") && $("zoom-out").addEventListener("click", function () { zoomBy(0.8); });
      $("zoom-fit") && $("zoom-fit").addEventListener("click", fit);
      apply();
      return { zoomBy: zoomBy, fit: fit, scale: function () { return z; } };
    })();
  }

  // Drawing, moving and resizing boxes (and polygon points) on the image ---------------
  var editLayer = $("edit-layer");
  var jsonField = $("corrected-json");
  if (svg && editLayer && jsonField && (data.task_type === "detection" || data.task_type === "segmentation")) {
    editor = (function () {
      var shapes = [];
      var selected = -1;
      var on = false;
      var op = null;
      var classSelect = $("edit-class");
      var segm = data.task_type === "segmentation";
      var HANDLE_PX = 7;  // side of a resize/vertex handle on screen, at every zoom

      function r1(v) { return Math.round(v * 10) / 10; }
      function clone(v) { return JSON.parse(JSON.stringify(v)); }
      function polys(s) { return Array.isArray(s.segmentation) ? s.segmentation : null; }
      function bboxOf(s) {
        var p = polys(s);
        if (p && p.length) {
          var xs = [], ys = [];
          p.forEach(function (poly) { for (var i = 0; i + 1 < poly.length; i += 2) { xs.push(poly[i]); ys.push(poly[i + 1]); } });
          var x0 = Math.min.apply(null, xs), y0 = Math.min.apply(null, ys);
          return [x0, y0, Math.max.apply(null, xs) - x0, Math.max.apply(null, ys) - y0];
        }
        return s.bbox;
      }

      function toSvg(ev) {
        var r = svg.getBoundingClientRect();
        var vb = viewBox();
        return { x: vb.x + (ev.clientX - r.left) * vb.width / r.width, y: vb.y + (ev.clientY - r.top) * vb.height / r.height };
      }
      function unitsPerPx() {
        var r = svg.getBoundingClientRect();
        return viewBox().width / (r.width || 1);
      }

      function el(name, attrs, parent) {
        var e = document.createElementNS(SVGNS, name);
        Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        parent.appendChild(e);
        return e;
      }

      function render() {
        while (editLayer.firstChild) editLayer.removeChild(editLayer.firstChild);
        // Sizes in screen pixels, turned into image units at the current zoom. (The zoom is a
        // CSS transform, which vector-effect: non-scaling-stroke does not undo.)
        var upp = unitsPerPx();
        var hs = HANDLE_PX * upp;
        var handleStroke = 1.5 * upp;
        shapes.forEach(function (s, i) {
          var g = el("g", { "class": "edit-shape" + (i === selected ? " selected" : ""), "data-i": i }, editLayer);
          var p = polys(s);
          if (p) {
            p.forEach(function (poly, pi) {
              var pts = [];
              for (var k = 0; k + 1 < poly.length; k += 2) pts.push(poly[k] + "," + poly[k + 1]);
              el("polygon", { "class": "edit-body", points: pts.join(" "), "data-i": i, "stroke-width": (i === selected ? 3 : 2.5) * upp }, g);
              if (i === selected) {
                for (var v = 0; v + 1 < poly.length; v += 2) {
                  el("rect", { "class": "handle vertex", x: poly[v] - hs / 2, y: poly[v + 1] - hs / 2, width: hs, height: hs,
                    "data-i": i, "data-poly": pi, "data-v": v, "stroke-width": handleStroke }, g);
                }
              }
            });
          } else if (s.bbox) {
            var b = s.bbox;
            el("rect", { "class": "edit-body", x: b[0], y: b[1], width: b[2], height: b[3], "data-i": i, "stroke-width": (i === selected ? 3 : 2.5) * upp }, g);
            if (i === selected) {
              [[0, 0], [1, 0], [0, 1], [1, 1]].forEach(function (c) {
                el("rect", { "class": "handle corner", x: b[0] + c[0] * b[2] - hs / 2, y: b[1] + c[1] * b[3] - hs / 2,
                  width: hs, height: hs, "data-i": i, "data-cx": c[0], "data-cy": c[1], "stroke-width": handleStroke }, g);
              });
            }
          }
          var bb = bboxOf(s);
          if (bb) {
            var t = el("text", { "class": "edit-label", x: bb[0], y: bb[1] - 2 * upp }, g);
            t.textContent = s.category || "";
          }
        });
      }

      function sync() {
        var out = shapes.map(function (s) {
          var o = clone(s);
          if (o.bbox) o.bbox = o.bbox.map(r1);
          if (polys(o)) {
            o.segmentation = o.segmentation.map(function (poly) { return poly.map(r1); });
            if (o.bbox) o.bbox = bboxOf(o).map(r1);
          }
          return o;
        });
        jsonField.value = JSON.stringify(out);
      }

      function load(value) {
        shapes = (Array.isArray(value) ? value : []).filter(function (s) { return s && typeof s === "object"; }).map(clone);
        selected = -1;
        render();
        sync();
      }

      function open(layer) {
        on = true;
        svg.classList.add("editing");
        $("stage").classList.add("editing");
        editLayer.removeAttribute("hidden");
        load(layer ? layer.value : data.gold);
        say("Editing " + (layer ? layer.name + "'s" : "gold's") + " shapes: draw, move or resize, then press Enter to save.", false);
      }

      function close() {
        on = false;
        op = null;
        svg.classList.remove("editing");
        $("stage").classList.remove("editing");
        editLayer.setAttribute("hidden", "");
      }

      function select(i) {
        selected = i;
        if (i >= 0 && classSelect && shapes[i].category) classSelect.value = shapes[i].category;
        render();
      }

      svg.addEventListener("pointerdown", function (ev) {
        if (!on || ev.button !== 0 || ev.shiftKey) return;
        ev.preventDefault();
        ev.stopPropagation();
        var p = toSvg(ev);
        var t = ev.target;
        var i = t.getAttribute && t.getAttribute("data-i");
        if (t.classList.contains("corner")) {
          var s = shapes[+i];
          op = { kind: "resize", i: +i, cx: +t.getAttribute("data-cx"), cy: +t.getAttribute("data-cy"), start: s.bbox.slice() };
        } else if (t.classList.contains("vertex")) {
          op = { kind: "vertex", i: +i, poly: +t.getAttribute("data-poly"), v: +t.getAttribute("data-v") };
        } else if (t.classList.contains("edit-body")) {
          select(+i);
          op = { kind: "move", i: +i, from: p, start: clone(shapes[+i]) };
        } else {
          var cat = classSelect ? classSelect.value : "";
          var shape = segm ? { category: cat, segmentation: [[p.x, p.y, p.x, p.y, p.x, p.y, p.x, p.y]] } : { category: cat, bbox: [p.x, p.y, 0, 0] };
          shapes.push(shape);
          selected = shapes.length - 1;
          op = { kind: "draw", i: selected, from: p };
        }
        svg.setPointerCapture(ev.pointerId);
      });

      svg.addEventListener("pointermove", function (ev) {
        if (!on || !op) return;
        var p = toSvg(ev);
        var s = shapes[op.i];
        if (op.kind === "draw") {
          var x0 = Math.min(op.from.x, p.x), y0 = Math.min(op.from.y, p.y);
          var x1 = Math.max(op.from.x, p.x), y1 = Math.max(op.from.y, p.y);
          if (segm) s.segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]];
          else s.bbox = [x0, y0, x1 - x0, y1 - y0];
        } else if (op.kind === "move") {
          var dx = p.x - op.from.x, dy = p.y - op.from.y;
          if (op.start.bbox) s.bbox = [op.start.bbox[0] + dx, op.start.bbox[1] + dy, op.start.bbox[2], op.start.bbox[3]];
          if (polys(op.start)) {
            s.segmentation = op.start.segmentation.map(function (poly) {
              return poly.map(function (v, k) { return v + (k % 2 ? dy : dx); });
            });
          }
        } else if (op.kind === "resize") {
          var b = op.start;
          var left = op.cx ? b[0] : p.x, right = op.cx ? p.x : b[0] + b[2];
          var top = op.cy ? b[1] : p.y, bottom = op.cy ? p.y : b[1] + b[3];
          s.bbox = [Math.min(left, right), Math.min(top, bottom), Math.abs(right - left), Math.abs(bottom - top)];
        } else if (op.kind === "vertex") {
          s.segmentation[op.poly][op.v] = p.x;
          s.segmentation[op.poly][op.v + 1] = p.y;
        }
        render();
      });

      function finish() {
        if (!op) return;
        if (op.kind === "draw") {
          var bb = bboxOf(shapes[op.i]);
          if (!bb || bb[2] < 2 || bb[3] < 2) { shapes.splice(op.i, 1); selected = -1; }
        }
        op = null;
        render();
        sync();
      }
      svg.addEventListener("pointerup", finish);
      svg.addEventListener("pointercancel", finish);

      if (classSelect) {
        classSelect.addEventListener("change", function () {
          if (selected >= 0) { shapes[selected].category = classSelect.value; render(); sync(); }
        });
      }
      jsonField.addEventListener("input", function () {
        try { var v = JSON.parse(jsonField.value); } catch (e) { return; }
        if (!Array.isArray(v)) return;
        shapes = v.filter(function (s) { return s && typeof s === "object"; }).map(clone);
        selected = -1;
        render();
      });
      $("edit-from-gold") && $("edit-from-gold").addEventListener("click", function () { open(null); });
      document.querySelectorAll(".edit-from").forEach(function (btn) {
        btn.addEventListener("click", function () { open(layerByKey(btn.getAttribute("data-key"))); });
      });

      return {
        open: open,
        close: close,
        render: render,
        sync: sync,
        active: function () { return on; },
        removeSelected: function () {
          if (selected < 0) return;
          shapes.splice(selected, 1);
          selected = -1;
          render();
          sync();
        }
      };
    })();
  }

  // Every listener is in place: keys pressed from now on are handled (browser tests wait for it).
  document.body.setAttribute("data-keys", "ready");
})();
