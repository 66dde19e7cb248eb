// Drives the recordings page in headless Chromium: logs in with the token, waits for the
// recording to be listed, lets its <video> load its metadata, then deletes it through the page.
// Prints one JSON object with what it saw; the Rust test (tests/recordings_page.rs) makes the
// assertions.
//
// Usage: node recordings_page.js <base-url> <token> <recording-id>
"use strict";
const { chromium } = require("playwright-core");

const [base, token, id] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
  });
  const result = {};
  try {
    const page = await browser.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    await page.goto(base + "/");
    result.loginForm = (await page.locator("input[name=token]").count()) === 1;
    await page.fill("input[name=token]", token);
    await Promise.all([page.waitForSelector("body[data-loaded=true]", { timeout: 20000 }), page.click("button[type=submit]")]);
    const row = page.locator(`tr[data-id="${id}"]`);
    result.listed = (await row.count()) === 1;
    result.duration = await page.evaluate(async (id) => {
      const video = document.querySelector(`tr[data-id="${id}"] video`);
      if (!video) return null;
      if (!(video.readyState >= 1)) {
        await new Promise((resolve, reject) => {
          video.addEventListener("loadedmetadata", resolve, { once: true });
          video.addEventListener("error", () => reject(new Error("video error " + (video.error && video.error.code))), { once: true });
          setTimeout(() => reject(new Error("no metadata within 20 s")), 20000);
        });
      }
      return video.duration;
    }, id);
    await row.locator("input[type=checkbox]").check();
    await page.click("#delete");
    await page.waitForFunction((id) => !document.querySelector(`tr[data-id="${id}"]`), id, { timeout: 20000 });
    result.rowsAfterDelete = await page.locator("#recordings tr").count();
  } catch (err) {
    result.error = String(err && err.stack || err);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + "\n");
})();
