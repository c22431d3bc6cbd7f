import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseDocument } from "./_testing.ts";
import { renderReport } from "./page.ts";
import { REPORT_CSS } from "./style.ts";

const at = { generatedAt: "2026-01-01T00:00:00Z" };
const page = (html: string) => parseDocument(html);

Deno.test("renderReport(): the CSP allows only the page's own style sheet, by its hash, and no script", () => {
  const d = page(renderReport([], at));
  const csp = d.querySelector('meta[http-equiv="Content-Security-Policy"]')!.getAttribute("content")!;
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /script-src|unsafe/);
  const style = d.querySelector("style")!.textContent!;
  assert.equal(style, REPORT_CSS);
  assert.ok(csp.includes(`'sha256-${createHash("sha256").update(style).digest("base64")}'`));
  assert.equal(d.querySelectorAll("script, [style]").length, 0);
  assert.equal(d.body.getAttribute("data-overall"), "warn", "no receipts is not a pass");
});

Deno.test("renderReport(): unreadable files, unknown kinds and malformed receipts are shown in red, never skipped", () => {
  const d = page(renderReport([
    { source: "broken.json", error: "not JSON (Unexpected token)" },
    { source: "x.json", json: { kind: "weird" } },
    { source: "<b>p.json</b>", json: { kind: "parity", status: "pass" } },
  ], at));
  assert.equal(d.body.getAttribute("data-overall"), "fail");
  assert.equal(d.querySelectorAll("table.summary tbody tr").length, 3);
  const problems = d.querySelector("#problems")!.textContent!;
  assert.match(problems, /broken\.json: not JSON/);
  assert.match(problems, /unknown receipt kind "weird"/);
  assert.match(problems, /<b>p\.json<\/b>/, "a file name is text");
  assert.equal(d.querySelectorAll("b b").length, 0);
  const malformed = d.querySelector('section[data-kind="parity"]')!;
  assert.match(malformed.textContent!, /CANNOT RENDER/);
  assert.equal(d.querySelectorAll("section.receipt .badge.pass").length, 0, "nothing here passed");
});
