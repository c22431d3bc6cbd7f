/**
 * The report in a real browser: headless Chromium (Debian's package, installed with apt-get when missing, see
 * tests/_chromium.ts) loads the page written by `crossval report` from real receipts, and every chart must be drawn
 * (non-zero size, shapes inside), with no console error, no exception and no Content-Security-Policy violation.
 * The control: the same page with an inline script added must be reported as a violation, and the script must not
 * run. Needs the llama.cpp library (for the receipts) and Chromium.
 */
import assert from "node:assert/strict";
import { loadPage } from "./_chromium.ts";
import { parseDocument } from "./_html.ts";
import { makeReportReceipts, writeReportReceipts } from "./_report_receipts.ts";
import { writeReport } from "../cli/report.ts";

const dir = await Deno.makeTempDir({ prefix: "crossval-report-browser-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const files = await writeReportReceipts(await makeReportReceipts(dir), dir);
const page = `${dir}/report.html`;
await writeReport([...files.receipts, files.baseline], { out: page });
const html = await Deno.readTextFile(page);

Deno.test("the report renders in headless Chromium: every SVG drawn, no console error, no script", async () => {
  const run = await loadPage(page);
  assert.deepEqual(run.errors, [], run.errors.join("\n"));
  assert.equal(run.scripts, 0);
  assert.match(run.title, /^crossval report · FAIL$/);
  const expected = parseDocument(html).querySelectorAll("svg").length;
  assert.ok(expected >= 10, `${expected} charts in the page`);
  assert.equal(run.svgs.length, expected);
  for (const s of run.svgs) {
    assert.ok(s.width > 0 && s.height > 0 && s.shapes > 0, `an empty chart: ${JSON.stringify(s)}`);
  }
});

Deno.test("the browser check sees a Content-Security-Policy violation: an injected script is blocked", async () => {
  const bad = `${dir}/injected.html`;
  await Deno.writeTextFile(bad, html.replace("</body>", `<script>document.title = "ran"</script></body>`));
  const run = await loadPage(bad);
  assert.equal(run.scripts, 1);
  assert.notEqual(run.title, "ran", "the script did not run");
  assert.ok(run.errors.some((e) => /Content Security Policy/i.test(e)), run.errors.join("\n"));
});
