// The mail page in headless Chromium against a real node with its SMTP
// server: a message sent with Python's smtplib shows in alice's inbox at
// /mail, unread; opening it shows its text and marks it read (through the
// mail offering's routes, /apps/mail/...), and it can be marked unread
// again. Anonymous callers of the routes get 401.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { run, startNode, mantissa, launchBrowser, newPage, screenshot } from "./support.mjs";

const alice = "alice@example.com";
const password = "alice's long password";
const subject = "Lunch on Friday?";

/** Sends one message to alice with Python's smtplib. */
function sendMail(port) {
  const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "bob@example.org"
m["To"] = "${alice}"
m["Subject"] = "${subject}"
m.set_content("Hi Alice,\\nlunch at <noon> & coffee after?\\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as s:
    s.send_message(m)
`;
  const r = spawnSync("python3", ["-c", script, String(port)], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`smtplib failed (${r.status}):\n${r.stdout}${r.stderr}`);
}

await run("browser mail page", async (step) => {
  const node = await startNode((data) => {
    mantissa(["offering", "install", "mail", "--data", data]);
    mantissa(["user", "add", alice, "--product", "mail", "--password-stdin", "--data", data], password + "\n");
  }, ["--smtp", "127.0.0.1:0"]);
  const browser = await launchBrowser();
  const problems = [];
  try {
    step(`node at ${node.base}, smtp on port ${node.smtpPort}`);
    assert.ok(node.smtpPort, "the node printed no smtp port");

    step("anonymous callers of the mail routes get 401");
    const anon = await fetch(node.base + "/apps/mail/messages");
    assert.equal(anon.status, 401);

    step("smtplib sends alice a message");
    sendMail(node.smtpPort);

    step("alice logs in at /mail and sees it unread");
    const { page } = await newPage(browser, problems);
    await page.goto(node.base + "/mail");
    await page.locator("#login-form").waitFor();
    await page.fill("#login-form [name=username]", alice);
    await page.fill("#login-form [name=password]", password);
    await page.click("#login-form button[type=submit]");
    await page.locator("#app:not([hidden])").waitFor();
    const item = page.locator("#messages li", { hasText: subject });
    await item.waitFor();
    assert.match(await item.getAttribute("class"), /\bunread\b/);
    await screenshot(page, "mail-inbox");

    step("opening it shows its text, escaped, and marks it read");
    await item.click();
    await page.locator("#reader:not([hidden])").waitFor();
    assert.equal(await page.textContent("#subject"), subject);
    assert.match(await page.textContent("#from"), /bob@example\.org/);
    assert.match(await page.textContent("#body"), /lunch at <noon> & coffee after\?/);
    await page.locator("#messages li.read", { hasText: subject }).waitFor();
    await page.locator("#toggle-read", { hasText: "Mark unread" }).waitFor();
    await screenshot(page, "mail-read");

    step("the store says read; marking it unread again sticks");
    const read = await page.evaluate(async () => (await (await fetch("/apps/mail/messages")).json()).messages);
    assert.equal(read.length, 1);
    assert.equal(read[0].read, true);
    await page.click("#toggle-read");
    await page.locator("#messages li.unread", { hasText: subject }).waitFor();
    await page.reload();
    await page.locator("#messages li.unread", { hasText: subject }).waitFor();

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await node.stop();
  }
});
