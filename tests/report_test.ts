/**
 * `crossval report` end to end on real receipts (tests/_report_receipts.ts): a passing parity run, a run with an
 * injected fault (failing, localized to the injected layer), a run whose reference could not load the model (not
 * run), and a benchmark with a baseline from an earlier run. The page is parsed and checked for the verdicts, the
 * marked divergences, the escaping of a hostile prompt and token piece, and the verification problems at the top.
 * Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { parseDocument } from "./_html.ts";
import { crossval } from "../cli/_testing.ts";
import { FAULT, HOSTILE_PROMPT, makeReportReceipts, writeReportReceipts } from "./_report_receipts.ts";
import { receiptPieces, renderReport } from "../report/mod.ts";
import { compareToBaseline } from "../receipts/baseline_compare.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";

const dir = await Deno.makeTempDir({ prefix: "crossval-report-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const r = await makeReportReceipts(dir);
const files = await writeReportReceipts(r, dir);
const out = `${dir}/out/report.html`;
const cli = await crossval(["report", ...files.receipts, files.baseline, "--out", out, "--json"]);
const html = await Deno.readTextFile(out).catch(() => "");
const document = parseDocument(html);

const section = (source: string) => document.querySelector(`section[id="${anchorOf(source)}"]`)!;
function anchorOf(source: string): string {
  const a = document.querySelector(`tr[data-source="${source}"] a`)!.getAttribute("href")!;
  return a.slice(1);
}
const [failFile, passFile, notRunFile, benchFile] = files.receipts as [string, string, string, string];
const clone = (x: unknown): ParityReceipt => JSON.parse(JSON.stringify(x));

Deno.test("report: the CLI writes the page, lists every receipt and says which verified", () => {
  assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  const j = JSON.parse(cli.stdout);
  assert.equal(j.report, out);
  assert.deepEqual(
    j.receipts.map((x: { source: string; verified: boolean }) => [x.source, x.verified]),
    [[failFile, false], [passFile, true], [notRunFile, false], [benchFile, true]],
  );
  assert.ok(html.startsWith("<!doctype html>"));
  assert.equal(document.querySelectorAll("table.summary tbody tr").length, 4);
  assert.equal(document.querySelectorAll("script").length, 0);
  // Text shown with white-space: pre(-wrap) carries no whitespace of the page's own source.
  for (const e of document.querySelectorAll(".tok, .alert, .badge, .first-note, .tile-value")) {
    assert.equal(e.textContent, e.textContent!.trim(), `stray whitespace in ${JSON.stringify(e.textContent)}`);
  }
});

Deno.test("report: verdicts: pass green, the injected fault red, not run amber, nothing failed shown green", () => {
  assert.equal(r.pass.status, "pass");
  assert.equal(r.fail.status, "fail");
  assert.equal(r.notRun.status, "not_run");
  const tone = (f: string) => document.querySelector(`tr[data-source="${f}"]`)!.getAttribute("data-tone");
  assert.equal(tone(passFile), "pass");
  assert.equal(tone(failFile), "fail");
  assert.equal(tone(notRunFile), "warn");
  assert.equal(document.body.getAttribute("data-overall"), "fail");
  const head = (f: string) => section(f).querySelector(".receipt-head .badge")!;
  assert.equal(head(passFile).getAttribute("data-tone"), "pass");
  assert.equal(head(failFile).textContent, "FAIL");
  assert.equal(head(notRunFile).textContent, "NOT RUN");
  // Neither the failing nor the not-run receipt has anything green (its checks that passed are unverified).
  assert.equal(section(failFile).querySelectorAll(".badge.pass, .tile.pass").length, 0);
  assert.equal(section(notRunFile).querySelectorAll(".badge.pass, .tile.pass").length, 0);
  for (const c of section(failFile).querySelectorAll(".check")) {
    const st = c.getAttribute("data-status");
    assert.equal(c.querySelector(".badge")!.getAttribute("data-tone"), st === "fail" ? "fail" : "warn", `${st}`);
  }
});

Deno.test("report: problems of unverified receipts are listed at the top, each with its code", () => {
  const top = document.querySelector("#problems")!;
  assert.ok(top, "a problems box");
  const text = top.textContent!;
  for (const [f, receipt] of [[failFile, r.fail], [notRunFile, r.notRun]] as const) {
    assert.ok(text.includes(f), f);
    for (const p of verifyReceipt(JSON.parse(JSON.stringify(receipt)))) assert.ok(text.includes(`[${p.code}]`), p.code);
  }
  assert.ok(!text.includes(passFile), "the passing receipt verified");
});

Deno.test("report: the injected fault is localized: the first diverging cell outlined in the injected layer", () => {
  const first = r.fail.checks.localization.first_exceedance!;
  assert.equal(first.layer, FAULT.layer, `localized to ${first.name}`);
  const s = section(failFile);
  const cells = s.querySelectorAll("g.cell.first");
  assert.equal(cells.length, 1);
  assert.equal(cells[0]!.getAttribute("data-name"), first.name);
  assert.equal(s.querySelectorAll("rect.first-outline").length, 1);
  assert.ok(s.querySelector(".first-line")!.textContent!.includes(first.name));
  assert.equal(section(passFile).querySelectorAll("g.cell.first, rect.first-outline").length, 0);
  assert.equal(
    section(passFile).querySelectorAll("g.cell").length,
    r.pass.checks.localization.tensors.length,
    "one cell per compared tensor",
  );
});

Deno.test("report: greedy strips mark each prompt's first divergence at the receipt's step", () => {
  const s = section(failFile);
  const strips = [...s.querySelectorAll("article.prompt")];
  assert.equal(strips.length, r.fail.prompts.length);
  let marked = 0;
  for (const g of r.fail.checks.greedy.prompts) {
    const strip = s.querySelector(`article[data-prompt="${g.prompt}"] .strip`)!;
    const want = g.divergences.length ? String(Math.min(...g.divergences.map((d) => d.step))) : "";
    assert.equal(strip.getAttribute("data-first-divergence"), want, `prompt ${g.prompt}`);
    if (want) {
      marked++;
      assert.equal(strip.querySelectorAll(".step.first").length, 1);
    }
  }
  assert.ok(marked > 0, "the fault makes greedy decoding diverge");
  for (const strip of section(passFile).querySelectorAll(".strip")) {
    assert.equal(strip.getAttribute("data-first-divergence"), "");
  }
});

Deno.test("report: token pieces are decoded from the model (ids on hover), the hostile prompt is text", () => {
  const cells = [...section(passFile).querySelectorAll(".step:not(.legend) .tok.e")];
  assert.ok(cells.length > 0);
  assert.equal(section(passFile).querySelectorAll(".tok.e.id").length, 0, "every id has its piece");
  for (const c of cells) assert.match(c.getAttribute("title")!, /^id \d+ · ".*"$/s);
  const texts = [...document.querySelectorAll("pre.prompt-text")].map((p) => p.textContent);
  assert.ok(texts.includes(HOSTILE_PROMPT.text), "the prompt is shown verbatim");
  assert.equal(document.querySelectorAll("img, script").length, 0, "and did not become elements");
});

Deno.test("report: a token piece <script> from a receipt or a vocabulary appears as text", () => {
  const x = clone(r.fail);
  // The engine's token at the first divergence gets a hostile piece wherever the receipt records it.
  const hostile = x.checks.greedy.prompts.flatMap((g) => g.divergences)[0]!.engine_token;
  type Piece = { id?: number; engine_token?: number; engine_piece?: string; piece?: string };
  for (const d of [...x.checks.greedy.prompts.flatMap((g) => g.divergences), x.first_divergence!]) {
    if (d.engine_token === hostile) (d as Piece).engine_piece = "<script>alert(1)</script>";
    for (const t of [...d.engine_top5, ...d.reference_top5]) {
      if (t.id === hostile) (t as Piece).piece = "<script>alert(1)</script>";
    }
  }
  // And a token the (passing) receipt has no piece for gets one from the caller's vocabulary.
  const y = clone(r.pass);
  const own = receiptPieces(y);
  const id = y.checks.greedy.prompts.flatMap((g) => g.engine_ids).find((i) => !own.has(i))!;
  assert.ok(id !== undefined);
  const page = renderReport([{ source: "x.json", json: x }, {
    source: "y.json",
    json: y,
    pieces: new Map([[id, "<script>"]]),
  }], {
    generatedAt: "2026-01-01T00:00:00Z",
  });
  const doc = parseDocument(page);
  assert.equal(doc.querySelectorAll("script").length, 0);
  const shown = [...doc.querySelectorAll(".tok")].map((t) => t.textContent);
  assert.ok(shown.includes("<script>alert(1)</script>"), "the receipt's piece");
  assert.ok(shown.includes("<script>"), "the vocabulary's piece");
  assert.ok(!page.includes("<script>"), "never as markup");
});

Deno.test("report: an unknown status is amber and a tampered pass is not green", () => {
  const crashed = clone(r.pass);
  (crashed as { status: string }).status = "reference_crashed";
  const tampered = clone(r.pass);
  (tampered.metrics as { kld_mean: number }).kld_mean = 0.5;
  const doc = parseDocument(renderReport([
    { source: "crashed.json", json: crashed },
    { source: "tampered.json", json: tampered },
  ]));
  const badges = [...doc.querySelectorAll(".receipt-head .badge")];
  assert.deepEqual(badges.map((b) => [b.textContent, b.getAttribute("data-tone")]), [
    ["REFERENCE CRASHED", "warn"],
    ["PASS, UNVERIFIED", "warn"],
  ]);
  assert.equal(doc.querySelectorAll("tr .badge.pass").length, 0);
  assert.equal(doc.body.getAttribute("data-overall"), "fail");
});

Deno.test("report: the bench section has llama-bench's table, both engines' samples and the baseline verdicts", () => {
  const s = section(benchFile);
  const rows = [...s.querySelectorAll("table.bench tbody tr")];
  assert.deepEqual(rows.map((x) => x.getAttribute("data-test")), r.bench.results.map((x) => x.test));
  for (const res of r.bench.results) {
    const n = res.engine!.samples_ts.length + res.reference!.samples_ts.length;
    const fig = [...s.querySelectorAll("figure")].find((f) => f.textContent!.startsWith(`${res.test}:`))!;
    assert.equal(fig.querySelectorAll("circle.sample").length, n, `${res.test}: every repetition drawn`);
    assert.equal(fig.querySelectorAll("line.base-median").length, 2, "the baseline's medians");
  }
  assert.equal(s.querySelectorAll("circle.ratio-dot").length, r.bench.results.length);
  // The verdicts are those of compareToBaseline on the same receipts.
  const want = compareToBaseline(r.baseline, [r.bench]).verdicts.map((v) => [v.id, v.verdict]);
  const got = [...s.querySelectorAll("ul.verdicts li")].map((
    li,
  ) => [li.getAttribute("data-id"), li.getAttribute("data-verdict")]);
  assert.deepEqual(got, want);
  assert.equal(want.length, r.bench.results.length);
});
