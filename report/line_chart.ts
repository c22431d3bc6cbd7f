/**
 * A small inline-SVG line chart: one series over positions, gate lines, the points that break a gate drawn in the
 * failure colour, NaN positions marked on the axis, an optional vertical marker (the first failing position), and
 * a hover text (`<title>`) on every point. No script, no external resource.
 *
 * @module
 */

import { type Html, html, join } from "./html.ts";
import { num } from "./format.ts";
import { domainOf, linear, ticks } from "./scale.ts";

/** One value of the series. */
export interface ChartPoint {
  /** Position (x). */
  readonly x: number;
  /** Value, or null when it was not a number (NaN in the receipt). */
  readonly y: number | null;
  /** Hover text. */
  readonly tip: string;
}

/** A horizontal reference line. */
export interface GateLine {
  /** Where. */
  readonly y: number;
  /** Label drawn on it. */
  readonly label: string;
  /** Points below (`min`) or above (`max`) it fail; `null` for a line that is only a reference (a mean gate). */
  readonly bound: "min" | "max" | null;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  /** Accessible name (the visible title is the caller's). */
  readonly label: string;
  /** The series. */
  readonly points: readonly ChartPoint[];
  /** Gate lines. */
  readonly gates?: readonly GateLine[];
  /** Hard lower bound of the y domain. */
  readonly floor?: number;
  /** Hard upper bound of the y domain. */
  readonly ceil?: number;
  /** Vertical marker. */
  readonly marker?: { readonly x: number; readonly label: string } | null;
  /** Pixel size (default 360 x 150). */
  readonly width?: number;
  /** Pixel height. */
  readonly height?: number;
}

const M = { left: 54, right: 12, top: 18, bottom: 24 };

/**
 * Render the chart.
 *
 * @param o Series, gates and size.
 * @returns An `<svg>` element.
 * @example
 * ```ts
 * import { lineChart } from "./line_chart.ts";
 * const svg = lineChart({ label: "cosine", points: [{ x: 0, y: 1, tip: "pos 0" }], gates: [{ y: 0.99, label: "min 0.99", bound: "min" }] });
 * console.log(svg.text.startsWith("<svg")); // true
 * ```
 */
export function lineChart(o: LineChartOptions): Html {
  const W = o.width ?? 360, H = o.height ?? 150;
  const gates = o.gates ?? [];
  const ys = o.points.map((p) => p.y);
  const yd = domainOf(ys, { include: gates.map((g) => g.y), floor: o.floor, ceil: o.ceil });
  const xs = o.points.map((p) => p.x);
  const xd = domainOf(xs.length ? xs : [0], { pad: 0.02 });
  const X = linear(xd, [M.left, W - M.right]), Y = linear(yd, [H - M.bottom, M.top]);
  const bad = (y: number | null) =>
    y === null || gates.some((g) => (g.bound === "min" && y < g.y) || (g.bound === "max" && y > g.y));

  const yTicks = ticks(yd, 3);
  const grid = yTicks.map((t) =>
    html`
      <line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${Y(t)}" y2="${Y(t)}" />
      <text class="tick" x="${M.left - 4}" y="${Y(t) + 3}" text-anchor="end">${num(t, 4)}</text>
    `
  );
  const xTicks = ticks(xd, 5).filter((t) => Number.isInteger(t)).map((t) =>
    html`<text class="tick" x="${X(t)}" y="${H - M.bottom + 14}" text-anchor="middle">${t}</text>`
  );

  // The series: polyline segments between non-null points.
  const segs: string[][] = [[]];
  for (const p of o.points) {
    if (p.y === null) segs.push([]);
    else segs[segs.length - 1]!.push(`${X(p.x)},${Y(p.y)}`);
  }
  const lines = segs.filter((s) => s.length > 1).map((s) =>
    html`
      <polyline class="series" points="${s.join(" ")}" />
    `
  );
  const dots = o.points.map((p) =>
    p.y === null
      ? html`
        <g class="nan">
          <text x="${X(p.x)}" y="${H - M.bottom - 3}" text-anchor="middle">×</text>
          <title>${p.tip}: NaN</title>
        </g>
      `
      : html`
        <circle class="${bad(p.y) ? "pt bad" : "pt"}" cx="${X(p.x)}" cy="${Y(p.y)}" r="${bad(p.y) ? 2.6 : 1.8}">
          <title>${p.tip}</title>
        </circle>
      `
  );
  // Gate labels sit at the right end of their line; one that would touch the previous label moves to the left end.
  const placed: number[] = [];
  const gateLines = gates.map((g) => {
    const y = Y(g.y), left = placed.some((p) => Math.abs(p - y) < 11);
    if (!left) placed.push(y);
    return html`
      <line class="${g.bound ? "gate" : "gate ref"}" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" />
      <text class="gate-label" x="${left ? M.left + 4 : W - M.right - 2}" y="${y - 3}" text-anchor="${left
        ? "start"
        : "end"}">${g.label}</text>
    `;
  });
  // The marker's label goes on the side of the line with more room.
  const mx = o.marker ? X(o.marker.x) : 0, right = mx < (M.left + W - M.right) / 2;
  const marker = o.marker
    ? html`
      <line class="marker" x1="${mx}" x2="${mx}" y1="${M.top - 4}" y2="${H - M.bottom}" />
      <text class="marker-label" x="${right ? mx + 3 : mx - 3}" y="${M.top - 6}" text-anchor="${right
        ? "start"
        : "end"}">${o.marker.label}</text>
    `
    : "";
  return html`
    <svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}"
      height="${H}" role="img"
      aria-label="${o.label}"><title>${o.label}</title>${join(grid)}<line class="axis" x1="${M.left}" x2="${M
        .left}" y1="${M.top}" y2="${H - M.bottom}"/><line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${H -
        M.bottom}" y2="${H - M.bottom}"/>${join(xTicks)}${join(gateLines)}${marker}${join(lines)}${join(dots)}</svg>
  `;
}
