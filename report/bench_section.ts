/**
 * The benchmark section of the report: a table in llama-bench's layout (both engines, mean ± standard deviation
 * and median tokens/s, the paired ratio with its bootstrap interval, the baseline verdict), the throughput and
 * ratio charts, the baseline comparison with its reasons, and the identity of both engines and the machine.
 *
 * @module
 */

import type { BenchReceipt, BenchRecord } from "../receipts/bench_receipt.ts";
import type { Baseline } from "../receipts/baseline.ts";
import type { BaselineComparison } from "../receipts/baseline_compare.ts";
import type { ReceiptProblem } from "../receipts/problem.ts";
import { type Html, html, join } from "./html.ts";
import { basename, bytes, num, params, short, tps } from "./format.ts";
import { badge, statusView, verdictView } from "./status.ts";
import { ratioChart, throughputChart, type ThroughputRow } from "./bench_charts.ts";
import { identityBlock } from "./identity.ts";

/** Input of {@link benchSection}. */
export interface BenchSectionInput {
  /** Where the receipt came from. */
  readonly source: string;
  /** Element id. */
  readonly anchor: string;
  /** The receipt. */
  readonly receipt: BenchReceipt;
  /** `verifyReceipt` problems. */
  readonly problems: readonly ReceiptProblem[];
  /** The baseline compared with, if any. */
  readonly baseline: Baseline | null;
  /** The comparison of the verified bench receipts with it, if any. */
  readonly comparison: BaselineComparison | null;
}

function median(xs: readonly number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function side(rec: BenchRecord | null): string {
  return rec ? `${tps(rec.avg_ts)} ± ${tps(rec.stddev_ts)}` : "did not run";
}

/**
 * Render a bench receipt.
 *
 * @param i The receipt, its problems, and the baseline comparison.
 * @returns The `<section>`.
 */
export function benchSection(i: BenchSectionInput): Html {
  const r = i.receipt;
  const verified = i.problems.length === 0;
  const refName = r.reference?.library ?? "llama.cpp";
  const entryOf = (test: string) => i.baseline?.benchmarks.find((b) => b.id === `${r.name}/${test}`) ?? null;
  const verdictOf = (test: string) => i.comparison?.verdicts.find((v) => v.id === `${r.name}/${test}`) ?? null;

  const head = ["test", "engine t/s", "median", `${refName} t/s`, "median", `engine/${refName} [CI]`, "vs baseline"];
  const rows = r.results.map((res) => {
    const v = verdictOf(res.test);
    return html`
      <tr data-test="${res.test}">
        <td>${res.test}</td>
        <td class="num">${side(res.engine)}</td>
        <td class="num">${tps(res.engine?.stats_ts.median)}</td>
        <td class="num">${side(res.reference)}</td>
        <td class="num">${tps(res.reference?.stats_ts.median)}</td>
        <td class="num">${res.ratio
          ? `${num(res.ratio.median, 3)} [${num(res.ratio.low, 3)}, ${num(res.ratio.high, 3)}]`
          : "–"}</td>
        <td>${v
          ? badge(verdictView(v.verdict), { title: v.reason })
          : html`<span class="muted">no baseline</span>`}</td>
      </tr>
    `;
  });
  const m = r.model;
  const table = html`
    <p
      class="sub">${m?.lock_name ?? basename(m?.path ?? "")} · ${bytes(m?.size_bytes)} · ${params(
        m?.n_params,
      )} params · ${m?.weight_type} · backend ${r.backend} · ${r.settings?.threads} thread(s) · ${r.settings
        ?.reps} reps (${r.settings?.order}) · ${r.settings ? `${r.settings.confidence * 100}%` : ""} intervals</p>
    <table class="bench">
      <thead>
        <tr>${join(head.map((h) => html`<th>${h}</th>`))}</tr>
      </thead>
      <tbody>${join(rows)}</tbody>
    </table>
  `;

  const panels = r.results.map((res) => {
    const e = entryOf(res.test);
    const row = (rec: BenchRecord, label: string, cls: "engine" | "reference", base: number | null): ThroughputRow => ({
      label,
      cls,
      samples: rec.samples_ts,
      mean: rec.avg_ts,
      stddev: rec.stddev_ts,
      median: rec.stats_ts.median,
      baselineMedian: base,
    });
    const rs: ThroughputRow[] = [];
    if (res.engine) rs.push(row(res.engine, `engine (${r.backend})`, "engine", e ? e.engine.stats_ts.median : null));
    if (res.reference) rs.push(row(res.reference, refName, "reference", e ? e.reference.stats_ts.median : null));
    return html`<figure><figcaption>${res.test}: tokens/s per repetition</figcaption>${
      rs.length ? throughputChart(res.test, rs) : html`<p class="muted">neither engine ran</p>`
    }</figure>`;
  });
  const ratio = ratioChart(r.results.map((res) => {
    const e = entryOf(res.test);
    return {
      test: res.test,
      median: res.ratio?.median ?? null,
      low: res.ratio?.low ?? null,
      high: res.ratio?.high ?? null,
      confidence: res.ratio?.confidence ?? r.settings?.confidence ?? 0.95,
      baselineMedian: e ? median(e.ratio_samples) : null,
    };
  }));
  const legend = i.baseline
    ? html`
      <p
        class="legend-line"><span class="key engine"></span> engine <span class="key reference"></span> ${refName} · dots: repetitions, bar: mean ± sd, tick: median · <span class="key base"></span> baseline ${i
          .baseline.date} median</p>
    `
    : html`
      <p
        class="legend-line"><span class="key engine"></span> engine <span class="key reference"></span> ${refName} · dots: repetitions, bar: mean ± sd, tick: median</p>
    `;

  const mine = i.comparison?.verdicts.filter((v) => v.id.startsWith(`${r.name}/`)) ?? [];
  const baseBlock = !i.baseline
    ? html`<p class="muted">No baseline to compare with (create one with <code>crossval baselines gen</code>).</p>`
    : !i.comparison
    ? html`<p class="alert">The baseline ${i.baseline.date} could not be compared with this receipt.</p>`
    : html`
      <p
        class="sub">Baseline ${i.comparison.baseline.date} (${i.comparison.baseline
          .cpu}, fingerprint <span class="mono">${i.comparison.baseline
          .fingerprint}</span>), threshold ${i.comparison.threshold * 100}%, confidence ${i.comparison.confidence *
          100}%.</p><ul
        class="verdicts">${join(
          mine.map((v) =>
            html`<li data-id="${v.id}" data-verdict="${v.verdict}">${
              badge(verdictView(v.verdict))
            } <b>${v.id}</b>: ${v.reason}${
              v.notes.length ? html`<span class="muted"> (${v.notes.join("; ")})</span>` : ""
            }</li>`
          ),
        )}</ul>${i.comparison.warnings.length
          ? html`<ul class="warnings">${join(i.comparison.warnings.map((w) => html`<li>${w}</li>`))}</ul>`
          : ""}
    `;

  const status = verified ? { tone: "pass" as const, label: "MEASURED" } : statusView("invalid", false);
  const regression = mine.some((v) => v.verdict === "regression");
  const headBadge = regression ? verdictView("regression") : status;
  const unverified = verified ? "" : html`
    <p
      class="alert">This receipt did not verify (${i.problems
        .length} problem(s), listed at the top): its numbers are not evidence.</p>
  `;
  const faults = r.engine && Object.keys(r.engine.faults ?? {}).length
    ? `test-only modifications in effect: ${JSON.stringify(r.engine.faults)}`
    : r.engine?.error
    ? `did not run: ${r.engine.error}`
    : null;
  return html`
    <section class="receipt bench" id="${i.anchor}" data-kind="bench"
      data-verified="${verified}"><header class="receipt-head"><div><h2>Benchmark · ${r.name}</h2><p class="sub">${i
        .source} · ${r.timestamp} · model <span class="mono" title="${r.model_sha256}">${short(
          r.model_sha256,
        )}</span></p></div>${badge(headBadge, {
          big: true,
        })}</header>${unverified}${table}<h3>Throughput</h3>${legend}<div class="charts">${join(
          panels,
        )}<figure><figcaption>engine/${refName} ratio, median of interleaved pairs with bootstrap interval</figcaption>${ratio}</figure></div><h3>Against the baseline</h3>${baseBlock}<h3>Identity</h3><div class="idents">${join(
          [
            identityBlock("Engine", r.engine, {
              fields: [
                { key: "backend", label: "backend" },
                { key: "threads", label: "threads" },
                { key: "kernels", label: "kernels", mono: true },
                { key: "ran", label: "ran" },
              ],
              skip: ["faults", "error"],
              alert: faults,
            }),
            identityBlock("Reference", r.reference, {
              fields: [
                { key: "library", label: "library" },
                { key: "release", label: "release" },
                { key: "version", label: "version" },
                { key: "commit", label: "commit", mono: true },
                { key: "ggml_commit", label: "ggml", mono: true },
                { key: "backend", label: "backend" },
                { key: "threads", label: "threads" },
                { key: "ran", label: "ran" },
              ],
              skip: ["kernels", "error"],
              alert: r.reference?.error ? `did not run: ${r.reference.error}` : null,
            }),
            identityBlock("Machine", r.machine, {
              fields: [
                { key: "cpu", label: "CPU" },
                { key: "cores", label: "cores" },
                { key: "memory_bytes", label: "memory", render: (v) => bytes(v as number) },
                { key: "os", label: "OS" },
                { key: "runtime", label: "runtime" },
                { key: "fingerprint", label: "fingerprint", mono: true },
              ],
            }),
            identityBlock("Tool", r.tool, {
              fields: [
                { key: "version", label: "version" },
                { key: "commit", label: "commit", mono: true },
                { key: "dirty", label: "dirty tree" },
              ],
              skip: ["name"],
            }),
          ],
        )}</div></section>
  `;
}
