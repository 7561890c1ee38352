// The tutorial's plugin (docs/examples/offering, built out of tree by the
// examples fixture) in headless Chromium: loaded by a node, installed and
// given to bob while the node runs (`--connect`); the landing page links
// to its page; bob, logged in with the session cookie, adds a task
// through the route POST /apps/todo/tasks and reads his page at
// /apps/todo/, where the title shows as text (escaped) under the pages'
// Content-Security-Policy. The route refuses a cookie write without the
// CSRF header, and anonymous callers.

import assert from "node:assert/strict";
import { run, startNode, mantissa, launchBrowser, newPage, screenshot } from "./support.mjs";

const plugin = process.env.MANTISSA_TODO_PLUGIN;
const bob = "bob@example.com";
const password = "bob's long password";
const title = "<b>bold</b> & \"quoted\"";

await run("browser todo plugin", async (step) => {
  assert.ok(plugin, "MANTISSA_TODO_PLUGIN is not set");
  const node = await startNode((data) => {
    mantissa(["config", "set", "offerings.plugins", plugin, "--data", data]);
    mantissa(["user", "add", bob, "--password-stdin", "--data", data], password + "\n");
  }, ["--listen", "127.0.0.1:0"]);
  const browser = await launchBrowser();
  const problems = [];
  try {
    step(`node at ${node.base}, actor port ${node.actorAddress}`);
    assert.ok(node.actorAddress, "the node did not say where it listens for actors");
    const online = ["--connect", node.actorAddress, "--data", node.data];
    step("install the plugin's offering and give bob its product, online");
    mantissa(["offering", "install", "todo", ...online]);
    mantissa(["user", "product", "add", bob, "todo", ...online]);

    const { page } = await newPage(browser, problems);
    step("the landing page links to the offering's page");
    await page.goto(node.base + "/");
    await page.locator('#offerings a[href="/apps/todo/"]').waitFor();

    step("anonymous: the page route answers 401");
    const anon = await page.evaluate(async () => (await fetch("/apps/todo/")).status);
    assert.equal(anon, 401);

    step("bob logs in (session cookie)");
    const login = await page.evaluate(async ([u, p]) => (await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Requested-With": "mantissa" },
      body: JSON.stringify({ username: u, password: p }),
    })).status, [bob, password]);
    assert.equal(login, 200);

    step("a cookie write without X-Requested-With is refused");
    const csrf = await page.evaluate(async () => (await fetch("/apps/todo/tasks", {
      method: "POST", body: JSON.stringify({ title: "forged" }),
    })).status);
    assert.equal(csrf, 403);

    step("bob adds a task through the route");
    const added = await page.evaluate(async (t) => {
      const r = await fetch("/apps/todo/tasks", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "mantissa" },
        body: JSON.stringify({ title: t }),
      });
      return { status: r.status, body: await r.json() };
    }, title);
    assert.equal(added.status, 200);
    assert.equal(added.body.title, title);
    const list = await page.evaluate(async () => (await fetch("/apps/todo/tasks")).json());
    assert.deepEqual(list.tasks.map((t) => t.title), [title]);

    step("bob's page shows it as text, with the pages' security headers");
    const res = await page.goto(node.base + "/apps/todo/");
    assert.equal(res.status(), 200);
    assert.match(res.headers()["content-type"], /^text\/html/);
    assert.match(res.headers()["content-security-policy"], /script-src 'self'/);
    assert.equal(await page.textContent("#tasks li.open"), title);
    assert.equal(await page.locator("#tasks b").count(), 0);
    await screenshot(page, "todo-page");

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await node.stop();
  }
});
