// The mail page: the messages delivered into the user's own store (by the
// SMTP server, docs/smtp.md), through the mail offering's routes
// (docs/offerings.md, "Routes"): list, read, mark read or unread.

import { api, whoAmI, handleLoginForm, logout, el, say, formatMicros, showSession, sessionFailed } from "/assets/api.js";

const $ = (id) => document.getElementById(id);
const base = "/apps/mail/messages";

let me = null;
let messages = [];
let current = null; // the message shown

function show(loggedIn) {
  showSession(loggedIn ? me : null);
}

function failed(e) {
  if (sessionFailed(e, $("status"))) me = null;
}

async function load() {
  const list = await api("GET", base + "?limit=200");
  messages = list.messages;
  renderList();
}

function renderList() {
  $("messages").replaceChildren(...messages.map((m) => el("li", {
      "data-id": m.id,
      class: [m.read ? "read" : "unread", current && current.id === m.id ? "current" : ""].join(" "),
      onclick: () => open(m.id).catch(failed),
    },
    el("span", { class: "s" }, m.subject || "(no subject)"),
    el("span", { class: "f" }, (m.from_header || m.sender || "") + " · " + formatMicros(m.received)))));
  $("empty").hidden = messages.length > 0;
}

/** The message's text: its raw bytes (base64) decoded as UTF-8. */
function text(m) {
  if (m.raw_chunked) return "(too large to show here)";
  const bytes = Uint8Array.from(atob(m.raw || ""), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function renderMessage() {
  $("reader").hidden = !current;
  if (!current) return;
  $("subject").textContent = current.subject || "(no subject)";
  $("from").textContent = current.from_header || current.sender || "";
  $("to").textContent = current.to_header || "";
  $("date").textContent = current.date_header || formatMicros(current.received);
  $("body").textContent = text(current);
  $("toggle-read").textContent = current.read ? "Mark unread" : "Mark read";
}

async function setRead(id, read) {
  const summary = await api("POST", base + "/" + id + "/read", { read });
  const i = messages.findIndex((m) => m.id === id);
  if (i >= 0) messages[i] = summary;
  if (current && current.id === id) current.read = summary.read;
}

async function open(id) {
  current = await api("GET", base + "/" + id);
  if (!current.read) await setRead(id, true);
  say($("status"), "");
  renderMessage();
  renderList();
}

async function start() {
  me = await whoAmI();
  show(!!me);
  if (me) await load();
}

handleLoginForm(async () => {
  await start();
});

$("logout").addEventListener("click", async () => {
  try { await logout(); } catch { /* gone already */ }
  me = null;
  current = null;
  show(false);
});

$("refresh").addEventListener("click", () => load().catch(failed));

$("toggle-read").addEventListener("click", async () => {
  if (!current) return;
  try {
    await setRead(current.id, !current.read);
    renderMessage();
    renderList();
  } catch (e) {
    failed(e);
  }
});

start().catch(failed);
