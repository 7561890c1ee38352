// What the admin and notes pages share: calls to the JSON API with the
// session cookie, and small DOM helpers. docs/web.md.
//
// The session lives in the HttpOnly cookie that POST /api/login sets; the
// pages never see or keep the token. Every write carries
// X-Requested-With, which the server demands of cookie-authenticated
// writes (docs/http-api.md, "Cookies and CSRF").

/** An answer of the API that was not 2xx. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; resolves to the parsed JSON answer, rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { "X-Requested-With": "mantissa", Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", "the node cannot be reached: " + e.message);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || "http_" + res.status,
                       err.message || res.statusText || "request failed");
  }
  return data;
}

/** The logged-in account ({address, role}), or null. */
export async function whoAmI() {
  try {
    return await api("GET", "/api/me");
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export function login(username, password) {
  return api("POST", "/api/login", { username, password });
}

/**
 * Wires the page's #login-form: logs in with its fields, clears the
 * password and calls `loggedIn(account)` (the answer of whoAmI); a failure
 * shows in #login-status.
 */
export function handleLoginForm(loggedIn) {
  const form = document.getElementById("login-form");
  const status = document.getElementById("login-status");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await login(form.username.value.trim(), form.password.value);
      form.password.value = "";
      const me = await whoAmI();
      say(status, "");
      await loggedIn(me);
    } catch (e) {
      say(status, e.message);
    }
  });
}

export function logout() {
  return api("POST", "/api/logout");
}

/** `/api/stores/{address}` with the address encoded as a path segment. */
export function storePath(address) {
  return "/api/stores/" + encodeURIComponent(address);
}

/** Creates an element: el("td", {class: "x"}, "text", childNode, ...). */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Shows `text` in the status element `node` ("" hides it). */
export function say(node, text, kind = "error") {
  node.textContent = text;
  node.className = "status " + kind;
  node.hidden = !text;
}

/** A store timestamp (microseconds since the epoch) as local time. */
export function formatMicros(micros) {
  if (!micros) return "";
  return new Date(Math.floor(micros / 1000)).toLocaleString();
}
