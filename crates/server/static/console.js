// Small helpers for every console page: confirm dangerous buttons, load a chosen file into
// a textarea (hot-list import) so the form stays a plain form post, and show times marked
// data-local in the browser's own time zone beside UTC.
"use strict";
document.addEventListener("click", function (ev) {
  const el = ev.target.closest("[data-confirm]");
  if (el && !window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
});
document.addEventListener("change", function (ev) {
  const input = ev.target;
  if (!input.matches || !input.matches("input[type=file][data-into]")) return;
  const target = document.getElementById(input.getAttribute("data-into"));
  const file = input.files && input.files[0];
  if (!target || !file) return;
  file.text().then(function (text) { target.value = text; });
});
function showLocalTimes(root) {
  root.querySelectorAll("time[data-local]:not([data-shown])").forEach(function (el) {
    const t = new Date(el.getAttribute("datetime"));
    if (isNaN(t)) return;
    el.setAttribute("data-shown", "");
    el.textContent += " (" + t.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + " your time)";
  });
}
showLocalTimes(document);
new MutationObserver(function () { showLocalTimes(document); })
  .observe(document.body, { childList: true, subtree: true });
