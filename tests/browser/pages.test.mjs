// The admin and notes pages in headless Chromium against a real node: an
// admin logs in at /admin, creates accounts, disables one and resets the
// other's password; that user logs in at /notes, writes a note and shares
// it with everyone; an anonymous visitor (a fresh browser context) opens
// the share URL and reads it. Screenshots of each page are kept.

import assert from "node:assert/strict";
import { run, mantissa, newPage, screenshot, submitLogin, checkWrongPasswordRefused,
         withNodeAndBrowser } from "./support.mjs";

const admin = "admin@example.com";
const adminPassword = "the admin's long password";
const carol = "carol@example.com";
const dave = "dave@example.com";

await run("browser pages", async (step) => {
  await withNodeAndBrowser((data) => {
    mantissa(["offering", "install", "notes", "--data", data]);
    mantissa(["user", "add", admin, "--password-stdin", "--data", data], adminPassword + "\n");
    mantissa(["user", "admin", admin, "--data", data]);
  }, async (node, browser, problems) => {
    step(`node at ${node.base}`);

    // -- the admin page ---------------------------------------------------
    const { page } = await newPage(browser, problems);
    await page.goto(node.base + "/admin");
    await page.locator("#login-form").waitFor();
    step("admin: wrong password is refused");
    await checkWrongPasswordRefused(page, admin, assert);

    step("admin: log in");
    await submitLogin(page, admin, adminPassword);
    await page.locator("#admin:not([hidden])").waitFor();
    assert.equal(await page.textContent("#who"), admin);
    await page.locator("#ov-health", { hasText: "ok" }).waitFor();
    assert.notEqual((await page.textContent("#ov-node")).trim(), "");
    await page.locator("#offering-table td", { hasText: "notes" }).first().waitFor();
    await page.locator("#product-table td", { hasText: "notes" }).first().waitFor();
    await page.locator(`#users tr[data-address="${admin}"] .tag.admin`).waitFor();

    for (const [who, password] of [[carol, "carol's first password"], [dave, "dave's password"]]) {
      step(`admin: create ${who}`);
      await page.fill("#add-form [name=username]", who);
      await page.fill("#add-form [name=password]", password);
      await page.click("#add-form button[type=submit]");
      await page.locator(`#users tr[data-address="${who}"]`).waitFor();
      assert.match(await page.textContent("#accounts-status"), new RegExp("Created " + who));
    }
    await page.locator("#store-list li", { hasText: carol }).waitFor();

    step("admin: disable dave");
    const daveRow = page.locator(`#users tr[data-address="${dave}"]`);
    await daveRow.locator("button", { hasText: "Disable" }).click();
    await daveRow.locator(".tag.off", { hasText: "disabled" }).waitFor();
    await daveRow.locator("button", { hasText: "Enable" }).waitFor();

    step("admin: reset carol's password");
    await page.locator(`#users tr[data-address="${carol}"] button`, { hasText: "Reset password" }).click();
    await page.locator("#password-form:not([hidden])").waitFor();
    await page.fill("#password-form [name=password]", "carol's new password");
    await page.click("#password-form button[type=submit]");
    await page.locator("#accounts-status", { hasText: "New password set for " + carol }).waitFor();

    step("admin: back up carol's store from the store list");
    const carolStore = page.locator("#store-list li", { hasText: carol });
    await carolStore.locator("button", { hasText: "Back up" }).click();
    await carolStore.locator(".status", { hasText: "backed up:" }).waitFor();
    assert.match(await carolStore.locator(".status").textContent(),
                 /backups\/manual\/carol@example\.com-\d+\.sqlite \(\d+ bytes\)/);
    assert.equal(await page.textContent("#long-ops"), "none");

    step("admin: the charts get samples");
    await page.waitForFunction(() => Number(document.getElementById("charts").dataset.samples) >= 4,
                               null, { timeout: 30_000 });
    assert.match(await page.textContent("#ov-stores"), /^5 \(3 user, 1 app/);
    await screenshot(page, "admin");

    // -- the notes page, as carol -----------------------------------------
    const { page: notes } = await newPage(browser, problems);
    await notes.goto(node.base + "/notes");
    await notes.locator("#login-form").waitFor();
    step("notes: disabled dave cannot log in");
    await notes.fill("#login-form [name=username]", dave);
    await notes.fill("#login-form [name=password]", "dave's password");
    await notes.click("#login-form button[type=submit]");
    await notes.locator("#login-status:not([hidden])").waitFor();
    step("notes: carol's old password is refused, the new one works");
    await notes.fill("#login-form [name=username]", carol);
    await notes.fill("#login-form [name=password]", "carol's first password");
    await notes.click("#login-form button[type=submit]");
    await notes.locator("#login-status", { hasText: "wrong username or password" }).waitFor();
    await notes.fill("#login-form [name=password]", "carol's new password");
    await notes.click("#login-form button[type=submit]");
    await notes.locator("#app:not([hidden])").waitFor();
    assert.equal(await notes.textContent("#who"), carol);
    await notes.locator("#empty:not([hidden])").waitFor();

    step("notes: create a note");
    const title = "Groceries <b>& more</b>";
    await notes.fill("#note-form [name=title]", title);
    await notes.fill("#note-form [name=body]", "milk, eggs\nbread");
    await notes.click("#save");
    await notes.locator("#notes li", { hasText: "Groceries" }).waitFor();
    await notes.locator("#status", { hasText: "Saved." }).waitFor();

    step("notes: edit it");
    await notes.fill("#note-form [name=body]", "milk, eggs\nbread\ncoffee");
    await notes.click("#save");
    await notes.locator("#status", { hasText: "Saved." }).waitFor();

    step("notes: a second note, then back to the first");
    await notes.click("#new-note");
    await notes.fill("#note-form [name=title]", "Private thoughts");
    await notes.click("#save");
    await notes.locator("#notes li", { hasText: "Private thoughts" }).waitFor();
    await notes.locator("#notes li", { hasText: "Groceries" }).click();
    assert.equal(await notes.inputValue("#note-form [name=body]"), "milk, eggs\nbread\ncoffee");

    step("notes: share it with everyone");
    await notes.click("#share");
    await notes.locator("#share-box:not([hidden])").waitFor();
    const shareUrl = await notes.getAttribute("#share-link", "href");
    assert.match(shareUrl, new RegExp("^" + node.base + "/users/carol/[A-Za-z0-9_-]+$"));
    await notes.locator("#notes li", { hasText: "Groceries" }).locator(".tag", { hasText: "shared" }).waitFor();
    await screenshot(notes, "notes");

    // -- the share, anonymously ---------------------------------------------
    step("visitor: open the share URL in a fresh context");
    const { context: anon, page: visitor } = await newPage(browser, problems);
    const res = await visitor.goto(shareUrl);
    assert.equal(res.status(), 200);
    assert.equal(await visitor.textContent("h1"), title);
    assert.match(await visitor.textContent("body"), /coffee/);
    assert.doesNotMatch(await visitor.content(), /Private thoughts/);
    await screenshot(visitor, "share");

    step("visitor: the admin routes and carol's notes are not there for them");
    for (const path of ["/api/admin/users", "/api/admin/overview", "/api/admin/stats"])
      assert.equal((await anon.request.get(node.base + path)).status(), 404, path);
    const list = await anon.request.get(node.base + "/api/stores/carol@example.com/items/notes.note");
    assert.deepEqual((await list.json()).items.map((n) => n.title), [title]);
    const visitorAdmin = await visitor.goto(node.base + "/admin");
    assert.equal(visitorAdmin.status(), 200); // the page is static ...
    await visitor.locator("#login-form").waitFor(); // ... and asks for a login

    step("notes: stop sharing; the URL is gone");
    await notes.click("#unshare");
    await notes.locator("#share-box[hidden]").waitFor({ state: "attached" });
    assert.equal((await anon.request.get(shareUrl)).status(), 404);
  }, assert);
});
