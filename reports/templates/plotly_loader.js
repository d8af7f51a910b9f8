/* Unpack the embedded plotly.js (gzip + base64: 2.0 MB instead of 4.8 MB) with the browser's
   own DecompressionStream and run it; the figures script waits on window.bakeoffPlotly. */
(function () {
  "use strict";
  var nonce = document.currentScript ? document.currentScript.nonce : "";
  var packed = document.getElementById("{{ plotly_packed_id }}");
  window.bakeoffPlotly = new Promise(function (resolve, reject) {
    if (typeof DecompressionStream === "undefined" || !packed) {
      reject(new Error("this browser cannot unpack the charts (no DecompressionStream)"));
      return;
    }
    var text = atob(packed.textContent.trim());
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    new Response(stream).text().then(function (code) {
      var script = document.createElement("script");
      if (nonce) script.nonce = nonce;
      script.textContent = code;
      document.head.appendChild(script);  // an inline script runs as it is inserted
      packed.textContent = "";  // the packed copy is not needed any more
      resolve();
    }).catch(reject);
  });
  // Handled here so that it is no unhandled rejection before the figures script (which says
  // why the charts are missing) takes it up.
  window.bakeoffPlotly.catch(function () {});
})();
