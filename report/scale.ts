/**
 * Axis arithmetic for the charts: a domain that holds the data and every gate line, and "nice" tick values
 * (1, 2, 5 x 10^k steps, Heckbert's "Nice numbers for graph labels", Graphics Gems, 1990).
 *
 * @module
 */

/** A closed interval `[lo, hi]` with `lo < hi`. */
export type Domain = readonly [number, number];

/**
 * The domain of some values and reference lines, padded by `pad` of its span on each side. A flat set (all
 * values equal) gets a span of its own, so a line of identical values sits inside the chart, not on its edge.
 *
 * @param values Data values (null and non-finite ignored).
 * @param opts `include`: values that must be inside (gate lines); `pad`: fraction of the span (default 0.08);
 *   `floor` / `ceil`: hard bounds (a cosine never exceeds 1; a divergence is never below 0).
 * @returns The domain.
 * @example
 * ```ts
 * import { domainOf } from "./scale.ts";
 * console.log(domainOf([1, 1, 1], { include: [0.99], ceil: 1 })); // [ 0.9892, 1 ]
 * ```
 */
export function domainOf(
  values: readonly (number | null)[],
  opts: {
    readonly include?: readonly number[];
    readonly pad?: number;
    readonly floor?: number;
    readonly ceil?: number;
  } = {},
): Domain {
  const all = [...values, ...(opts.include ?? [])].filter((v): v is number => v !== null && Number.isFinite(v));
  let lo = all.length ? Math.min(...all) : 0, hi = all.length ? Math.max(...all) : 1;
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
    const w = Math.abs(hi) > 0 ? Math.abs(hi) * 0.01 : 1;
    lo -= w, hi += w;
  }
  const p = (hi - lo) * (opts.pad ?? 0.08);
  lo -= p, hi += p;
  if (opts.floor !== undefined) lo = Math.max(lo, opts.floor);
  if (opts.ceil !== undefined) hi = Math.min(hi, opts.ceil);
  if (!(hi > lo)) hi = lo + 1;
  return [Number(lo.toPrecision(12)), Number(hi.toPrecision(12))];
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/**
 * About `count` round tick values inside the domain.
 *
 * @param d Domain.
 * @param count Wanted number of ticks (default 4).
 * @returns Ascending tick values.
 * @example
 * ```ts
 * import { ticks } from "./scale.ts";
 * console.log(ticks([0, 1], 4)); // [ 0, 0.2, 0.4, 0.6, 0.8, 1 ]
 * ```
 */
export function ticks(d: Domain, count = 4): number[] {
  const step = niceStep(d[1] - d[0], count);
  const out: number[] = [];
  for (let v = Math.ceil(d[0] / step) * step; v <= d[1] + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * A linear map from a domain onto a pixel range (which may run backwards, as a y axis does).
 *
 * @param d Domain.
 * @param range `[from, to]` pixels.
 * @returns The map; values outside the domain are clamped to the range's ends.
 */
export function linear(d: Domain, range: readonly [number, number]): (v: number) => number {
  const [a, b] = range;
  return (v) => {
    const t = Math.min(1, Math.max(0, (v - d[0]) / (d[1] - d[0])));
    return Math.round((a + (b - a) * t) * 10) / 10;
  };
}
