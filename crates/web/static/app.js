// Progressive enhancement only: every page works without this file.
"use strict";
// The Actions drop-down goes to the chosen action at once when it was chosen
// with a pointer. With the keyboard, arrow keys change the value without
// choosing (WCAG 3.2.2), so keyboard users confirm with the Go button or Enter.
document.addEventListener("pointerdown", function (event) {
  var el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]")) {
    el.dataset.pointer = "1";
  }
});
document.addEventListener("keydown", function (event) {
  var el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]")) {
    delete el.dataset.pointer;
  }
});
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]") && el.value && el.dataset.pointer) {
    el.form.submit();
  }
});
