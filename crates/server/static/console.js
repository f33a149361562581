// Small helpers for every console page: confirm dangerous buttons, and load a chosen file
// into a textarea (hot-list import) so the form stays a plain form post.
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
