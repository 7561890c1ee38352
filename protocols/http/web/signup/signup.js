// The signup page (docs/web.md): GET /api/signup says whether a free
// signup is open; a link /signup?ticket=SECRET carries an invitation.
// POST /api/signup makes the account and logs it in (the session cookie).

import { api, ApiError } from "/assets/api.js";

const $ = (id) => document.getElementById(id);
const ticket = new URLSearchParams(location.search).get("ticket");

/** What a refusal's code means to the person signing up. */
const reasons = {
  rate_limited: "Too many signups from your address; try again later.",
  name_taken: "That name is taken; choose another.",
  ticket_used: "This invitation was used already.",
  ticket_expired: "This invitation has expired.",
  no_such_ticket: "This invitation link is not valid.",
  signup_closed: "Signup is closed.",
};

function showStatus(text) {
  const s = $("status");
  s.textContent = text;
  s.hidden = false;
}

async function start() {
  if (ticket) {
    $("invited").hidden = false;
    $("form-card").hidden = false;
    return;
  }
  let st = { open: false, free: false };
  try {
    st = await api("GET", "/api/signup");
  } catch (e) {
    showStatus(e.message);
  }
  if (st.free) $("form-card").hidden = false;
  else $("closed").hidden = false;
}

$("signup-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { username: f.username.value.trim(), password: f.password.value };
  if (ticket) body.ticket = ticket;
  $("submit").disabled = true;
  $("status").hidden = true;
  try {
    const r = await api("POST", "/api/signup", body);
    $("form-card").hidden = true;
    $("address").textContent = r.address;
    $("who").textContent = r.address;
    $("done").hidden = false;
  } catch (e) {
    const known = e instanceof ApiError ? reasons[e.code] : undefined;
    showStatus(known || e.message);
    $("submit").disabled = false;
  }
});

start();
