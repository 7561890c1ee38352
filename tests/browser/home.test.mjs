// The landing page at `/` in headless Chromium against a real node: the
// site's name (the setting site.name) and the installed offerings with
// links to their pages; no signup link while no free signup is open; a
// wrong password refused; a login from the form, after which the page
// shows the account and its pages, and the notes link leads to the notes
// page, logged in; log out. An unknown path is an HTML page linking back
// to `/`.

import assert from "node:assert/strict";
import { run, mantissa, newPage, screenshot, submitLogin, checkWrongPasswordRefused,
         withNodeAndBrowser } from "./support.mjs";

const alice = "alice@example.com";
const password = "alice's long password";
const siteName = "Example <Co> & Friends";

await run("browser home", async (step) => {
  await withNodeAndBrowser((data) => {
    mantissa(["config", "set", "site.name", siteName, "--data", data]);
    mantissa(["offering", "install", "notes", "--data", data]);
    mantissa(["user", "add", alice, "--product", "notes", "--password-stdin", "--data", data], password + "\n");
  }, async (node, browser, problems) => {
    step(`node at ${node.base}`);
    const { page } = await newPage(browser, problems);
    const res = await page.goto(node.base + "/");
    assert.equal(res.status(), 200);
    assert.match(res.headers()["content-type"], /^text\/html/);

    step("home: the site's name and the installed offerings");
    await page.locator("#site-name", { hasText: siteName }).waitFor();
    assert.equal(await page.title(), siteName);
    const notes = page.locator('#offerings li[data-offering="notes"]');
    await notes.waitFor();
    assert.equal(await notes.locator("a").getAttribute("href"), "/notes");
    assert.equal(await page.locator("#offerings li").count(), 1); // mail is not installed
    // No signup is open (this node may not even have the route): no link.
    assert.equal(await page.locator("#signup").isHidden(), true);
    await page.locator("#login-form").waitFor();
    assert.equal(await page.locator("#yours").isHidden(), true);
    await screenshot(page, "home");

    step("home: a wrong password is refused");
    await checkWrongPasswordRefused(page, alice, assert);

    step("home: log in from the landing page");
    await submitLogin(page, alice, password);
    await page.locator("#yours:not([hidden])").waitFor();
    assert.equal(await page.textContent("#who"), alice);
    assert.equal(await page.locator("#login").isHidden(), true);
    assert.equal(await page.locator("#your-pages a").getAttribute("href"), "/notes");
    await screenshot(page, "home-logged-in");

    step("home: the notes link opens the notes page, logged in");
    await page.click("#your-pages a");
    await page.waitForURL(node.base + "/notes");
    await page.locator("#app:not([hidden])").waitFor();
    assert.equal(await page.textContent("#who"), alice);

    step("home: a reload keeps the session; log out");
    await page.goto(node.base + "/");
    await page.locator("#yours:not([hidden])").waitFor();
    await page.click("#logout");
    await page.locator("#login:not([hidden])").waitFor();
    assert.equal((await page.context().request.get(node.base + "/api/me")).status(), 401);

    step("an unknown path is a page linking home");
    const missing = await page.goto(node.base + "/no/such/page");
    assert.equal(missing.status(), 404);
    assert.match(missing.headers()["content-type"], /^text\/html/);
    await page.click("#home-link");
    await page.waitForURL(node.base + "/");
    await page.locator("#site-name", { hasText: siteName }).waitFor();
  }, assert);
});
