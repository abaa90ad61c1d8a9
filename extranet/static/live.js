// Live refresh: every element with data-live-url is replaced by the HTML
// fragment at that URL every data-live-seconds seconds, while the page is visible.
(function () {
  "use strict";
  function refresh(element) {
    if (document.hidden) { return; }
    fetch(element.dataset.liveUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var focused = document.activeElement && element.contains(document.activeElement);
        if (!focused) { element.innerHTML = html; }
        element.removeAttribute("data-live-error");
      })
      .catch(function () { element.setAttribute("data-live-error", "1"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (element) {
      var seconds = parseInt(element.dataset.liveSeconds || "20", 10);
      window.setInterval(function () { refresh(element); }, seconds * 1000);
      document.addEventListener("visibilitychange", function () { refresh(element); });
    });
  });
})();
