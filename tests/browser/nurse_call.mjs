// A nurse calls a resident from the browser (WebRTC), driven by
// tests/browser_call.rs. Chromium's fake microphone plays PE_MIC_WAV (a
// 1000 Hz tone); the page must hear the resident's PE_RESIDENT_HZ tone.
// Env: PE_BASE_URL, PE_ARTIFACTS, PE_PROFILE, PE_NURSE ("user:password").
import { chromium } from "playwright-core";
import { strict as assert } from "node:assert";

const base = process.env.PE_BASE_URL;
const [user, pw] = process.env.PE_NURSE.split(":");
const residentHz = Number(process.env.PE_RESIDENT_HZ);
const step = (s) => console.log("STEP " + s);

const context = await chromium.launchPersistentContext(process.env.PE_PROFILE, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--use-file-for-fake-audio-capture=" + process.env.PE_MIC_WAV,
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns"],
});
const page = context.pages()[0] || (await context.newPage());
page.on("pageerror", (e) => { console.log("PAGE ERROR " + e.message); process.exitCode = 1; });

try {
  step("nurse signs in and takes the case");
  await page.goto(base + "/login");
  await page.fill("#username", user);
  await page.fill("#password", pw);
  await page.click("#login-button");
  await page.waitForURL(base + "/nurse");
  await page.waitForSelector("#queue tbody tr");
  await page.click("#take-next");
  await page.waitForSelector("#call:not([hidden])");

  step("calls from the browser");
  await page.selectOption("#call-leg", "browser");
  await page.click("#call-start");
  await page.waitForSelector("#call-state[data-state=connected]", { timeout: 30000 });
  await page.screenshot({ path: process.env.PE_ARTIFACTS + "/nurse-call-connected.png" });

  step("the page hears the resident's tone");
  // Goertzel-style check on what the <audio> element plays: the resident's
  // frequency must stand well above its neighbours.
  const ratio = await page.evaluate(async (hz) => {
    const el = document.getElementById("call-audio");
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(el.srcObject);
    const an = ctx.createAnalyser();
    an.fftSize = 4096;
    src.connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    const bin = (f) => Math.round(f / (ctx.sampleRate / an.fftSize));
    let best = -Infinity;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatFrequencyData(bins);
      const at = bins[bin(hz)];
      const off = Math.max(bins[bin(hz * 0.6)], bins[bin(hz * 1.5)]);
      best = Math.max(best, at - off);
    }
    return best;
  }, residentHz);
  console.log("PAGE_TONE_DB " + ratio.toFixed(1));
  assert.ok(ratio > 20, `the resident's ${residentHz} Hz stands ${ratio} dB above its neighbours`);

  step("mute, then hang up");
  await page.click("#call-mute");
  await page.click("#call-mute");
  await page.click("#call-hangup");
  await page.waitForSelector("#call-state[data-state=ended]", { timeout: 15000 });
  console.log("DONE");
} catch (e) {
  console.log("FAILED " + (e && e.stack || e));
  await page.screenshot({ path: process.env.PE_ARTIFACTS + "/nurse-call-failed.png" }).catch(() => {});
  process.exitCode = 1;
} finally {
  await context.close();
}
