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
// Call and app confirmations: check by ourselves every two seconds (the
// "I answered" button does the same without JavaScript).
document.querySelectorAll("form[data-poll]").forEach(function (form) {
  var csrf = form.querySelector("input[name=csrf]");
  var path = form.getAttribute("data-poll");
  var status = path.indexOf("/login/") === 0
    ? "/api/v1/login/phonefactor/status"
    : "/api/v1/me/phonefactor/activation/status";
  var timer = setInterval(function () {
    fetch(status, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (form.hasAttribute("data-pairing") && body && body.challenge &&
            body.challenge.status === "pending") {
          clearInterval(timer);
          location.href = "/phonefactor/activate";
          return;
        }
        if (body && body.status && body.status !== "pending" && body.status !== "pairing") {
          clearInterval(timer);
          form.submit();
        }
      })
      .catch(function () {});
  }, 2000);
  void csrf;
});
// The virtual phone's page refreshes itself to show new texts and calls.
document.querySelectorAll("[data-poll-reload]").forEach(function (el) {
  var ms = parseInt(el.getAttribute("data-poll-reload"), 10) || 5000;
  setTimeout(function () {
    if (!document.activeElement || document.activeElement.tagName !== "INPUT") {
      location.reload();
    }
  }, ms);
});
