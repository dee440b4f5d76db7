// The portal works without JavaScript; this only adds a print button to
// printable pages (the browser's own print does the same without it).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});

// Reporting a fault: the phone's position, when the customer allows it.
document.querySelectorAll("[data-locate]").forEach(function (button) {
  if (!navigator.geolocation) return;
  var box = button.closest("[data-locate-box]");
  if (box) box.hidden = false;
  var status = document.getElementById("locate-status");
  button.addEventListener("click", function () {
    status.textContent = button.dataset.locating;
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = position.coords.latitude.toFixed(6), lon = position.coords.longitude.toFixed(6);
      document.getElementById("latitude").value = lat;
      document.getElementById("longitude").value = lon;
      status.textContent = button.dataset.located + " " + lat + ", " + lon;
    }, function () {
      status.textContent = button.dataset.unlocated;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
});
