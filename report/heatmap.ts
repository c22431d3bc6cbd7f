/**
 * The localization as a heatmap: one row per layer (and one for the output tensors), one column per intermediate
 * kind in graph order, each cell coloured by log10 NMSE(reference, engine) on the viridis scale (perceptually
 * uniform, readable without colour vision: van der Walt and Smith, matplotlib, 2015), exact zeros white, cells
 * without a number grey. Cells whose op was judged to differ carry a glyph; the first diverging cell is outlined in
 * red and named under the grid. Hover on a cell for its numbers.
 *
 * @module
 */

import { type Html, html, join } from "./html.ts";
import { num } from "./format.ts";

/** One compared tensor (the receipt's `LocalizedTensor`). */
export interface HeatmapTensor {
  /** Graph name (`attn_sub_norm-3`). */
  readonly name: string;
  /** Layer, null for output tensors. */
  readonly layer: number | null;
  /** Kind. */
  readonly kind: string;
  /** NMSE, null when not computable. */
  readonly nmse: number | null;
  /** Median per-row NMSE. */
  readonly row_nmse_median: number | null;
  /** Clean-input rows. */
  readonly clean_rows: number;
  /** Rows with a new error. */
  readonly new_error_rows: number;
  /** Per-row tolerance. */
  readonly tolerance: number;
  /** `ok`, `exceeded`, `undetermined`, `missing_in_engine`, `shape_mismatch`, or a newer status. */
  readonly status: string;
}

// viridis at 9 evenly spaced points (matplotlib's _viridis_data), reversed so that small errors are light.
const VIRIDIS = ["#fde725", "#a0da39", "#4ac16d", "#1fa187", "#277f8e", "#365c8d", "#46327e", "#440154", "#2a0a3b"];
const LOG_LO = -16, LOG_HI = 0;

/**
 * Fill colour of an NMSE value.
 *
 * @param nmse The value (0 is exact, null has no number).
 * @returns A CSS colour.
 * @example
 * ```ts
 * import { nmseColor } from "./heatmap.ts";
 * console.log(nmseColor(0), nmseColor(1)); // #ffffff #2a0a3b
 * ```
 */
export function nmseColor(nmse: number | null): string {
  if (nmse === null || !Number.isFinite(nmse) || nmse < 0) return "#d0d7de";
  if (nmse === 0) return "#ffffff";
  const t = Math.min(1, Math.max(0, (Math.log10(nmse) - LOG_LO) / (LOG_HI - LOG_LO)));
  const f = t * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(f)), u = f - i;
  const rgb = (h: string) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
  const a = rgb(VIRIDIS[i]!), b = rgb(VIRIDIS[i + 1]!);
  return `#${a.map((x, k) => Math.round(x + (b[k]! - x) * u).toString(16).padStart(2, "0")).join("")}`;
}

const GLYPH: Readonly<Record<string, string>> = {
  ok: "",
  exceeded: "!",
  undetermined: "?",
  missing_in_engine: "∅",
  shape_mismatch: "≠",
};

/** Statuses that fail the localization check (or that this code does not know: never shown as fine). */
function failing(status: string): boolean {
  return status !== "ok" && status !== "undetermined";
}

const CW = 34, RH = 22, LEFT = 70, TOP = 92;

/**
 * Render the heatmap.
 *
 * @param tensors Compared tensors in graph order.
 * @param first Name of the first diverging tensor, or null.
 * @returns Markup: the `<svg>` and its legend.
 * @example
 * ```ts
 * import { localizationHeatmap } from "./heatmap.ts";
 * const t = { name: "Kcur-0", layer: 0, kind: "Kcur", nmse: 0.2, row_nmse_median: 0.2, clean_rows: 9,
 *   new_error_rows: 9, tolerance: 1e-9, status: "exceeded" };
 * console.log(localizationHeatmap([t], "Kcur-0").text.includes('class="cell first"')); // true
 * ```
 */
export function localizationHeatmap(tensors: readonly HeatmapTensor[], first: string | null): Html {
  const kinds: string[] = [];
  for (const t of tensors) if (t.layer !== null && !kinds.includes(t.kind)) kinds.push(t.kind);
  for (const t of tensors) if (t.layer === null && !kinds.includes(t.kind)) kinds.push(t.kind);
  const layers = [...new Set(tensors.filter((t) => t.layer !== null).map((t) => t.layer!))].sort((a, b) => a - b);
  const hasOut = tensors.some((t) => t.layer === null);
  const rows: (number | null)[] = [...layers, ...(hasOut ? [null] : [])];
  const W = LEFT + kinds.length * CW + 70, H = TOP + rows.length * RH + 6;

  const colLabels = kinds.map((k, c) => {
    const x = LEFT + c * CW + CW / 2;
    return html`<text class="col-label" transform="translate(${x + 3},${TOP - 6}) rotate(-50)">${k}</text>`;
  });
  const rowLabels = rows.map((l, r) =>
    html`<text class="row-label" x="${LEFT - 6}" y="${TOP + r * RH + RH / 2 + 4}" text-anchor="end">${
      l === null ? "output" : `layer ${l}`
    }</text>`
  );
  let firstCell: Html | string = "";
  const cells = tensors.map((t) => {
    const c = kinds.indexOf(t.kind), r = rows.indexOf(t.layer);
    const x = LEFT + c * CW, y = TOP + r * RH;
    const fill = nmseColor(t.nmse);
    const dark = t.nmse !== null && t.nmse > 1e-9;
    const tip = `${t.name}: NMSE ${num(t.nmse)}, median row NMSE ${num(t.row_nmse_median)}; ${
      t.status.replace(/_/g, " ")
    }; ${t.clean_rows} clean-input rows, ${t.new_error_rows} with a new error (row tolerance ${num(t.tolerance)})`;
    const glyph = GLYPH[t.status] ?? "!";
    const isFirst = t.name === first;
    const cls = `cell${failing(t.status) ? " failing" : ""}${isFirst ? " first" : ""}`;
    const g = html`
      <g class="${cls}" data-name="${t.name}"
        data-status="${t.status}"><rect x="${x + 1}" y="${y + 1}" width="${CW - 2}" height="${RH -
          2}" fill="${fill}"/>${glyph
          ? html`<text class="glyph${dark ? " on-dark" : ""}" x="${x + CW / 2}" y="${
            y + RH / 2 + 4
          }" text-anchor="middle">${glyph}</text>`
          : ""}<title>${tip}</title></g>
    `;
    if (isFirst) {
      firstCell = html`
        <rect class="first-outline" x="${x - 1}" y="${y - 1}" width="${CW + 2}" height="${RH + 2}" />
      `;
    }
    return g;
  });
  const svg = html`
    <svg class="heatmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}"
      height="${H}" role="img"
      aria-label="NMSE per layer and intermediate"><title>NMSE(reference, engine) per layer and intermediate</title>${join(
        colLabels,
      )}${join(rowLabels)}${join(cells)}${firstCell}</svg>
  `;
  return html`<div class="heatmap-wrap">${svg}${legend()}</div>`;
}

function legend(): Html {
  const n = 32, w = 8, x0 = 22;
  const steps = Array.from({ length: n }, (_, i) => {
    const lg = LOG_LO + ((i + 0.5) / n) * (LOG_HI - LOG_LO);
    return html`
      <rect x="${x0 + i * w}" y="4" width="${w}" height="12" fill="${nmseColor(10 ** lg)}" />
    `;
  });
  const tickAt = (lg: number) => x0 + ((lg - LOG_LO) / (LOG_HI - LOG_LO)) * n * w;
  const labels = [-16, -12, -8, -4, 0].map((lg) =>
    html`<text class="tick" x="${tickAt(lg)}" y="28" text-anchor="middle">${lg === 0 ? "1" : `1e${lg}`}</text>`
  );
  const sw = x0 + n * w + 20;
  return html`
    <svg class="legend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${sw + 560} 34" width="${sw + 560}" height="34"
      role="img"
      aria-label="NMSE colour scale"><title>NMSE colour scale (log)</title>${join(steps)}${join(
        labels,
      )}<rect x="${sw}" y="4" width="12" height="12" fill="#ffffff" class="swatch"/><text class="tick" x="${sw +
        16}" y="14">exact 0</text><rect x="${sw +
        64}" y="4" width="12" height="12" fill="#d0d7de"/><text class="tick" x="${sw +
        80}" y="14">no number</text><text class="tick" x="${sw +
        140}" y="14">! exceeded · ? undetermined · ∅ missing in engine · ≠ shape mismatch</text></svg>
  `;
}
