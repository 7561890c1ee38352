// What the browser tests share: a real node (the built `mantissa`, on a
// free port of 127.0.0.1, over a temporary data directory set up with the
// offline commands), headless Chromium through playwright-core, and
// screenshots as test artifacts. run.sh sets the environment.

import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run the test through tests/browser/run.sh)`);
  return v;
};

export const binary = env("MANTISSA_BINARY");
export const artifacts = env("MANTISSA_ARTIFACTS");

/** playwright-core from the build tree's node_modules (install.sh). */
export function playwright() {
  const require = createRequire(path.join(env("MANTISSA_NODE_MODULES"), "x.js"));
  return require("playwright-core");
}

/** Runs an offline command of `mantissa`; throws with its output on failure. */
export function mantissa(args, input) {
  const r = spawnSync(binary, args, { input, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0)
    throw new Error(`mantissa ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * A node on its own data directory: `setup(data)` runs offline commands
 * first; then `mantissa start --http 127.0.0.1:0` serves on a free port.
 * `extraArgs` go to `mantissa start` too (e.g. `--smtp 127.0.0.1:0`; the
 * node's SMTP port is then `node.smtpPort`).
 */
export async function startNode(setup, extraArgs = []) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mantissa-browser-"));
  const data = path.join(tmp, "data");
  mantissa(["init", "--data", data, "--domain", "example.com"]);
  setup(data);
  const child = spawn(binary, ["start", "--data", data, "--http", "127.0.0.1:0", "--no-demo", ...extraArgs],
                      { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => { err += d; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the node did not say where it serves within 60 s:\n" + out + err)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /serving (http:\/\/[^/\s]+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the node exited (${code}) before serving:\n${out}${err}`));
    });
  });
  const smtp = /serving smtp on [^\s:]+:(\d+)/.exec(out);
  const actors = /listening for actors on ([^\s]+)/.exec(out);
  const node = {
    base,
    data,
    smtpPort: smtp ? Number(smtp[1]) : null,
    /** HOST:PORT of the actor port (`--listen`), for `--connect`; or null. */
    actorAddress: actors ? actors[1] : null,
    log: () => out + err,
    /** SIGTERM, wait for the exit (SIGKILL after 20 s), remove the files. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        const how = await exited;
        clearTimeout(killer);
        node.exit = how;
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  // Never leave a node behind, whatever happens to the test.
  process.on("exit", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return node;
}

/** Headless Chromium (Debian's; playwright-core downloads none). */
export async function launchBrowser() {
  return playwright().chromium.launch({
    executablePath: env("MANTISSA_CHROMIUM"),
    headless: true,
    // Tests run as root in CI, where Chromium's sandbox cannot start.
    chromiumSandbox: false,
    args: ["--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/** A page that fails the test on script errors and failed requests of its own. */
export async function newPage(browser, problems) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    // Answers the test expects (401 at a login, 404s) show up as console
    // errors of the resource; only script errors count here.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text()))
      problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  return { context, page };
}

/** Saves a full-page screenshot as ARTIFACTS/name.png. */
export async function screenshot(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

/** Runs `steps` as one test: prints each step, exits 1 on the first failure. */
export async function run(name, body) {
  const started = Date.now();
  let failed = null;
  try {
    await body((what) => console.log(`- ${what}`));
  } catch (e) {
    failed = e;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (failed) {
    console.error(`${name}: FAILED after ${secs} s: ${failed.stack || failed}`);
    process.exit(1);
  }
  console.log(`${name}: passed in ${secs} s`);
  process.exit(0);
}

/** Submits a page's login form (#login-form, as every built-in page has). */
export async function submitLogin(page, username, password) {
  await page.fill("#login-form [name=username]", username);
  await page.fill("#login-form [name=password]", password);
  await page.click("#login-form button[type=submit]");
}

/** A wrong password at the page's login form is refused with a message. */
export async function checkWrongPasswordRefused(page, username, assert) {
  await submitLogin(page, username, "not the password");
  await page.locator("#login-status:not([hidden])").waitFor();
  assert.match(await page.textContent("#login-status"), /wrong username or password/);
}

/**
 * A node set up by `setup` (see startNode) and a browser for `body(node,
 * browser, problems)`; `problems` (script errors noted by newPage) must
 * stay empty. The node's output is printed when the body fails; the node
 * must then exit cleanly on SIGTERM.
 */
export async function withNodeAndBrowser(setup, body, assert) {
  const node = await startNode(setup);
  const browser = await launchBrowser();
  const problems = [];
  try {
    await body(node, browser, problems);
    assert.deepEqual(problems, []);
  } catch (e) {
    console.error("--- node output\n" + node.log());
    throw e;
  } finally {
    await browser.close();
    await node.stop();
  }
  assert.equal(node.exit?.code, 0, "the node exits cleanly on SIGTERM");
}
