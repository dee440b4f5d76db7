// The notice template editor: field chips insert {field} where the caret is,
// and the preview follows the text as it is typed (a debounced POST with the
// form's CSRF token; without script the Preview button does the same).
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var box = document.getElementById("template-preview-body");
  if (!form || !box) return;
  var texts = form.querySelectorAll("[data-template-text]");
  var last = form.querySelector("textarea[name=body]");
  texts.forEach(function (t) { t.addEventListener("focus", function () { last = t; }); });
  var timer = null, seq = 0;
  function refresh() {
    var mine = ++seq;
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "preview");
    fetch(form.dataset.preview, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html === null || mine !== seq) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("template-preview-body");
      if (fresh) { box.replaceWith(fresh); box = fresh; }
    }).catch(function () { /* the Preview button still works */ });
  }
  function later() { clearTimeout(timer); timer = setTimeout(refresh, 400); }
  form.addEventListener("input", later);
  form.querySelectorAll("[data-insert]").forEach(function (chip) {
    chip.addEventListener("click", function () {
      var t = last, text = chip.dataset.insert;
      var start = t.selectionStart || 0, end = t.selectionEnd || 0;
      t.value = t.value.slice(0, start) + text + t.value.slice(end);
      t.focus();
      t.selectionStart = t.selectionEnd = start + text.length;
      later();
    });
  });
})();
