// gridcrm's only script besides htmx: keyboard shortcuts, confirmations,
// printing and the language switch. No inline script anywhere (CSP).
(function () {
  "use strict";
  // "/" jumps to the search box, as in many counter applications.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var box = document.querySelector("[data-shortcut='/']");
    if (box) { e.preventDefault(); box.focus(); box.select(); }
  });
  // Destructive forms ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) window.print();
  });
  // The language switch comes back to the page it was used on.
  document.querySelectorAll("[data-current-path]").forEach(function (input) {
    input.value = window.location.pathname + window.location.search;
  });
})();
