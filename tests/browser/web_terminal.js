// Drives the web terminal in headless Chromium: logs in with the token, runs a command, resizes
// the window and opens a second tab. Prints one JSON object with what it saw; the Rust test
// (tests/web_terminal.rs) makes the assertions.
//
// Usage: node web_terminal.js <base-url> <token>
"use strict";
const { chromium } = require("playwright-core");

const [base, token] = process.argv.slice(2);

async function screen(page) {
  return page.evaluate(() => {
    const rows = document.querySelector(".xterm-rows");
    return rows ? Array.from(rows.children).map((row) => row.textContent.replace(/\s+$/, "")) : [];
  });
}

async function waitForLine(page, predicate, what) {
  for (let i = 0; i < 400; i++) {
    const lines = await screen(page);
    const found = lines.find(predicate);
    if (found !== undefined) return found;
    await page.waitForTimeout(50);
  }
  throw new Error(`never saw ${what}; screen:\n${(await screen(page)).join("\n")}`);
}

async function openTerminal(context) {
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.waitForSelector("body[data-connected=true]", { timeout: 20000 });
  return page;
}

async function run(page, command) {
  await page.keyboard.type(command);
  await page.keyboard.press("Enter");
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  });
  const result = {};
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
    const login = await context.newPage();
    await login.goto(base + "/");
    result.loginForm = (await login.locator("input[name=token]").count()) === 1;
    await login.fill("input[name=token]", "wrong");
    await Promise.all([login.waitForLoadState(), login.click("button[type=submit]")]);
    result.wrongTokenRefused = (await login.content()).includes("Wrong token");
    await login.fill("input[name=token]", token);
    await Promise.all([login.waitForSelector("body[data-connected=true]", { timeout: 20000 }), login.click("button[type=submit]")]);
    result.cookieHttpOnly = (await context.cookies()).some((c) => c.name === "toolboxd_terminal" && c.httpOnly && c.sameSite === "Strict");

    const page = login;
    await run(page, "echo $((6*7))");
    result.answer = await waitForLine(page, (line) => line.trim() === "42", "the answer 42");

    await page.setViewportSize({ width: 700, height: 420 });
    await page.waitForFunction(() => window.toolboxdTerminal.cols < 80, null, { timeout: 20000 });
    result.size = await page.evaluate(() => ({ cols: window.toolboxdTerminal.cols, rows: window.toolboxdTerminal.rows }));
    await run(page, "clear; echo SIZE=$(stty size)E''ND");
    result.stty = await waitForLine(page, (line) => /^SIZE=\d+ \d+END$/.test(line.trim()), "stty's size");

    await run(page, "echo PID=$$E''ND");
    result.pid1 = await waitForLine(page, (line) => /^PID=\d+END$/.test(line.trim()), "the first shell's pid");
    const second = await openTerminal(context);
    await run(second, "echo PID=$$E''ND");
    result.pid2 = await waitForLine(second, (line) => /^PID=\d+END$/.test(line.trim()), "the second shell's pid");
  } catch (err) {
    result.error = String(err && err.stack || err);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + "\n");
})();
