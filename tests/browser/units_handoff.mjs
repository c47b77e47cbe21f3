// Headless Chromium: a 1177 nurse hands her case to Vårdcentralen Markaryd in
// the nurse page; a Markaryd nurse sees it in her own list, reads the handoff
// and closes it; a supervisor sees the waits per unit. Driven by
// tests/browser_units.rs. Env: PE_BASE_URL, PE_ARTIFACTS, PE_PROFILE,
// PE_NURSE, PE_UNIT_NURSE, PE_SUPERVISOR ("user:password").
import { chromium } from "playwright-core";
import { strict as assert } from "node:assert";

const base = process.env.PE_BASE_URL;
const shots = process.env.PE_ARTIFACTS;
const account = (v) => process.env[v].split(":");
const step = (s) => console.log("STEP " + s);

const context = await chromium.launchPersistentContext(process.env.PE_PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
context.on("request", (r) => {
  if (!r.url().startsWith(base) && !r.url().startsWith("data:")) {
    throw new Error("request outside the service: " + r.url());
  }
});
const page = context.pages()[0] || (await context.newPage());
page.on("pageerror", (e) => { console.log("PAGE ERROR " + e.message); process.exitCode = 1; });

async function login([user, pw], landing) {
  await page.goto(base + "/login");
  await page.fill("#username", user);
  await page.fill("#password", pw);
  await page.click("#login-button");
  await page.waitForURL(base + landing);
}

async function logout() {
  await page.click("#logout");
  await page.waitForURL(/\/login/);
}

const queueIds = () => page.$$eval("#queue tbody tr", (trs) => trs.map((t) => t.dataset.id));

try {
  step("1177 nurse takes the case and hands it to Markaryd");
  await login(account("PE_NURSE"), "/nurse");
  await page.waitForSelector("#queue tbody tr");
  await page.waitForFunction(() => document.getElementById("unit-filter").value === "1177");
  assert.equal((await queueIds()).length, 1);
  await page.click("#take-next");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.match(await page.textContent("#claimed-unit"), /1177/);
  await page.waitForSelector("#handoff-unit option[value=vc-markaryd]", { state: "attached" });
  await page.selectOption("#handoff-unit", "vc-markaryd");
  await page.fill("#handoff-note", "Behöver läkarbesök inom en vecka");
  await page.click("#handoff-button");
  await page.waitForSelector("#claimed[hidden]", { state: "attached" });
  assert.equal(await page.getAttribute("#message", "data-i18n"), "nurse.handed_off");
  assert.match(await page.textContent("#message"), /Vårdcentralen Markaryd/);
  await page.waitForSelector("#empty:not([hidden])");
  assert.deepEqual(await queueIds(), [], "the 1177 list no longer has it");
  await logout();

  step("Markaryd nurse sees it in her own list, reads the handoff and closes it");
  await login(account("PE_UNIT_NURSE"), "/nurse");
  await page.waitForFunction(() => document.getElementById("unit-filter").value === "vc-markaryd");
  await page.waitForSelector("#queue tbody tr");
  assert.equal((await queueIds()).length, 1);
  assert.equal(await page.$eval("#unit-filter", (s) => s.disabled), true, "a nurse works her own list");
  await page.click("#take-next");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.match(await page.textContent("#claimed-unit"), /Vårdcentralen Markaryd/);
  await page.waitForSelector("#handoffs-box:not([hidden])");
  const history = await page.textContent("#handoffs");
  assert.match(history, /1177 Vårdguiden – sjuksköterskor → Vårdcentralen Markaryd/);
  assert.match(history, /Behöver läkarbesök inom en vecka/);
  assert.match(history, /anna/);
  assert.equal(await page.$eval("#handoff-unit option[data-back]", (o) => o.value), "1177", "back to where it came from");
  assert.match(await page.textContent("#handoff-unit option[data-back]"), /^Tillbaka till 1177/);
  await page.screenshot({ path: shots + "/units-markaryd-case.png", fullPage: true });
  await page.selectOption("#outcome", "health_centre");
  await page.fill("#outcome-note", "Bokad tisdag 10:00");
  await page.click("#record-outcome");
  await page.waitForSelector("#claimed[hidden]", { state: "attached" });
  assert.equal(await page.getAttribute("#message", "data-i18n"), "nurse.recorded");
  await page.waitForSelector("#empty:not([hidden])");
  await logout();

  step("supervisor sees waits per unit and may look at any unit's list");
  await login(account("PE_SUPERVISOR"), "/supervisor");
  await page.waitForSelector("#unit-waits tr[data-unit=vc-markaryd]");
  assert.equal(await page.$$eval("#unit-waits tbody tr", (t) => t.length), 3);
  assert.equal(await page.textContent("#unit-waits tr[data-unit=vc-markaryd] .unit-waiting"), "0");
  await page.screenshot({ path: shots + "/units-supervisor.png", fullPage: true });
  await page.goto(base + "/nurse");
  await page.waitForSelector("#unit-filter option[value=vc-stromsnasbruk]", { state: "attached" });
  assert.equal(await page.$eval("#unit-filter", (s) => s.disabled), false);
  console.log("DONE");
} catch (e) {
  await page.screenshot({ path: shots + "/units-failure.png", fullPage: true }).catch(() => {});
  console.log("FAIL " + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
} finally {
  await context.close();
  process.exit(process.exitCode || 0);
}
