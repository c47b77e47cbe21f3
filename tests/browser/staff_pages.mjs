// Headless Chromium walk through the staff pages, driven by tests/browser.rs:
// Swedish by default, English after the switch; axe-core on every page in both
// languages; a keyboard-only take-and-close of a case.
// Env: PE_BASE_URL, PE_ARTIFACTS (screenshot folder), PE_PROFILE (fresh
// --user-data-dir), PE_NURSE / PE_SUPERVISOR ("user:password").
// Talks to the Rust side over stdio: prints "NEED_CASE" and waits for a line
// once it wants a new case inserted (to see the worklist update live).
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { strict as assert } from "node:assert";
import { checkAxe, checkLanguage, tabTo } from "./a11y.mjs";

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

// The staff's text must not read like a US clock.
const noAmPm = async () => assert.doesNotMatch(await page.innerText("body"), /\b(AM|PM)\b/);

try {
  step("the sign-in page is Swedish by default and passes axe");
  await page.goto(base + "/login");
  await checkLanguage(page, "sv");
  assert.equal(await page.textContent("h1"), "1177 telefoningång");
  await checkAxe(page, "login sv");

  step("wrong password is refused");
  await login(nurseUser, "wrong");
  await page.waitForSelector("#login-error[data-i18n='login.wrong']");
  assert.match(await page.textContent("#login-error"), /Fel användarnamn eller lösenord/);

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
  assert.match(rows[0].text, /1177 direkt/);
  assert.match(rows[0].text, /Skyndsamt/, "the level in words (for screen readers)");
  assert.match(rows[1].text, /Telefon/);
  assert.match(rows[1].text, /återuppringning/, "the status in words");
  assert.doesNotMatch(rows.map((r) => r.text).join(" "), /\+4670/, "no numbers in the list");
  assert.match(await page.textContent("#review tbody tr"), /Nåddes inte/);
  await checkLanguage(page, "sv");
  await checkAxe(page, "nurse sv");
  await page.screenshot({ path: shots + "/nurse-worklist.png", fullPage: true });

  step("a new level 1 case appears live at the top");
  console.log("NEED_CASE");
  await lines.next();
  await page.waitForFunction(() => {
    const first = document.querySelector("#queue tbody tr");
    return first && first.dataset.level === "1";
  }, null, { timeout: 10000 });
  assert.equal(await page.$$eval("#queue tbody tr", (t) => t.length), 3);
  await page.waitForFunction(() => /^3 väntar/.test(document.getElementById("queue-live").textContent));

  step("keyboard only: take next and record an outcome");
  await tabTo(page, "#take-next");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.equal(await page.textContent("#claimed-level"), "1");
  assert.match(await page.textContent("#claimed-number"), /^\+46/);
  assert.equal(await page.getAttribute("#message", "data-i18n"), "nurse.took_case");
  await checkAxe(page, "nurse sv with a case");
  await page.screenshot({ path: shots + "/nurse-claimed.png", fullPage: true });
  // The case card sits above the queue: back up to its outcome form.
  await tabTo(page, "#outcome", { back: true });
  assert.equal(await page.$eval("#outcome", (s) => s.value), "self_care");
  await tabTo(page, "#outcome-note");
  await page.keyboard.type("Råd om egenvård givet");
  await tabTo(page, "#record-outcome");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#claimed[hidden]", { state: "attached" });
  assert.equal(await page.getAttribute("#message", "data-i18n"), "nurse.recorded");
  assert.match(await page.textContent("#message"), /Utfallet är registrerat/);
  await page.waitForFunction(() => document.querySelectorAll("#queue tbody tr").length === 2);

  step("claim the case in the review list and close it");
  assert.equal(await page.$$eval("#review tbody tr", (t) => t.length), 1);
  await page.click("#review tbody tr button.review-claim");
  await page.waitForSelector("#claimed:not([hidden])");
  assert.equal(await page.textContent("#claimed-level"), "2");
  assert.match(await page.textContent("#claimed-review"), /Nåddes inte/);
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
  assert.match(await page.textContent("#greeting option[value=msg_high_load]"), /^Just nu är det många som ringer/,
    "the message by its words, not its id");
  assert.equal(await page.$$eval("#levels tbody tr", (t) => t.length), 5);
  assert.equal(await page.textContent("#s-review"), "0", "the review list is empty again");

  step("supervisor sees the locked nurse and lifts the lock");
  await page.waitForSelector("#lockouts .lockout-row");
  assert.match(await page.textContent("#lockouts"), /lena/);
  assert.match(await page.textContent("#lockouts"), /inloggning på webben/);
  await checkLanguage(page, "sv");
  await checkAxe(page, "supervisor sv");
  await page.click("#lockouts .lockout-row button");
  await page.waitForFunction(() => !/lena/.test(document.getElementById("lockouts").textContent));

  step("supervisor closes the callback offer and sets the high-load message");
  await page.uncheck("#offer-open");
  await page.fill("#capacity", "150");
  await page.selectOption("#greeting", "msg_high_load");
  await page.fill("#closure-from", "2030-01-01T08:00");
  await page.fill("#closure-to", "2030-01-01T09:00");
  await page.fill("#closure-reason", "Personalmöte");
  await page.click("#add-closure");
  await page.click("#save-settings");
  await page.waitForSelector("#settings-status[data-i18n='sup.saved']");
  await page.waitForFunction(() => document.getElementById("s-offer").dataset.offer === "closed_by_supervisor");
  assert.equal(await page.textContent("#s-offer"), "stängt");
  const closure = await page.textContent("#closures li.closure");
  assert.match(closure, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/, "Swedish date and time: " + closure);
  assert.match(closure, /^2030-01-01 08:00 – 2030-01-01 09:00: Personalmöte/);
  await noAmPm();
  assert.match(await page.textContent("#s-oldest"), /^(\d+ (s|min)|\d+ tim \d{2} min)$/, "a Swedish duration");
  await checkLanguage(page, "sv");
  await page.screenshot({ path: shots + "/supervisor.png", fullPage: true });

  step("switching to English (by keyboard) works at once and sticks after a reload");
  assert.equal(await page.getAttribute("#lang-switch", "lang"), "en");
  await tabTo(page, "#lang-switch", { back: true });
  await page.keyboard.press("Enter");
  await checkLanguage(page, "en");
  assert.equal(await page.textContent("h1"), "Supervisor");
  assert.equal(await page.textContent("#s-offer"), "closed");
  assert.match(await page.textContent("#greeting option[value=msg_high_load]"), /^Right now many people are calling/);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("s-waiting").textContent !== "-");
  await page.waitForSelector("#closures li.closure");
  await checkLanguage(page, "en");
  assert.equal(await page.textContent("#lang-switch"), "Svenska");
  assert.equal(await page.$eval("#greeting", (s) => s.value), "msg_high_load");
  assert.match(await page.textContent("#greeting option[value=msg_high_load]"), /^Right now many people are calling/);
  assert.match(await page.textContent("#closures li.closure"), /^01\/01\/2030, 08:00 – 01\/01\/2030, 09:00/);
  await noAmPm();
  await checkAxe(page, "supervisor en");
  await page.screenshot({ path: shots + "/supervisor-en.png", fullPage: true });

  step("the nurse page and the sign-in page in English");
  await page.goto(base + "/nurse");
  await page.waitForSelector("#queue tbody tr");
  await checkLanguage(page, "en");
  assert.equal(await page.textContent("h1"), "Worklist");
  assert.match(await page.textContent("#queue tbody tr"), /Phone|1177 direkt/);
  await checkAxe(page, "nurse en");
  await page.click("#logout");
  await page.waitForURL(/\/login/);
  await checkLanguage(page, "en");
  assert.equal(await page.textContent("h1"), "1177 phone entrance");
  await checkAxe(page, "login en");
  console.log("DONE");
} catch (e) {
  await page.screenshot({ path: shots + "/failure.png", fullPage: true }).catch(() => {});
  console.log("FAIL " + (e && e.stack ? e.stack : e));
  process.exitCode = 1;
} finally {
  await context.close();
  process.exit(process.exitCode || 0);
}
