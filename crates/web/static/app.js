// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("change", function (event) {
  var el = event.target;
  // The Actions drop-down goes to the chosen action at once.
  if (el.matches && el.matches("select[data-autosubmit]") && el.value) {
    el.form.submit();
  }
});
