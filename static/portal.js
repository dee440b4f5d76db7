// The portal works without JavaScript; this only adds a print button to
// printable pages (the browser's own print does the same without it).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
