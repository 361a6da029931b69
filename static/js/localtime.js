/* Device Portal: exact times in the reader's time zone.
   The server writes every exact time as UTC text inside <time datetime="...Z" data-local>;
   this rewrites that text to the browser's own time zone (named, e.g. "CET"), and keeps the
   UTC time in the title. Without JavaScript the UTC text stays. A static file, so the
   Content-Security-Policy (script-src 'self') allows it. */
(function () {
  "use strict";
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
      timeZoneName: "short"
    });
  } catch (e) {
    return;
  }
  function localise(root) {
    var times = (root || document).querySelectorAll("time[data-local][datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      if (!el.title) el.title = el.textContent;
      el.textContent = format.format(when);
      el.setAttribute("data-localised", "");
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localise(); });
  } else {
    localise();
  }
})();
