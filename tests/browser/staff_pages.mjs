// Headless Chromium walk through the staff pages, driven by tests/browser.rs.
// Env: PE_BASE_URL, PE_ARTIFACTS (screenshot folder), PE_PROFILE (fresh
// --user-data-dir), PE_NURSE / PE_SUPERVISOR ("user:password").
// Talks to the Rust side over stdio: prints "NEED_CASE" and waits for a line
// once it wants a new case inserted (to see the worklist update live).
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { strict as assert } from "node:assert";

const base = process.env.PE_BASE_URL;
const shots = process.env.PE_ARTIFACTS;
const [nurseUser, nursePw] = process.env.PE_NURSE.split(":");
const [supUser, supPw] = process.env.PE_SUPERVISOR.split(":");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const step = (s) => console.log("STEP " + s);

const context = await chromium.launchPersistentContext(process.env.PE_PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
// No request may leave the test server (no CDN).
context.on("request", (r) => {
  if (!r.url().startsWith(base) && !r.url().startsWith("data:")) {
    throw new Error("request outside the service: " + r.url());
  }
});
const page = context.pages()[0] || (await context.newPage());
page.on("pageerror", (e) => { console.log("PAGE ERROR " + e.message); process.exitCode = 1; });

async function login(user, pw) {
  await page.goto(base + "/login");
  await page.fill("#username", user);
  await page.fill("#password", pw);
  await page.click("#login-button");
}

try {
  step("wrong password is refused");
  await login(nurseUser, "wrong");
  await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
  assert.match(await page.textContent("#login-error"), /Wrong user name or password/);

  step("nurse signs in and sees the queue in order");
  await login(nurseUser, nursePw);
  await page.waitForURL(base + "/nurse");
  await page.waitForSelector("#queue tbody tr");
  await page.waitForSelector("#live:not(.off)");
  let rows = await page.$$eval("#queue tbody tr", (trs) => trs.map((t) => ({
    level: t.dataset.level, channel: t.dataset.channel,
    badge: getComputedStyle(t.querySelector(".level")).backgroundColor,
    text: t.textContent,
  })));
  assert.equal(rows.length, 2, JSON.stringify(rows));
  assert.deepEqual(rows.map((r) => [r.level, r.channel]), [["2", "digital"], ["4", "phone"]]);
  assert.notEqual(rows[0].badge, rows[1].badge, "levels have different colours");
  assert.match(rows[0].text, /Breathing difficulty\?\s*Yes/);
  assert.match(rows[1].text, /1177 direkt|Phone/);
  assert.doesNotMatch(rows.map((r) => r.text).join(" "), /\+4670/, "no numbers in the list");
  await page.screenshot({ path: shots + "/nurse-worklist.png", fullPage: true });

  step("a new level 1 case appears live at the top");
  console.log("NEED_CASE");
  await lines.next();
  await page.waitForFunction(() => {
    const first = document.querySelector("#queue tbody tr");
    return first && first.dataset.level === "1";
  }, null, { timeout: 10000 });
  assert.equal(await page.$$eval("#queue tbody tr", (t) => t.length), 3);

  step("take next");
  await page.click("#take-next");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.equal(await page.textContent("#claimed-level"), "1");
  assert.match(await page.textContent("#claimed-number"), /^\+46/);
  await page.screenshot({ path: shots + "/nurse-claimed.png", fullPage: true });
  step("record an outcome");
  await page.selectOption("#outcome", "self_care");
  await page.fill("#outcome-note", "Advice given");
  await page.click("#record-outcome");
  await page.waitForSelector("#claimed[hidden]", { state: "attached" });
  assert.match(await page.textContent("#message"), /Outcome recorded/);
  await page.waitForFunction(() => document.querySelectorAll("#queue tbody tr").length === 2);

  step("claim the case in the review list and close it");
  assert.equal(await page.$$eval("#review tbody tr", (t) => t.length), 1);
  assert.match(await page.textContent("#review tbody tr"), /Not reached/);
  await page.click("#review tbody tr button.review-claim");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.equal(await page.textContent("#claimed-level"), "2");
  assert.match(await page.textContent("#claimed-review"), /Not reached/);
  await page.screenshot({ path: shots + "/nurse-review.png", fullPage: true });
  await page.selectOption("#outcome", "other");
  await page.click("#record-outcome");
  await page.waitForSelector("#claimed[hidden]", { state: "attached" });
  await page.waitForSelector("#review-empty:not([hidden])");

  step("nurse signs out; supervisor signs in");
  await page.click("#logout");
  await page.waitForURL(/\/login/);
  await login(supUser, supPw);
  await page.waitForURL(base + "/supervisor");
  await page.waitForFunction(() => document.getElementById("s-waiting").textContent !== "-");
  await page.waitForSelector("#greeting option[value=msg_high_load]", { state: "attached" });
  assert.equal(await page.$$eval("#levels tbody tr", (t) => t.length), 5);
  assert.equal(await page.textContent("#s-review"), "0", "the review list is empty again");

  step("supervisor sees the locked nurse and lifts the lock");
  await page.waitForSelector("#lockouts .lockout-row");
  assert.match(await page.textContent("#lockouts"), /lena/);
  await page.click("#lockouts .lockout-row button");
  await page.waitForFunction(() => !/lena/.test(document.getElementById("lockouts").textContent));

  step("supervisor closes the callback offer and sets the high-load message");
  await page.uncheck("#offer-open");
  await page.fill("#capacity", "150");
  await page.selectOption("#greeting", "msg_high_load");
  await page.fill("#closure-from", "2030-01-01T08:00");
  await page.fill("#closure-to", "2030-01-01T09:00");
  await page.fill("#closure-reason", "Staff meeting");
  await page.click("#add-closure");
  await page.click("#save-settings");
  await page.waitForFunction(() => /Saved/.test(document.getElementById("settings-status").textContent));
  await page.waitForFunction(() => document.getElementById("s-offer").textContent === "closed");
  assert.match(await page.textContent("#closures"), /Staff meeting/);
  await page.screenshot({ path: shots + "/supervisor.png", fullPage: true });
  console.log("DONE");
} catch (e) {
  await page.screenshot({ path: shots + "/failure.png", fullPage: true }).catch(() => {});
  console.log("FAIL " + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
} finally {
  await context.close();
  process.exit(process.exitCode || 0);
}
