/**
 * Regenerate `docs/report-screenshot.png`: the report of real receipts (tests/_report_receipts.ts: passing, an
 * injected fault, a reference that could not run, a benchmark with a baseline) rendered by `crossval report` and
 * photographed by headless Chromium (tests/_chromium.ts). The page must load without a console error and draw every
 * chart, else nothing is written. Run from the repository root:
 *
 * ```sh
 * deno run -A tests/report_screenshot.ts [--out docs/report-screenshot.png] [--height 2140]
 * ```
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadPage } from "./_chromium.ts";
import { makeReportReceipts, writeReportReceipts } from "./_report_receipts.ts";
import { writeReport } from "../cli/report.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "docs/report-screenshot.png" },
    height: { type: "string", default: "2140" },
  },
});
const out = resolve(values.out!);
// Work in a scratch directory laid out as a user's (models/, ci/), so the page shows short relative paths.
const cwd = Deno.cwd();
const dir = await Deno.makeTempDir({ prefix: "crossval-report-screenshot-" });
try {
  Deno.chdir(dir);
  await Deno.mkdir("models");
  const files = await writeReportReceipts(await makeReportReceipts("models"), "ci");
  const page = `${dir}/ci/report.html`;
  await writeReport([...files.receipts, files.baseline], { out: page });
  const run = await loadPage(page, { width: 1280, clipHeight: Number(values.height) });
  const empty = run.svgs.filter((s) => !(s.width > 0 && s.height > 0 && s.shapes > 0));
  if (run.errors.length || empty.length || !run.png) {
    throw new Error(`The report did not render cleanly: ${JSON.stringify({ errors: run.errors, empty })}`);
  }
  await Deno.writeFile(out, run.png);
  console.log(`wrote ${values.out} (${run.png.length} bytes; ${run.svgs.length} charts, page ${run.pageHeight} px)`);
} finally {
  Deno.chdir(cwd);
  await Deno.remove(dir, { recursive: true });
}
