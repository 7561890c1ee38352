// The notes page: a user's `notes.note` items in their own store, through
// the JSON API (docs/http-api.md, "Items" and "Sharing"). Sharing a note
// with everyone gives it a public page at /users/{localpart}/{share_id}.

import { api, ApiError, whoAmI, handleLoginForm, logout, storePath, el, say } from "/assets/api.js";

const $ = (id) => document.getElementById(id);
const type = "notes.note";

let me = null;
let notes = [];
let publicShares = new Map(); // item id -> share id shared with everyone
let current = null;           // the note being edited; null: a new one

function itemsPath() {
  return storePath(me.address) + "/items/" + type;
}

function localpart() {
  return me.address.split("@")[0];
}

function shareUrl(shareId) {
  return location.origin + "/users/" + encodeURIComponent(localpart()) + "/" + encodeURIComponent(shareId);
}

function show(loggedIn) {
  $("login").hidden = loggedIn;
  $("app").hidden = !loggedIn;
  $("logout").hidden = !loggedIn;
  $("who").textContent = loggedIn ? me.address : "";
}

function failed(e) {
  if (e instanceof ApiError && e.status === 401) {
    me = null;
    show(false);
    say($("login-status"), "The session has ended; log in again.", "info");
    return;
  }
  say($("status"), e.message);
}

async function load() {
  const [list, shares] = await Promise.all([
    api("GET", itemsPath() + "?limit=500"),
    api("GET", storePath(me.address) + "/shares"),
  ]);
  notes = list.items.sort((a, b) => b.id - a.id);
  publicShares = new Map();
  for (const s of shares.shares)
    if (s.role === "everyone" && s.type === type) publicShares.set(s.item, s.share_id);
  renderList();
}

function renderList() {
  const ul = $("notes");
  ul.replaceChildren(...notes.map((n) => el("li", {
      "data-id": n.id,
      class: current && current.id === n.id ? "current" : "",
      onclick: () => edit(n),
    },
    el("span", { class: "t" }, n.title || "(untitled)"),
    publicShares.has(n.id) ? el("span", { class: "tag on" }, "shared") : null)));
  $("empty").hidden = notes.length > 0;
}

function edit(note) {
  current = note;
  const f = $("note-form");
  f.title.value = note ? note.title : "";
  f.body.value = note ? note.body : "";
  $("editor-title").textContent = note ? "Edit note" : "New note";
  $("share").disabled = !note;
  $("delete").disabled = !note;
  say($("status"), "");
  renderShare();
  renderList();
  f.title.focus();
}

function renderShare() {
  const id = current ? publicShares.get(current.id) : undefined;
  $("share-box").hidden = id === undefined;
  $("unshare").hidden = id === undefined;
  $("share").hidden = id !== undefined;
  if (id !== undefined) {
    const link = $("share-link");
    link.href = shareUrl(id);
    link.textContent = shareUrl(id);
  }
}

$("note-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const attrs = { title: f.title.value, body: f.body.value };
  try {
    const saved = current
      ? await api("PATCH", itemsPath() + "/" + current.id, attrs)
      : await api("POST", itemsPath(), attrs);
    await load();
    edit(notes.find((n) => n.id === saved.id) || saved);
    say($("status"), "Saved.", "ok");
  } catch (e) {
    failed(e);
  }
});

$("share").addEventListener("click", async () => {
  if (!current) return;
  try {
    const r = await api("POST", storePath(me.address) + "/shares",
                        { type, item: current.id, role: "everyone", interfaces: ["read"] });
    publicShares.set(current.id, r.share_id);
    renderShare();
    renderList();
    say($("status"), "Shared with everyone.", "ok");
  } catch (e) {
    failed(e);
  }
});

$("unshare").addEventListener("click", async () => {
  const id = current && publicShares.get(current.id);
  if (!id) return;
  try {
    await api("DELETE", storePath(me.address) + "/shares/" + encodeURIComponent(id) + "?role=everyone");
    publicShares.delete(current.id);
    renderShare();
    renderList();
    say($("status"), "No longer shared.", "ok");
  } catch (e) {
    failed(e);
  }
});

$("delete").addEventListener("click", async () => {
  if (!current) return;
  try {
    await api("DELETE", itemsPath() + "/" + current.id);
    current = null;
    await load();
    edit(null);
    say($("status"), "Deleted.", "ok");
  } catch (e) {
    failed(e);
  }
});

$("new-note").addEventListener("click", () => edit(null));

handleLoginForm(async (who) => {
  me = who;
  await start();
});

$("logout").addEventListener("click", async () => {
  try {
    await logout();
  } finally {
    me = null;
    notes = [];
    current = null;
    show(false);
  }
});

async function start() {
  show(true);
  try {
    await load();
  } catch (e) {
    return failed(e);
  }
  edit(null);
}

(async () => {
  try {
    me = await whoAmI();
  } catch {
    me = null;
  }
  if (!me) return show(false);
  await start();
})();
