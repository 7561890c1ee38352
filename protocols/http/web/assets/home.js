// The landing page at `/` (docs/web.md): the site's name and installed
// offerings from GET /api/site, a link to /signup when a free signup is
// open (GET /api/signup), and a login form; once logged in, links to the
// pages of the offerings instead of the form.

import { api, whoAmI, handleLoginForm, logout, el, say } from "/assets/api.js";

const $ = (id) => document.getElementById(id);

let site = { name: "Mantissa", offerings: [] };

function renderSite() {
  $("site-name").textContent = site.name;
  document.title = site.name;
  const withPages = site.offerings.filter((o) => o.page);
  $("offerings").replaceChildren(...site.offerings.map((o) => el("li", { "data-offering": o.name },
    o.page ? el("a", { class: "name", href: o.page }, o.name) : el("span", { class: "name" }, o.name),
    o.description ? el("span", { class: "description" }, o.description) : null)));
  $("no-offerings").hidden = site.offerings.length > 0;
  $("your-pages").replaceChildren(...withPages.map((o) => el("li", {},
    el("a", { href: o.page }, o.name), o.description ? " — " + o.description : "")));
}

function show(me) {
  $("login").hidden = !!me;
  $("yours").hidden = !me;
  $("logout").hidden = !me;
  $("who").textContent = me ? me.address : "";
}

/** Shows the signup link only when a free signup is open; any failure
 * (no signup route on this node, a network error) shows none. */
async function loadSignup() {
  try {
    const s = await api("GET", "/api/signup");
    $("signup").hidden = !(s && s.open && s.free);
  } catch {
    $("signup").hidden = true;
  }
}

handleLoginForm((me) => {
  $("login-form").reset();
  show(me);
});

$("logout").addEventListener("click", async () => {
  try {
    await logout();
  } catch {
    // The session is gone either way.
  }
  show(null);
});

(async () => {
  const [info, me] = await Promise.allSettled([api("GET", "/api/site"), whoAmI(), loadSignup()]);
  if (info.status === "fulfilled") site = info.value;
  else say($("status"), "The site cannot be reached: " + info.reason.message);
  renderSite();
  show(me.status === "fulfilled" ? me.value : null);
})();
