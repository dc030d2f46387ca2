// axe-core over every page of a report, in headless Chromium: WCAG 2.1 A and
// AA rules (contrast, names and labels, structure, language, tables, SVG
// roles), run on the page as rendered. Prints each violation with the page,
// the rule, its help and the offending elements; exits 1 when there is any.
//
//   node tests/a11y/axe.mjs <report folder> [chromium]
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const dir = resolve(process.argv[2] ?? "");
const executablePath = process.argv[3] ?? process.env.EQPIPE_CHROMIUM ?? "/usr/bin/chromium";
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const pages = readdirSync(dir).filter((f) => f.endsWith(".html")).sort();
if (pages.length === 0) {
  console.error(`${dir}: no pages`);
  process.exit(1);
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
let violations = 0;
let checked = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  for (const file of pages) {
    await page.goto(pathToFileURL(join(dir, file)).href);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        resultTypes: ["violations"],
      }),
    );
    checked += 1;
    for (const v of result.violations) {
      violations += 1;
      console.log(`${file}: ${v.id} (${v.impact}): ${v.help}`);
      for (const n of v.nodes.slice(0, 5)) {
        console.log(`    ${n.target.join(" ")}: ${n.failureSummary.replace(/\n/g, " ")}`);
      }
    }
  }
} finally {
  await browser.close();
}
console.log(`axe-core ${JSON.parse(readFileSync(require.resolve("axe-core/package.json"))).version}: ${checked} pages, ${violations} violations`);
process.exit(violations === 0 ? 0 : 1);
