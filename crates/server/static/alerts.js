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
    if (res.redirected) {
      // The session ended: the server sent the sign-in page instead of the card.
      status.textContent = "A new hit arrived, but your session has ended: reload the page and sign in again.";
      status.classList.add("warn");
      return;
    }
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
  // A partner's hit: the card (with only what the agreement shares) comes from the server,
  // which records the view.
  const partnerList = document.getElementById("partner-alerts");
  const partnerEmpty = document.getElementById("no-partner-alerts");
  source.addEventListener("partner_hit", async function (ev) {
    let alert;
    try { alert = JSON.parse(ev.data); } catch (e) { return; }
    if (!partnerList || document.getElementById("partner-hit-" + alert.received_id)) return;
    const res = await fetch("/console/alerts/partner-hits/" + encodeURIComponent(alert.received_id), { credentials: "same-origin" });
    if (res.redirected || !res.ok) {
      status.textContent = "A partner's hit arrived but could not be shown: reload the page.";
      status.classList.add("warn");
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = (await res.text()).trim();
    const card = template.content.firstElementChild;
    if (!card) return;
    card.classList.add("new");
    partnerList.prepend(card);
    if (partnerEmpty) partnerEmpty.hidden = true;
    status.textContent = "New hit shared by " + alert.partner_agency + ".";
  });
})();
