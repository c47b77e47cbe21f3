// Accessibility and language checks shared by the browser scripts: axe-core
// (from node_modules, evaluated in the page over the DevTools protocol, so the
// pages' CSP stays strict and the server never serves it), a keyboard-only
// walk, and the i18n dictionary's missing ids.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { strict as assert } from "node:assert";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// Runs axe-core on the page as it is now; fails listing every violation.
// All rules axe runs by default (WCAG 2.x A/AA and best practices); none disabled.
export async function checkAxe(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return { passed: r.passes.length, violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
    })) };
  });
  console.log("AXE " + label + " rules passed=" + result.passed + " violations=" + result.violations.length);
  assert.ok(result.passed > 10, "axe-core ran its rules");
  assert.deepEqual(result.violations, [], "axe-core on " + label + ":\n" + JSON.stringify(result.violations, null, 2));
}

// Presses Tab (Shift+Tab with `back`) until `selector` has the focus (at most
// `max` presses) and checks that the focused control shows a focus ring.
export async function tabTo(page, selector, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const hit = await page.evaluate((sel) => document.activeElement && document.activeElement.matches(sel), selector);
    if (hit) {
      const ring = await page.evaluate(() => {
        const s = getComputedStyle(document.activeElement);
        return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
      });
      assert.ok(ring, "a visible focus ring on " + selector);
      return;
    }
  }
  throw new Error("Tab never reached " + selector);
}

// The page's language and no message id missing from its dictionary.
export async function checkLanguage(page, lang) {
  assert.equal(await page.getAttribute("html", "lang"), lang, "<html lang>");
  const missing = await page.evaluate(() => [...I18N.missing]);
  assert.deepEqual(missing, [], "message ids missing from i18n.js");
}
