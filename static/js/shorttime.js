/* Device Portal: the short times of the admin tables ("Dec 6, 23:13") in the reader's time zone.
   The server writes <time datetime="...Z" data-short title="exact UTC">Dec 6, 23:13 UTC</time>;
   this rewrites the text to the browser's zone (the year only when it is not this one) and the
   title to the exact local time. Without JavaScript the UTC text and title stay. */
(function () {
  "use strict";
  var thisYear = new Date().getFullYear(), short, shortYear, full;
  try {
    var hm = { hour: "2-digit", minute: "2-digit" };
    short = new Intl.DateTimeFormat(undefined, Object.assign({ month: "short", day: "numeric" }, hm));
    shortYear = new Intl.DateTimeFormat(undefined, Object.assign({ year: "numeric", month: "short", day: "numeric" }, hm));
    full = new Intl.DateTimeFormat(undefined, {
      weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    });
  } catch (e) {
    return;
  }
  function localise() {
    var times = document.querySelectorAll("time[data-short][datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i], when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      el.textContent = (when.getFullYear() === thisYear ? short : shortYear).format(when);
      el.title = full.format(when);
      el.setAttribute("data-localised", "");
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", localise);
  } else {
    localise();
  }
})();
