/* Device Portal: a Copy button for a secret shown once (the personal token page).
   <button data-copy="ID" hidden> copies the text of the element ID and says so in the status
   beside it. Without JavaScript the button stays hidden and the secret is plain text to select. */
(function () {
  "use strict";
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector("[role=status]");
    if (!source) return;
    var text = source.textContent.trim();
    function said(words) { if (status) status.textContent = words; }
    function select() {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        said("Copied.");
      }, function () {
        select();
        said("Selected: press Ctrl+C (⌘C) to copy.");
      });
    } else {
      select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      said(done ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.");
    }
  }
  function start() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
