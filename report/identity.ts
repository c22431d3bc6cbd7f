/**
 * Identity blocks (reference, engine, model, tokenizer, machine, tool): the fields this code knows, labelled and in
 * a fixed order, then every other field the receipt carries, as recorded. Receipts gain fields (which reference
 * build ran, its build flags, a transcode of the model, the numerics profile): they appear here without a change.
 *
 * @module
 */

import { type Html, html, type HtmlValue, join } from "./html.ts";

/** A known field of a block. */
export interface Field {
  /** JSON key. */
  readonly key: string;
  /** Label shown. */
  readonly label: string;
  /** Custom rendering (default: {@link plainValue}). */
  readonly render?: (value: unknown) => HtmlValue;
  /** Monospace (hashes, commits, paths). */
  readonly mono?: boolean;
}

/**
 * Any JSON value as short text: scalars as they are, `null` as `–`, arrays of scalars comma-separated, objects as
 * `key=value` pairs (nested objects as JSON).
 *
 * @param v The value.
 * @returns Text.
 * @example
 * ```ts
 * import { plainValue } from "./identity.ts";
 * console.log(plainValue({ threads: 1, type_k: "f32" })); // threads=1, type_k=f32
 * ```
 */
export function plainValue(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "object") return String(v);
  if (Array.isArray(v)) {
    return v.length ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") : "none";
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (!entries.length) return "none";
  return entries.map(([k, x]) => `${k}=${typeof x === "object" && x !== null ? JSON.stringify(x) : String(x)}`).join(
    ", ",
  );
}

/**
 * A block of labelled values.
 *
 * @param title Block title.
 * @param obj The receipt's object (null when absent).
 * @param opts `fields`: known fields in order; `skip`: keys shown elsewhere; `alert`: a line shown first in red
 *   (e.g. test-only faults in effect).
 * @returns Markup.
 */
export function identityBlock(
  title: string,
  obj: unknown,
  opts: { readonly fields: readonly Field[]; readonly skip?: readonly string[]; readonly alert?: HtmlValue },
): Html {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    return html`
      <section class="card ident">
        <h4>${title}</h4>
        <p class="muted">not recorded</p>
      </section>
    `;
  }
  const o = obj as Record<string, unknown>;
  const known = new Set([...opts.fields.map((f) => f.key), ...(opts.skip ?? [])]);
  const row = (label: string, value: HtmlValue, mono: boolean) =>
    html`
      <dt>${label}</dt>
      <dd${mono
        ? html`
          class="mono"
        `
        : ""}>${value}</dd>
    `;
  const rows = opts.fields.filter((f) => f.key in o).map((f) =>
    row(f.label, f.render ? f.render(o[f.key]) : plainValue(o[f.key]), f.mono ?? false)
  );
  const extra = Object.keys(o).filter((k) => !known.has(k)).map((k) => row(k, plainValue(o[k]), true));
  const alert = opts.alert ? html`<p class="alert">${opts.alert}</p>` : "";
  return html`<section class="card ident"><h4>${title}</h4>${alert}<dl>${join(rows)}${join(extra)}</dl></section>`;
}
