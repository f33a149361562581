// Live alerts: listens to the API's SSE stream and inserts each new hit's card, rendered by
// the server (/console/alerts/hits/{id}), at the top of the list.
"use strict";
(function () {
  const list = document.getElementById("alerts");
  const status = document.getElementById("live-status");
  const empty = document.getElementById("no-alerts");
  if (!list || !status || !window.EventSource) {
    if (status) status.textContent = "This browser cannot receive live alerts: reload the page to see new hits.";
    return;
  }
  const source = new EventSource("/api/v1/alerts/stream");
  source.onopen = function () {
    status.textContent = "Live: new hits appear here at once.";
    status.classList.remove("warn");
  };
  source.onerror = function () {
    status.textContent = "The live stream was interrupted; reconnecting… (reload the page if this persists)";
    status.classList.add("warn");
  };
  source.addEventListener("lagged", function (ev) {
    status.textContent = ev.data + " alert(s) were missed while the connection was slow: reload the page to see them.";
    status.classList.add("warn");
  });
  source.addEventListener("hit", async function (ev) {
    let alert;
    try { alert = JSON.parse(ev.data); } catch (e) { return; }
    if (document.getElementById("hit-" + alert.hit_id)) return;
    const res = await fetch("/console/alerts/hits/" + encodeURIComponent(alert.hit_id), { credentials: "same-origin" });
    if (!res.ok) {
      status.textContent = "A new hit arrived but could not be shown: reload the page.";
      status.classList.add("warn");
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = (await res.text()).trim();
    const card = template.content.firstElementChild;
    if (!card) return;
    card.classList.add("new");
    list.prepend(card);
    if (empty) empty.hidden = true;
    status.textContent = "New hit on " + alert.list_name + " at camera " + alert.camera_id + ": verify it before acting.";
  });
})();
