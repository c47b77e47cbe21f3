// Headless Chromium: a supervisor opens the follow-up reports page over a
// seeded month. It is in Swedish first (headings, chart legends and axes,
// Swedish dates and numbers), then English after the switch; axe-core finds
// nothing in either; the three charts are drawn with data (Chart.js from our
// own server, under the page's CSP) in both; the survey section shows the
// seeded answers; a screenshot is taken, and both exports are downloaded
// into PE_DOWNLOADS for the Rust side to parse. Driven by
// tests/browser_reports.rs. Env: PE_BASE_URL, PE_ARTIFACTS, PE_DOWNLOADS, PE_PROFILE,
// PE_SUPERVISOR ("user:password"), PE_QUERY (the page's query string),
// PE_SURVEY (the survey rows expected, JSON).
import { chromium } from "playwright-core";
import { strict as assert } from "node:assert";
import { copyFile } from "node:fs/promises";
import { checkAxe, checkLanguage } from "./a11y.mjs";

const base = process.env.PE_BASE_URL;
const shots = process.env.PE_ARTIFACTS;
const step = (s) => console.log("STEP " + s);

const context = await chromium.launchPersistentContext(process.env.PE_PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
context.on("request", (r) => {
  if (!r.url().startsWith(base) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) {
    throw new Error("request outside the service: " + r.url());
  }
});
const page = context.pages()[0] || (await context.newPage());
page.on("pageerror", (e) => { console.log("PAGE ERROR " + e.message); process.exitCode = 1; });
page.on("console", (m) => {
  if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
    console.log("CSP " + m.text());
    process.exitCode = 1;
  }
});

try {
  step("supervisor signs in");
  const [user, pw] = process.env.PE_SUPERVISOR.split(":");
  await page.goto(base + "/login");
  await page.fill("#username", user);
  await page.fill("#password", pw);
  await page.click("#login-button");
  await page.waitForURL(base + "/supervisor");

  step("reports page over the seeded month");
  await page.goto(base + "/supervisor/reports?" + process.env.PE_QUERY);
  await page.waitForSelector("body[data-loaded='1']");
  assert.ok((await page.$$("#figures tbody tr")).length > 10, "figures table rows");
  assert.ok((await page.$$("#abandoned tbody tr")).length > 0, "abandonment rows");

  step("Swedish by default");
  await checkLanguage(page, "sv");
  assert.equal(await page.textContent("h1"), "Uppföljning");
  assert.equal(await page.textContent("#waits-heading"), "Väntetid per nivå över dygnet");
  assert.equal(await page.textContent("#arrivals-heading"), "Inkommande per timme och sjuksköterskor i tjänst");
  assert.equal(await page.textContent("#target-heading"), "Andel inom målet per vecka");
  assert.equal(await page.textContent("#survey-heading"), "Enkät");
  assert.equal(await page.title(), "1177 uppföljning");
  await checkCharts("sv", { level1: "Nivå 1: Omgående", minutes: "minuter", all: "Alla nivåer", week: /^\d{4}-\d{2}-\d{2}$/ });
  await checkFigures(/^\d{4}-\d{2}-\d{2}$/, /^\d+\u00a0% \(\d+\/\d+\)$/);
  await checkSurvey("sv", "{n} besvarade enkäter");
  await checkAxe(page, "reports sv");
  await page.screenshot({ path: shots + "/reports.png", fullPage: true });
  await page.locator("#survey").screenshot({ path: shots + "/reports-survey.png" });

  step("English after the switch");
  await page.click("#lang-switch");
  await checkLanguage(page, "en");
  assert.equal(await page.textContent("h1"), "Follow-up");
  assert.equal(await page.textContent("#waits-heading"), "Waits per level over the day");
  assert.equal(await page.textContent("#survey-heading"), "Survey");
  await checkCharts("en", { level1: "Level 1: Immediate", minutes: "minutes", all: "All levels", week: /^\d{2}\/\d{2}\/\d{4}$/ });
  await checkFigures(/^\d{2}\/\d{2}\/\d{4}$/, /^\d+% \(\d+\/\d+\)$/);
  await checkSurvey("en", "{n} surveys answered");
  await checkAxe(page, "reports en");

  step("exports download");
  for (const [link, file] of [["#export-csv", "report.csv"], ["#export-json", "report.json"]]) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
    await copyFile(await download.path(), process.env.PE_DOWNLOADS + "/" + file);
    console.log("SAVED " + file);
  }
  console.log("DONE");
} catch (e) {
  await page.screenshot({ path: shots + "/reports-failed.png", fullPage: true }).catch(() => {});
  throw e;
} finally {
  await context.close();
}

// The three charts have data and ink, with legends and axis titles in `lang`.
async function checkCharts(lang, want) {
  const charts = await page.evaluate(() => ["chart-waits", "chart-arrivals", "chart-target"].map((id) => {
    const chart = Chart.getChart(id);
    if (!chart) return { id, ok: false };
    const values = chart.data.datasets.flatMap((d) => d.data).filter((v) => v !== null && v > 0);
    const canvas = document.getElementById(id);
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) inked++;
    return { id, ok: true, datasets: chart.data.datasets.length, values: values.length, inked, width: canvas.width,
      labels: chart.data.datasets.map((d) => d.label), x: chart.data.labels,
      y: chart.options.scales.y.title.text, locale: chart.options.locale };
  }));
  console.log("CHARTS " + lang + " " + JSON.stringify(charts.map(({ x, ...c }) => c)));
  for (const c of charts) {
    assert.ok(c.ok, c.id + " has a Chart instance");
    assert.ok(c.datasets > 0 && c.values > 0, c.id + " has data");
    assert.ok(c.inked > 1000 && c.width > 100, c.id + " is drawn");
    assert.equal(c.locale, lang === "sv" ? "sv-SE" : "en-GB", c.id + " number format");
  }
  const [waits, , target] = charts;
  assert.equal(waits.labels[0], want.level1, "level legend");
  assert.equal(waits.y, want.minutes, "wait axis title");
  assert.equal(target.labels.at(-1), want.all, "all-levels legend");
  assert.ok(target.x.length > 0 && target.x.every((w) => want.week.test(w)), "week labels " + target.x);
}

// Dates and shares in the figures table in the page's language.
async function checkFigures(date, share) {
  const cells = await page.$$eval("#figures tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.ok(cells.length > 10, "figures table rows");
  for (const row of cells) assert.match(row[0], date, "period date");
  const shares = cells.map((r) => r[9]).filter((v) => !v.startsWith("-"));
  assert.ok(shares.length > 0 && shares.every((v) => share.test(v)), "within-target shares " + shares.slice(0, 3));
}

// The survey table equals what the test seeded (PE_SURVEY), mean in the language's format.
async function checkSurvey(lang, total) {
  const want = JSON.parse(process.env.PE_SURVEY);
  assert.equal(await page.textContent("#survey-total"), total.replace("{n}", want.responses));
  const shown = await page.$$eval("#survey-table tbody tr", (rows) => rows.map((r) => ({
    group: r.dataset.group, question: r.dataset.question,
    text: r.querySelector("td").textContent,
    answered: r.querySelector(".answered").textContent,
    mean: r.querySelector(".mean").textContent,
    distribution: r.querySelector(".distribution").textContent,
  })));
  console.log("SURVEY " + lang + " " + JSON.stringify(shown.slice(0, 2)));
  const key = (r) => r.group + "/" + r.question;
  assert.deepEqual(shown.map(key).sort(), want.rows.map(key).sort(), "survey groups and questions");
  for (const w of want.rows) {
    const s = shown.find((r) => key(r) === key(w));
    assert.equal(s.answered, w.answered, key(w) + " answers");
    assert.equal(s.mean, lang === "sv" ? w.mean_sv : w.mean_en, key(w) + " mean");
    assert.equal(s.distribution, w.distribution, key(w) + " distribution");
    assert.notEqual(s.text, w.question, key(w) + " question shown in words");
  }
  const helped = shown.find((r) => r.question === "helped").text;
  assert.ok(lang === "sv" ? helped.startsWith("Hur väl") : helped.startsWith("How well"), helped);
}
