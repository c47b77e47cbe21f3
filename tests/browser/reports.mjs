// Headless Chromium: a supervisor opens the follow-up reports page over a
// seeded month, the three charts are drawn with data (Chart.js from our own
// server, under the page's CSP), a screenshot is taken, and both exports
// are downloaded into PE_DOWNLOADS for the Rust side to parse. Driven by
// tests/browser_reports.rs. Env: PE_BASE_URL, PE_ARTIFACTS, PE_DOWNLOADS, PE_PROFILE,
// PE_SUPERVISOR ("user:password"), PE_QUERY (the page's query string).
import { chromium } from "playwright-core";
import { strict as assert } from "node:assert";
import { copyFile } from "node:fs/promises";

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

  step("three charts drawn with data");
  const charts = await page.evaluate(() => ["chart-waits", "chart-arrivals", "chart-target"].map((id) => {
    const chart = Chart.getChart(id);
    if (!chart) return { id, ok: false };
    const values = chart.data.datasets.flatMap((d) => d.data).filter((v) => v !== null && v > 0);
    const canvas = document.getElementById(id);
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) inked++;
    return { id, ok: true, datasets: chart.data.datasets.length, values: values.length, inked, width: canvas.width };
  }));
  console.log("CHARTS " + JSON.stringify(charts));
  for (const c of charts) {
    assert.ok(c.ok, c.id + " has a Chart instance");
    assert.ok(c.datasets > 0 && c.values > 0, c.id + " has data");
    assert.ok(c.inked > 1000 && c.width > 100, c.id + " is drawn");
  }
  await page.screenshot({ path: shots + "/reports.png", fullPage: true });

  step("exports download");
  for (const [link, file] of [["#export-csv", "report.csv"], ["#export-json", "report.json"]]) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
    await copyFile(await download.path(), process.env.PE_DOWNLOADS + "/" + file);
    console.log("SAVED " + file);
  }
  console.log("DONE");
} finally {
  await context.close();
}
