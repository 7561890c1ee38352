// Signup in headless Chromium against a real node: the signups are opened
// with the offline commands (`mantissa signup`), an invitation is made on
// the admin page and an expired one offline; a stranger signs up at /signup (free), lands logged in and writes a note
// at /notes (the product's powerup is in the new store); an invited person
// signs up with the ticket link; the same link again and an expired one
// are refused with a clear message.

import assert from "node:assert/strict";
import { run, mantissa, newPage, screenshot, withNodeAndBrowser } from "./support.mjs";

/** The signup id that `mantissa signup open` printed. */
const openedId = (out) => {
  const m = /^opened signup (\d+)\t/.exec(out);
  assert.ok(m, "no signup id in: " + out);
  return m[1];
};

const admin = "admin@example.com";
const adminPassword = "the admin's long password";

await run("browser signup", async (step) => {
  let expired = "";
  await withNodeAndBrowser((data) => {
    mantissa(["offering", "install", "notes", "--data", data]);
    mantissa(["user", "add", admin, "--password-stdin", "--data", data], adminPassword + "\n");
    mantissa(["user", "admin", admin, "--data", data]);
    mantissa(["signup", "open", "free", "--product", "notes", "--data", data]);
    const id = openedId(mantissa(["signup", "open", "ticket", "--product", "notes", "--data", data]));
    expired = mantissa(["signup", "ticket", id, "--expires-in", "0", "--data", data]).trim();
    assert.match(mantissa(["signup", "list", "--data", data]), /\tfree\tnotes\texample\.com\topen/);
  }, async (node, browser, problems) => {
    step(`node at ${node.base}`);
    assert.match(expired, /^\/signup\?ticket=[A-Za-z0-9_-]{43}$/);

    step("admin: the signups are listed; make an invitation");
    const { page: adm } = await newPage(browser, problems);
    await adm.goto(node.base + "/admin");
    await adm.fill("#login-form [name=username]", admin);
    await adm.fill("#login-form [name=password]", adminPassword);
    await adm.click("#login-form button[type=submit]");
    const ticketRow = adm.locator("#signup-table tr", { hasText: "ticket" }).filter({ hasText: "open" });
    await adm.locator("#signup-table tr", { hasText: "free" }).waitFor();
    await ticketRow.locator("button", { hasText: "Make invitation" }).click();
    await adm.locator("#invitation-box:not([hidden])").waitFor();
    const link = await adm.inputValue("#invitation");
    assert.match(link, new RegExp("^" + node.base + "/signup\\?ticket=[A-Za-z0-9_-]{43}$"));
    const ticket = link.slice(node.base.length);
    await ticketRow.locator("td", { hasText: "0/2 used" }).waitFor();
    await screenshot(adm, "signup-admin");

    /** Signs up in a fresh context at `path`; resolves to its page. */
    const signUp = async (path, name, password) => {
      const { page } = await newPage(browser, problems);
      await page.goto(node.base + path);
      await page.locator("#form-card:not([hidden])").waitFor();
      await page.fill("#signup-form [name=username]", name);
      await page.fill("#signup-form [name=password]", password);
      await page.click("#signup-form button[type=submit]");
      return page;
    };

    /** The new account is logged in: the notes page opens and saves a note. */
    const writesNote = async (page, address, title) => {
      await page.locator("#done:not([hidden])").waitFor();
      assert.equal(await page.textContent("#address"), address);
      await page.goto(node.base + "/notes");
      await page.locator("#app:not([hidden])").waitFor();
      assert.equal(await page.textContent("#who"), address);
      await page.fill("#note-form [name=title]", title);
      await page.click("#save");
      await page.locator("#notes li", { hasText: title }).waitFor();
    };

    step("free: /signup says it is open; carol signs up");
    const free = await signUp("/signup", "carol", "carol's password");
    await screenshot(free, "signup-free");
    await writesNote(free, "carol@example.com", "Carol's first note");

    step("free: the same name again is refused");
    const taken = await signUp("/signup", "carol", "another password");
    await taken.locator("#status", { hasText: "That name is taken" }).waitFor();

    step("ticket: dave signs up with the invitation link");
    const invited = await signUp(ticket, "dave", "dave's password");
    assert.equal(await invited.isVisible("#invited"), true);
    await writesNote(invited, "dave@example.com", "Dave's note");
    await screenshot(invited, "signup-ticket");

    step("ticket: the link works once");
    const reused = await signUp(ticket, "erin", "erin's password");
    await reused.locator("#status", { hasText: "This invitation was used already." }).waitFor();

    step("ticket: an expired link is refused");
    const late = await signUp(expired, "erin", "erin's password");
    await late.locator("#status", { hasText: "This invitation has expired." }).waitFor();

    step("admin: the invitation shows as used");
    await adm.reload();
    await adm.locator("#signup-table tr", { hasText: "1/2 used" }).waitFor();

    step("the refused names have no account");
    const { context: anon } = await newPage(browser, problems);
    const login = await anon.request.post(node.base + "/api/login", {
      data: { username: "erin@example.com", password: "erin's password" },
    });
    assert.equal(login.status(), 401);
  }, assert);
});
