/**
 * {@link renderReport}: parity and bench receipts in, one self-contained HTML page out. The page has no script and
 * loads nothing: its Content-Security-Policy forbids every source except its one inline style sheet (allowed by
 * hash) and `data:` images, so even a string that escaped escaping could not run. Each receipt is verified with
 * `verifyReceipt` and every problem is listed at the top in red; a receipt that cannot be rendered at all is shown
 * as such, never skipped.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import type { BenchReceipt } from "../receipts/bench_receipt.ts";
import type { Baseline } from "../receipts/baseline.ts";
import { type BaselineComparison, type CompareOptions, compareToBaseline } from "../receipts/baseline_compare.ts";
import type { ReceiptProblem } from "../receipts/problem.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { type Html, html, join, rawTrustedCss } from "./html.ts";
import { basename, num, pct } from "./format.ts";
import { badge, type StatusView, statusView, verdictView } from "./status.ts";
import { paritySection } from "./parity_section.ts";
import { benchSection } from "./bench_section.ts";
import { REPORT_CSS } from "./style.ts";

/** One receipt file given to the report. */
export interface ReportInput {
  /** Where it came from (shown; a path). */
  readonly source: string;
  /** Its parsed JSON; undefined when it could not be read or parsed (then `error` says why). */
  readonly json?: unknown;
  /** Why it could not be read, if it could not. */
  readonly error?: string;
  /** Token pieces decoded from the receipt's model vocabulary by the caller (parity receipts), if available. */
  readonly pieces?: ReadonlyMap<number, string>;
}

/** Options of {@link renderReport}. */
export interface RenderReportOptions {
  /** The baseline to compare bench receipts with (`docs/baselines/latest-cpu.json`), if any. */
  readonly baseline?: ReportInput | null;
  /** Time shown as the page's generation time (RFC 3339). Default: now. */
  readonly generatedAt?: string;
  /** Options of the baseline comparison (threshold, confidence). */
  readonly compare?: CompareOptions;
}

interface Entry {
  readonly input: ReportInput;
  readonly kind: string;
  readonly problems: readonly ReceiptProblem[];
  readonly anchor: string;
}

function kindOf(json: unknown): string {
  const k = (json as { kind?: unknown } | null)?.kind;
  return typeof k === "string" ? k : "unknown";
}

/** The verdict of one entry for the summary and the page's overall verdict. */
function entryView(e: Entry, comparison: BaselineComparison | null): StatusView {
  if (e.input.error !== undefined) return { tone: "fail", label: "UNREADABLE" };
  const verified = e.problems.length === 0;
  if (e.kind === "parity") return statusView((e.input.json as { status?: unknown }).status, verified);
  if (e.kind === "bench") {
    if (!verified) return { tone: "fail", label: "INVALID" };
    const name = (e.input.json as BenchReceipt).name;
    const regressed = comparison?.verdicts.some((v) => v.id.startsWith(`${name}/`) && v.verdict === "regression");
    return regressed ? verdictView("regression") : { tone: "pass", label: "MEASURED" };
  }
  return { tone: "warn", label: verified ? e.kind.toUpperCase() : "UNKNOWN KIND" };
}

/** A verification problem: its first line, and the rest (a native error's log) folded. */
function problemItem(p: ReceiptProblem): Html {
  const [head, ...rest] = p.message.split("\n");
  const more = rest.length
    ? html`
      <details>
        <summary>details</summary>
        <pre class="msg">${rest.join("\n")}</pre>
      </details>
    `
    : "";
  return html`<li><code>${p.path || "/"}</code> [${p.code}] ${head}${more}</li>`;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function headline(e: Entry): string {
  if (e.input.error !== undefined) return clip(e.input.error, 140);
  const j = e.input.json as Record<string, unknown>;
  try {
    if (e.kind === "parity") {
      const r = j as unknown as ParityReceipt;
      const s = r.checks.logits.summary;
      const first = r.checks.localization.first_exceedance;
      if (!s) return clip(r.reasons[0]?.message.split("\n")[0] ?? String(r.status), 140);
      return `min cos ${num(s.cosine_min, 6)}, KLD mean ${num(s.kld.mean, 2)}, top-1 ${
        pct(s.same_top.p)
      }, greedy ${r.metrics.greedy_steps_compared} steps${first ? `; first divergence ${first.name}` : ""}`;
    }
    if (e.kind === "bench") {
      const r = j as unknown as BenchReceipt;
      return r.results.map((x) => `${x.test} ${x.ratio ? `${num(x.ratio.median, 3)}×` : "–"}`).join(", ") +
        " engine/llama.cpp";
    }
  } catch {
    // a malformed receipt: its problems are listed; the summary says only that
  }
  return e.problems.length ? "see the problems above" : "";
}

function nameOf(e: Entry): string {
  const j = e.input.json as Record<string, unknown> | undefined;
  const model = j?.model as { lock_name?: unknown; path?: unknown } | undefined;
  if (e.kind === "bench" && typeof j?.name === "string") return j.name;
  if (typeof model?.lock_name === "string") return model.lock_name;
  if (typeof model?.path === "string") return basename(model.path);
  return basename(e.input.source);
}

function section(e: Entry, baseline: Baseline | null, comparison: BaselineComparison | null): Html {
  const j = e.input.json;
  try {
    if (e.kind === "parity") {
      return paritySection({
        source: e.input.source,
        anchor: e.anchor,
        receipt: j as ParityReceipt,
        problems: e.problems,
        pieces: e.input.pieces,
      });
    }
    if (e.kind === "bench") {
      return benchSection({
        source: e.input.source,
        anchor: e.anchor,
        receipt: j as BenchReceipt,
        problems: e.problems,
        baseline,
        comparison,
      });
    }
  } catch (err) {
    return html`
      <section class="receipt" id="${e.anchor}" data-kind="${e.kind}">
        <header class="receipt-head"><h2>${e.input.source}</h2>${badge({ tone: "fail", label: "CANNOT RENDER" }, {
          big: true,
        })}</header>
        <p
          class="alert">This receipt cannot be rendered: ${(err as Error).message}. It does not have the shape of a ${e
            .kind} receipt; see its problems at the top.</p>
      </section>
    `;
  }
  const why = e.input.error ?? `a receipt of kind "${e.kind}" has no section in this report`;
  return html`
    <section class="receipt" id="${e.anchor}" data-kind="${e.kind}">
      <header class="receipt-head"><h2>${e.input.source}</h2>${badge(entryView(e, comparison), { big: true })}</header>
      <p class="alert">${why}</p>
    </section>
  `;
}

/**
 * Render the report.
 *
 * @param inputs Receipt files (parity and bench; others are listed as unknown).
 * @param opts Baseline, generation time, comparison options.
 * @returns The page (`<!doctype html>...`).
 * @example
 * ```ts
 * import { renderReport } from "./page.ts";
 * const page = renderReport([{ source: "x.json", json: { kind: "parity", status: "pass" } }], {
 *   generatedAt: "2026-01-01T00:00:00Z",
 * });
 * console.log(page.includes("CANNOT RENDER")); // true: not a real receipt, and shown as such
 * ```
 */
export function renderReport(inputs: readonly ReportInput[], opts: RenderReportOptions = {}): string {
  const order = (k: string) => (k === "parity" ? 0 : k === "bench" ? 1 : 2);
  const entries: Entry[] = inputs.map((input, i) => {
    const kind = input.error !== undefined ? "unreadable" : kindOf(input.json);
    const problems = input.error !== undefined ? [] : verifyReceipt(input.json);
    return { input, kind, problems, anchor: `r${i}` };
  }).sort((a, b) => order(a.kind) - order(b.kind));

  // The baseline: used only when it verifies, and compared only with bench receipts that verify (as validate does).
  const b = opts.baseline ?? null;
  const baselineProblems = b && b.error === undefined ? verifyReceipt(b.json) : [];
  const baseline = b && b.error === undefined && baselineProblems.length === 0 ? b.json as Baseline : null;
  let comparison: BaselineComparison | null = null;
  let compareError: string | null = null;
  const benches = entries.filter((e) => e.kind === "bench" && e.problems.length === 0);
  if (baseline && benches.length) {
    try {
      comparison = compareToBaseline(baseline, benches.map((e) => e.input.json as BenchReceipt), opts.compare);
    } catch (err) {
      compareError = (err as Error).message;
    }
  }

  const views = entries.map((e) => entryView(e, comparison));
  const overall: StatusView = views.length === 0
    ? { tone: "warn", label: "NO RECEIPTS" }
    : views.some((v) => v.tone === "fail") || entries.some((e) => e.problems.length > 0)
    ? { tone: "fail", label: "FAIL" }
    : views.some((v) => v.tone === "warn")
    ? { tone: "warn", label: "NOT ALL PASSED" }
    : { tone: "pass", label: "PASS" };

  const problemItems: Html[] = entries.filter((e) => e.problems.length || e.input.error !== undefined).map((e) =>
    html`<li><a href="#${e.anchor}"><b>${e.input.source}</b></a>: ${
      e.input.error !== undefined ? e.input.error : `${e.problems.length} problem(s)`
    }<ul>${join(e.problems.map(problemItem))}</ul></li>`
  );
  if (b && (b.error !== undefined || baselineProblems.length)) {
    problemItems.push(
      html`<li><b>${b.source}</b> (baseline, not used): ${b.error ?? `${baselineProblems.length} problem(s)`}<ul>${
        join(baselineProblems.map(problemItem))
      }</ul></li>`,
    );
  }
  if (compareError) problemItems.push(html`<li>baseline comparison failed: ${compareError}</li>`);
  const problems = problemItems.length
    ? html`
      <section class="problems" id="problems">
        <h2>Not verified: these receipts are not evidence as they stand</h2>
        <ul>${join(problemItems)}</ul>
        <p>Check them with <code>crossval receipt verify FILE</code>; re-run the command that wrote them.</p>
      </section>
    `
    : "";

  const summary = entries.length
    ? html`
      <table class="summary">
        <thead>
          <tr>
            <th class="w-src">receipt</th>
            <th class="w-kind">kind</th>
            <th class="w-model">model</th>
            <th class="w-verdict">verdict</th>
            <th class="w-ver">verified</th>
            <th>headline</th>
          </tr>
        </thead>
        <tbody>${join(entries.map((e, i) =>
          html`
            <tr data-source="${e.input.source}" data-tone="${views[i]!.tone}">
              <td><a href="#${e.anchor}">${e.input.source}</a></td>
              <td>${e.kind}</td>
              <td>${nameOf(e)}</td>
              <td>${badge(views[i]!)}</td>
              <td>${e.input.error !== undefined
                ? "–"
                : e.problems.length
                ? html`<span class="badge fail">✗ ${e.problems.length}</span>`
                : html`<span class="badge pass">✓</span>`}</td>
              <td class="muted">${headline(e)}</td>
            </tr>
          `
        ))}</tbody>
      </table>
    `
    : html`<p class="alert">No receipts were given. Run <code>crossval validate</code> first.</p>`;

  const css = REPORT_CSS;
  const hash = createHash("sha256").update(css).digest("base64");
  const csp = `default-src 'none'; style-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'`;
  const when = opts.generatedAt ?? new Date().toISOString();
  const tool = entries.map((e) => (e.input.json as { tool?: { name?: string; version?: string } } | undefined)?.tool)
    .find((t) => t?.name);
  const body =
    html`<main><header class="page-head"><div><h1>crossval report</h1><p>${entries.length} receipt(s) · generated ${when}${
      tool ? ` · ${tool.name} ${tool.version}` : ""
    }</p></div>${badge(overall, { big: true })}</header>${problems}${summary}${
      join(entries.map((e) => section(e, baseline, comparison)))
    }<footer>Self-contained page: no script, no network. Hover a point, a token or a cell for its numbers. Receipt formats: receipts/parity.schema.json, receipts/bench.schema.json.</footer></main>`;
  return `<!doctype html>\n${
    html`
      <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta http-equiv="Content-Security-Policy" content="${csp}">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>crossval report · ${overall.label}</title>
          <style>${rawTrustedCss(css)}</style>
        </head>
        <body data-overall="${overall.tone}">${body}</body>
      </html>
    `.text
  }\n`;
}
