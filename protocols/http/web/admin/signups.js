// The admin page's signups (docs/web.md, docs/accounts.md "Signup"): list,
// open and close signups, and make invitation links for ticket signups.
// It loads whenever the admin section appears (after a login as an admin);
// the site store actor answers /api/admin/signups to admins only.

import { api, el, say, formatMicros } from "/assets/api.js";

const $ = (id) => document.getElementById(id);

function status(text, kind) {
  say($("signups-status"), text, kind);
}

async function invite(id) {
  try {
    const t = await api("POST", `/api/signups/${id}/tickets`, {});
    const link = location.origin + t.url;
    $("invitation").value = link;
    $("invitation-box").hidden = false;
    status(`Invitation made; it expires ${formatMicros(t.expires)} and works once.`, "ok");
    await loadSignups();
  } catch (e) {
    status(e.message);
  }
}

async function closeSignup(id) {
  try {
    await api("POST", `/api/admin/signups/${id}/close`);
    status(`Closed signup ${id}.`, "ok");
    await loadSignups();
  } catch (e) {
    status(e.message);
  }
}

export async function loadSignups() {
  const { signups } = await api("GET", "/api/admin/signups");
  const body = $("signup-table").tBodies[0];
  body.replaceChildren();
  for (const s of signups) {
    const actions = el("td", {});
    if (!s.closed && s.kind === "ticket")
      actions.append(el("button", { type: "button", onclick: () => invite(s.id) }, "Make invitation"));
    if (!s.closed)
      actions.append(el("button", { type: "button", class: "danger", onclick: () => closeSignup(s.id) }, "Close"));
    const t = s.tickets || {};
    body.append(el("tr", { "data-signup": s.id },
      el("td", {}, s.kind),
      el("td", {}, s.product),
      el("td", {}, s.domain),
      el("td", {}, el("span", { class: "tag " + (s.closed ? "off" : "on") }, s.closed ? "closed" : "open")),
      el("td", { class: "muted" }, s.kind === "ticket" ? `${t.used}/${t.total} used` + (s.inviters ? `, inviters ${s.inviters}` : "") : ""),
      actions));
  }
  if (!signups.length)
    body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no signups: only admins make accounts")));
}

$("signup-open-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { kind: f.kind.value, product: f.product.value.trim() };
  if (f.inviters.value.trim()) body.inviters = f.inviters.value.trim();
  try {
    const s = await api("POST", "/api/admin/signups", body);
    status(`Opened a ${s.kind} signup for ${s.product}.`, "ok");
    f.product.value = "";
    f.inviters.value = "";
    await loadSignups();
  } catch (e) {
    status(e.message);
  }
});

// Loads each time the admin section is shown.
new MutationObserver(() => {
  if (!$("admin").hidden) loadSignups().catch((e) => status(e.message));
}).observe($("admin"), { attributes: true, attributeFilter: ["hidden"] });
