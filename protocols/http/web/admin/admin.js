// The admin page: every number and list comes from /api/admin/... routes,
// which the site store actor answers only for members of its group:admin
// (everyone else gets 404). docs/web.md describes the page.

import { api, ApiError, whoAmI, login, logout, el, say, formatMicros } from "/assets/api.js";

const $ = (id) => document.getElementById(id);
const pollMs = 2000;
const keptSamples = 60;

let me = null;
let pollTimer = null;
let samples = [];
let allStores = [];
let otherNodes = [];  // members a store of this node can move to
let thisNode = "";
let productNames = [];  // the products an admin can give

function show(which) {
  $("login").hidden = which !== "login";
  $("not-admin").hidden = which !== "not-admin";
  $("admin").hidden = which !== "admin";
  $("logout").hidden = which === "login";
  $("who").textContent = me ? me.address : "";
}

/** An error of a background call: a dead session goes back to the login. */
function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    stopPolling();
    me = null;
    show("login");
    say($("login-status"), "The session has ended; log in again.", "info");
    return;
  }
  say($("status"), e.message);
}

// -- overview -----------------------------------------------------------------

async function loadOverview() {
  const ov = await api("GET", "/api/admin/overview");
  $("ov-node").textContent = ov.node;
  $("ov-cluster").textContent = ov.cluster ? "member of a cluster" : "a single node";
  const st = ov.stores || {};
  $("ov-stores").textContent = st.error
    ? "cannot list: " + st.error
    : `${st.total} (${st.user} user, ${st.app} app, and the site store)`;
  thisNode = ov.node;
  otherNodes = (ov.members || []).filter((m) => m.name !== ov.node && m.state === "up")
    .map((m) => m.name);
  const body = $("members").tBodies[0];
  body.replaceChildren();
  for (const m of ov.members || []) {
    const details = Object.entries(m)
      .filter(([k]) => k !== "name" && k !== "state")
      .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
      .join(", ");
    body.append(el("tr", {},
      el("td", {}, m.name),
      el("td", {}, el("span", { class: "tag " + (m.state === "up" ? "on" : "off") }, m.state)),
      el("td", { class: "muted" }, details)));
  }
  if (ov.members_error)
    body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "members: " + ov.members_error)));
  try {
    const res = await fetch("/healthz", { headers: { Accept: "application/json" } });
    const h = await res.json();
    $("ov-health").textContent = res.ok ? h.status : "answers " + res.status;
  } catch (e) {
    $("ov-health").textContent = "unreachable";
  }
}

// -- live charts ----------------------------------------------------------------

function drawChart(canvas, values, label) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 18;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...values);
  ctx.strokeStyle = "#d9dee3";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, h - pad + .5);
  ctx.lineTo(w, h - pad + .5);
  ctx.stroke();
  ctx.fillStyle = "#5f6b76";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(max.toFixed(max < 10 ? 1 : 0), 2, 11);
  ctx.fillText(`last ${Math.round((keptSamples * pollMs) / 1000)} s`, w - 60, h - 4);
  if (values.length < 2) {
    ctx.fillText(label, 2, h / 2);
    return;
  }
  const step = (w - 4) / (keptSamples - 1);
  const x0 = w - 2 - step * (values.length - 1);
  ctx.strokeStyle = "#2d6cdf";
  ctx.lineWidth = 2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = x0 + i * step;
    const y = h - pad - (v / max) * (h - pad - 14);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function rates(key) {
  const out = [];
  for (let i = 1; i < samples.length; ++i) {
    const dt = (samples[i].time_ms - samples[i - 1].time_ms) / 1000;
    const dv = samples[i][key] - samples[i - 1][key];
    out.push(dt > 0 && dv >= 0 ? dv / dt : 0);
  }
  return out;
}

async function pollStats() {
  if (document.hidden) return;
  let s;
  try {
    s = await api("GET", "/api/admin/stats");
  } catch (e) {
    return failed(e);
  }
  samples.push(s);
  if (samples.length > keptSamples + 1) samples.shift();
  $("charts").dataset.samples = String(samples.length);
  const req = rates("http_requests");
  const com = rates("commits");
  const open = samples.map((x) => x.open_stores);
  drawChart($("c-requests"), req, "measuring…");
  drawChart($("c-commits"), com, "measuring…");
  drawChart($("c-open"), open, "measuring…");
  $("v-requests").textContent = req.length ? req[req.length - 1].toFixed(1) : "";
  $("v-commits").textContent = com.length ? com[com.length - 1].toFixed(1) : "";
  $("v-open").textContent = String(s.open_stores);
  // Long operations in progress (docs/operations.md).
  const running = [];
  if (s.moves_running) running.push(`${s.moves_running} store move${s.moves_running > 1 ? "s" : ""}`);
  if (s.snapshots_running) running.push(`${s.snapshots_running} snapshot${s.snapshots_running > 1 ? "s" : ""}`);
  if (s.replication_pending) running.push(`${s.replication_pending} replica change${s.replication_pending > 1 ? "s" : ""} unconfirmed`);
  if (s.outbox_depth) running.push(`${s.outbox_depth} message${s.outbox_depth > 1 ? "s" : ""} waiting in outboxes`);
  $("long-ops").textContent = running.length ? running.join(" · ") : "none";
}

function startPolling() {
  stopPolling();
  samples = [];
  pollStats();
  pollTimer = setInterval(pollStats, pollMs);
}

function stopPolling() {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

// -- accounts -------------------------------------------------------------------

function userAction(path, body, message) {
  return async () => {
    try {
      await api("POST", path, body);
      say($("accounts-status"), message, "ok");
      await loadUsers();
    } catch (e) {
      if (e.status === 401) return failed(e);
      say($("accounts-status"), e.message);
    }
  };
}

function askPassword(address) {
  const form = $("password-form");
  form.dataset.address = address;
  $("password-for").textContent = address;
  form.password.value = "";
  form.hidden = false;
  form.password.focus();
}

async function loadUsers() {
  const { users } = await api("GET", "/api/admin/users");
  const body = $("users").tBodies[0];
  body.replaceChildren();
  for (const u of users) {
    const base = "/api/admin/users/" + encodeURIComponent(u.address);
    const tags = el("td", {},
      u.disabled ? el("span", { class: "tag off" }, "disabled")
                 : el("span", { class: "tag on" }, "enabled"),
      " ",
      u.admin ? el("span", { class: "tag admin" }, "admin") : null,
      u.artificial ? el("span", { class: "tag" }, "artificial") : null);
    const actions = el("td", {});
    const self = me && u.address === me.address;
    if (!u.artificial && !self) {
      actions.append(u.disabled
        ? el("button", { type: "button", onclick: userAction(base + "/enable", undefined, `Enabled ${u.address}.`) }, "Enable")
        : el("button", { type: "button", class: "danger", onclick: userAction(base + "/disable", undefined, `Disabled ${u.address}; its sessions ended.`) }, "Disable"));
    }
    if (!u.artificial)
      actions.append(el("button", { type: "button", onclick: () => askPassword(u.address) }, "Reset password"));
    const give = productControls(u.address);
    if (give) actions.append(give);
    body.append(el("tr", { "data-address": u.address, class: u.disabled ? "disabled" : "" },
      el("td", {}, u.address, self ? el("span", { class: "muted" }, " (you)") : null),
      tags,
      el("td", { class: "muted" }, formatMicros(u.created)),
      actions));
  }
}

// -- offerings, products, stores ------------------------------------------------------

/** Runs an online administration call (docs/http-api.md, "Administration")
 * and reports in the offerings card; reloads what it changed. */
async function online(method, path, body, message) {
  try {
    const r = await api(method, path, body);
    say($("offerings-status"), message(r), "ok");
    await loadOfferings();
    await loadUsers();
  } catch (e) {
    if (e.status === 401) return failed(e);
    say($("offerings-status"), e.message);
  }
}

async function loadOfferings() {
  const { offerings, products } = await api("GET", "/api/admin/offerings");
  productNames = products.map((p) => p.name);
  const ob = $("offering-table").tBodies[0];
  ob.replaceChildren();
  for (const o of offerings) {
    const state = o.installed ? (o.known ? "installed" : "installed, code missing") : "available";
    const path = `/api/admin/offerings/${encodeURIComponent(o.name)}/`;
    const action = !o.known ? null : o.installed
      ? el("button", { type: "button", class: "small danger", onclick: () =>
          online("POST", path + "uninstall", {}, (r) =>
            `Uninstalled ${r.name}` + (r.products.length ? `; removed product ${r.products.join(", ")}.` : ".")) },
          "Uninstall")
      : el("button", { type: "button", class: "small", onclick: () =>
          online("POST", path + "install", {}, (r) =>
            `Installed ${r.name} ${r.version}` + (r.products.length ? `; created product ${r.products.join(", ")}.` : ".")) },
          "Install");
    ob.append(el("tr", { "data-offering": o.name },
      el("td", {}, o.name),
      el("td", {}, o.installed && o.installed_version !== o.version
        ? `${o.installed_version} (code ${o.version})` : o.version),
      el("td", {}, el("span", { class: "tag " + (o.installed ? "on" : "") }, state)),
      el("td", { class: "muted" }, o.description),
      el("td", {}, action)));
  }
  const pb = $("product-table").tBodies[0];
  pb.replaceChildren();
  for (const p of products)
    pb.append(el("tr", {}, el("td", {}, p.name), el("td", {}, (p.powerups || []).join(", "))));
  if (!products.length)
    pb.append(el("tr", {}, el("td", { colspan: 2, class: "muted" }, "no products (installing an offering creates its products)")));
}

/** Give or take a product: a choice of products and two buttons. */
function productControls(address) {
  if (!productNames.length || !address.includes("@")) return null;
  const pick = el("select", { "aria-label": "product", class: "product-pick" },
    ...productNames.map((n) => el("option", { value: n }, n)));
  const base = `/api/admin/users/${encodeURIComponent(address)}/products`;
  return el("span", { class: "products" }, pick,
    el("button", { type: "button", class: "small", onclick: () =>
      online("POST", base, { product: pick.value }, () => `Gave ${pick.value} to ${address}.`) }, "Give"),
    el("button", { type: "button", class: "small", onclick: () =>
      online("DELETE", `${base}/${encodeURIComponent(pick.value)}`, undefined,
             () => `Took ${pick.value} from ${address}.`) }, "Take"));
}

function renderStores() {
  const filter = $("store-filter").filter.value.trim().toLowerCase();
  const shown = allStores.filter((s) => !filter || s.includes(filter));
  const list = $("store-list");
  list.replaceChildren(...shown.slice(0, 500).map(storeItem));
  $("store-count").textContent = `${shown.length} shown of ${allStores.length}` +
    (allStores.truncatedTotal ? ` (the node lists the first ${allStores.length} of ${allStores.truncatedTotal})` : "");
}

/** A store of the list, with its actions: a backup, and a move to another
 * node of the cluster (user stores only). */
function storeItem(address) {
  const result = el("span", { class: "muted store-result" });
  const backup = el("button", { type: "button", class: "small" }, "Back up");
  backup.addEventListener("click", async () => {
    backup.disabled = true;
    say(result, "backing up…", "info");
    try {
      const r = await api("POST", `/api/admin/stores/${encodeURIComponent(address)}/backup`, {});
      say(result, `backed up: ${r.path} (${r.bytes} bytes)`, "info");
    } catch (e) {
      say(result, e.message);
    } finally {
      backup.disabled = false;
    }
  });
  const parts = [el("span", { class: "store-address" }, address), backup];
  if (address.includes("@") && otherNodes.length) {
    const to = el("select", { "aria-label": "move to" },
      ...otherNodes.map((n) => el("option", { value: n }, n)));
    const move = el("button", { type: "button", class: "small" }, "Move");
    move.addEventListener("click", async () => {
      move.disabled = true;
      say(result, `moving to ${to.value}…`, "info");
      try {
        const r = await api("POST", `/api/admin/stores/${encodeURIComponent(address)}/move`,
          { to: to.value });
        say(result, `moved to ${r.to} (${r.bytes} bytes, writes paused ${Math.round(r.pause_ms)} ms)`, "info");
        setTimeout(() => loadStores().catch(failed), 500);
      } catch (e) {
        say(result, e.message);
      } finally {
        move.disabled = false;
      }
    });
    parts.push(to, move);
  }
  parts.push(result);
  return el("li", {}, ...parts);
}

async function loadStores() {
  const r = await api("GET", "/api/admin/stores");
  allStores = r.stores;
  if (r.truncated) allStores.truncatedTotal = r.total;
  renderStores();
}

// -- start ----------------------------------------------------------------------

async function enter() {
  say($("status"), "");
  try {
    await loadOverview();
  } catch (e) {
    if (e.status === 404) return show("not-admin");
    return failed(e);
  }
  show("admin");
  startPolling();
  // The users' rows offer the products: the offerings first.
  await Promise.all([loadOfferings().then(loadUsers), loadStores()].map((p) => p.catch(failed)));
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await login(f.username.value.trim(), f.password.value);
    f.password.value = "";
    me = await whoAmI();
    say($("login-status"), "");
    await enter();
  } catch (e) {
    say($("login-status"), e.message);
  }
});

$("logout").addEventListener("click", async () => {
  stopPolling();
  try {
    await logout();
  } finally {
    me = null;
    show("login");
  }
});

$("add-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    const acct = await api("POST", "/api/admin/users",
                           { username: f.username.value.trim(), password: f.password.value });
    say($("accounts-status"), `Created ${acct.address}.`, "ok");
    f.reset();
    await Promise.all([loadUsers(), loadStores(), loadOverview()]);
  } catch (e) {
    if (e.status === 401) return failed(e);
    say($("accounts-status"), e.message);
  }
});

$("password-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const address = f.dataset.address;
  await userAction("/api/admin/users/" + encodeURIComponent(address) + "/password",
                   { password: f.password.value },
                   `New password set for ${address}; its sessions ended.`)();
  f.hidden = true;
  f.password.value = "";
});

$("password-cancel").addEventListener("click", () => {
  $("password-form").hidden = true;
});

$("product-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const powerups = f.powerups.value.split(",").map((x) => x.trim()).filter((x) => x);
  await online("POST", "/api/admin/products", { name: f.product.value.trim(), powerups },
               (r) => `Created product ${r.name} (${r.powerups.join(", ")}).`);
});

$("store-filter").addEventListener("input", renderStores);
$("store-filter").addEventListener("submit", (ev) => ev.preventDefault());

(async () => {
  try {
    me = await whoAmI();
  } catch (e) {
    me = null;
  }
  if (!me) return show("login");
  await enter();
})();
