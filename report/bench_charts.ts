/**
 * Benchmark charts as inline SVG. Throughput: per test, one row per engine with every repetition as a dot, the
 * mean ± standard deviation as a bar and the median as a tick (the baseline's median dashed, when there is one).
 * Ratio: per test, the median engine/llama.cpp ratio of the interleaved pairs with its bootstrap interval, the
 * line of equal speed, and the baseline's median ratio.
 *
 * @module
 */

import { type Html, html, join } from "./html.ts";
import { num, tps } from "./format.ts";
import { domainOf, linear, ticks } from "./scale.ts";

/** One engine's repetitions of one test. */
export interface ThroughputRow {
  /** Row label (`engine (wasm)`, `llama.cpp`). */
  readonly label: string;
  /** CSS class of the row's colour (`engine`, `reference`). */
  readonly cls: "engine" | "reference";
  /** Tokens/s per repetition. */
  readonly samples: readonly number[];
  /** Mean. */
  readonly mean: number;
  /** Sample standard deviation. */
  readonly stddev: number;
  /** Median. */
  readonly median: number;
  /** The baseline's median of the same side, if any. */
  readonly baselineMedian: number | null;
}

const LEFT = 120, RIGHT = 86, RH = 26, TOP = 8, AXIS = 22;

/**
 * One test's throughput panel.
 *
 * @param test Test name (`pp64`).
 * @param rows Engine rows (the reference's row may be absent when it did not run).
 * @param width Pixel width (default 540).
 * @returns An `<svg>`.
 * @example
 * ```ts
 * import { throughputChart } from "./bench_charts.ts";
 * const row = { label: "engine", cls: "engine" as const, samples: [10, 11], mean: 10.5, stddev: 0.7, median: 10.5,
 *   baselineMedian: null };
 * console.log(throughputChart("tg32", [row]).text.includes("<circle")); // true
 * ```
 */
export function throughputChart(test: string, rows: readonly ThroughputRow[], width = 540): Html {
  const H = TOP + rows.length * RH + AXIS;
  const all = rows.flatMap((r) => [...r.samples, r.mean + r.stddev, r.baselineMedian ?? 0]);
  const d = domainOf([0, ...all], { floor: 0, pad: 0.04 });
  const X = linear(d, [LEFT, width - RIGHT]);
  const axisY = TOP + rows.length * RH;
  const grid = ticks(d, 5).map((t) =>
    html`
      <line class="grid" x1="${X(t)}" x2="${X(t)}" y1="${TOP}" y2="${axisY}" />
      <text class="tick" x="${X(t)}" y="${axisY + 14}" text-anchor="middle">${num(t, 3)}</text>
    `
  );
  const body = rows.map((r, i) => {
    const y = TOP + i * RH + RH / 2;
    const dots = r.samples.map((s, k) =>
      html`
        <circle class="sample ${r.cls}" cx="${X(s)}" cy="${y}" r="3">
          <title>${r.label}, repetition ${k + 1}: ${tps(s)} t/s</title>
        </circle>
      `
    );
    const base = r.baselineMedian === null ? "" : html`
      <line class="base-median" x1="${X(r.baselineMedian)}" x2="${X(r.baselineMedian)}" y1="${y - 10}" y2="${y + 10}">
        <title>baseline median ${tps(r.baselineMedian)} t/s</title>
      </line>
    `;
    return html`
      <text class="row-label" x="${LEFT - 8}" y="${y + 4}" text-anchor="end">${r.label}</text><line class="sd ${r.cls}"
        x1="${X(Math.max(0, r.mean - r.stddev))}" x2="${X(r.mean + r.stddev)}" y1="${y}" y2="${y}">
        <title>mean ${tps(r.mean)} ± ${tps(r.stddev)} t/s</title>
      </line>${join(dots)}<line class="median ${r.cls}" x1="${X(r.median)}" x2="${X(r.median)}" y1="${y - 8}" y2="${y +
        8}">
        <title>median ${tps(r.median)} t/s</title>
      </line>${base}<text class="value" x="${width - RIGHT + 6}" y="${y + 4}">${tps(r.median)} t/s</text>
    `;
  });
  return html`
    <svg class="bench-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${H}" width="${width}"
      height="${H}" role="img"
      aria-label="${test} tokens per second"><title>${test}: tokens/s per repetition</title>${join(
        grid,
      )}<line class="axis" x1="${LEFT}" x2="${width - RIGHT}" y1="${axisY}" y2="${axisY}"/>${join(body)}</svg>
  `;
}

/** One test's ratio. */
export interface RatioRow {
  /** Test name. */
  readonly test: string;
  /** Median engine/llama.cpp ratio, null when not both ran. */
  readonly median: number | null;
  /** Interval low. */
  readonly low: number | null;
  /** Interval high. */
  readonly high: number | null;
  /** Confidence of the interval. */
  readonly confidence: number;
  /** The baseline's median ratio, if any. */
  readonly baselineMedian: number | null;
}

/**
 * The ratio panel of a receipt.
 *
 * @param rows One per test.
 * @param width Pixel width (default 540).
 * @returns An `<svg>`.
 */
export function ratioChart(rows: readonly RatioRow[], width = 540): Html {
  const H = TOP + rows.length * RH + AXIS;
  const vals = rows.flatMap((r) => [r.low, r.high, r.median, r.baselineMedian]);
  const d = domainOf([...vals, 1], { floor: 0, pad: 0.1 });
  const X = linear(d, [LEFT, width - RIGHT]);
  const axisY = TOP + rows.length * RH;
  const grid = ticks(d, 5).map((t) =>
    html`
      <line class="grid" x1="${X(t)}" x2="${X(t)}" y1="${TOP}" y2="${axisY}" />
      <text class="tick" x="${X(t)}" y="${axisY + 14}" text-anchor="middle">${num(t, 3)}×</text>
    `
  );
  const body = rows.map((r, i) => {
    const y = TOP + i * RH + RH / 2;
    const label = html`<text class="row-label" x="${LEFT - 8}" y="${y + 4}" text-anchor="end">${r.test}</text>`;
    if (r.median === null) {
      return html`${label}<text class="tick" x="${LEFT + 4}" y="${y + 4}">not measured on both engines</text>`;
    }
    const ci = r.low !== null && r.high !== null
      ? html`
        <line class="ci" x1="${X(r.low)}" x2="${X(r.high)}" y1="${y}" y2="${y}">
          <title>${r.confidence * 100}% bootstrap interval ${num(r.low, 3)}–${num(r.high, 3)}</title>
        </line>
      `
      : "";
    const base = r.baselineMedian === null ? "" : html`
      <path class="base-ratio" d="M${X(r.baselineMedian)},${y - 6} l6,6 l-6,6 l-6,-6 z">
        <title>baseline median ratio ${num(r.baselineMedian, 3)}</title>
      </path>
    `;
    return html`
      ${label}${ci}${base}<circle class="ratio-dot" cx="${X(r.median)}" cy="${y}" r="4.5">
        <title>median ratio ${num(r.median, 3)}</title>
      </circle><text class="value" x="${width - RIGHT + 6}" y="${y + 4}">${num(r.median, 3)}×</text>
    `;
  });
  return html`
    <svg class="bench-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${H}" width="${width}"
      height="${H}" role="img"
      aria-label="engine to llama.cpp ratio"><title>engine/llama.cpp tokens/s ratio per test</title>${join(
        grid,
      )}<line class="parity-line" x1="${X(1)}" x2="${X(1)}" y1="${TOP}" y2="${axisY}"/><text class="tick" x="${X(1) +
        3}" y="${TOP + 8}">equal speed</text><line class="axis" x1="${LEFT}" x2="${width -
        RIGHT}" y1="${axisY}" y2="${axisY}"/>${join(body)}</svg>
  `;
}
