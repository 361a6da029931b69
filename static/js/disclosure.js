/* Device Portal: disclosures (<details>) that behave as people expect.
   1. The navigation is one list: a row on a wide screen, a "Menu" below 1024 px (as portal.css
      says). The server sends it
      open (so without JavaScript every link shows); this closes it on a narrow screen, before the
      page is drawn (the script is loaded right after the nav, not deferred), and opens it again
      when the window grows wide.
   2. Opening a device's actions, or a form folded into a disclosure (Rename), moves the focus to
      its first button or field, so a keyboard user lands where the choice is.
   A static file, so the Content-Security-Policy (script-src 'self') allows it. */
(function () {
  "use strict";
  var menu = document.getElementById("nav-menu");
  if (menu && window.matchMedia) {
    var narrow = window.matchMedia("(max-width: 1023px)");
    var fit = function () { menu.open = !narrow.matches; };
    fit();
    if (narrow.addEventListener) narrow.addEventListener("change", fit);
  }
  var FOCUSABLE = "input:not([type=hidden]), select, textarea, button, a[href], summary";
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.open || !details.matches || !details.matches("details[data-focus-into]")) return;
    var own = details.querySelector(":scope > summary");
    var candidates = details.querySelectorAll(FOCUSABLE);
    for (var i = 0; i < candidates.length; i++) {
      var el = candidates[i];
      if (el === own || el.disabled || el.offsetParent === null) continue;
      // Skip what sits inside a disclosure nested here that is still closed (but not its summary).
      var closed = el.closest("details:not([open])");
      if (closed && closed !== details && !(el.tagName === "SUMMARY" && el.parentElement === closed)) continue;
      el.focus();
      return;
    }
  }, true);
})();
