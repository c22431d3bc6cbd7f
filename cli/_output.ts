/**
 * Shared rendering helpers for command adapters: JSON, tables, sizes.
 *
 * @module
 */

import Table from "cli-table3";
import type { ReceiptProblem } from "../receipts/problem.ts";

/**
 * The JSON naming convention of every `--json` output and every receipt: keys are snake_case (docs/CROSSVAL.md,
 * "JSON output"). Library structs use camelCase field names (`nLayer`), so the commands that print one pass it
 * through here: every key of plain objects is converted, recursively; arrays keep their order, values are
 * untouched. Only for structs whose keys are field names, never for maps keyed by data (GGUF keys, tensor names).
 *
 * @param value A struct (or array of structs) from the library.
 * @returns A copy with snake_case keys: `nHeadKv` -> `n_head_kv`, `ropeFreqBase` -> `rope_freq_base`.
 * @example
 * ```ts
 * import { snakeKeys } from "./_output.ts";
 * console.log(snakeKeys({ nHeadKv: 4, rope: { freqBase: 1e4 } })); // { n_head_kv: 4, rope: { freq_base: 10000 } }
 * ```
 */
export function snakeKeys<T>(value: T): unknown {
  if (Array.isArray(value)) return value.map((v) => snakeKeys(v));
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toLowerCase(),
      snakeKeys(v),
    ]),
  );
}

/** Print a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2));
}

/** Render rows as a table (box-drawing on a TTY and in files alike: cli-table3 has no color by default). */
export function renderTable(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/** One receipt problem on one line: `<JSON pointer> [<code>] <message>`. */
export function formatProblem(p: ReceiptProblem): string {
  return `${p.path || "/"} [${p.code}] ${p.message}`;
}

/** `1536` -> `1.5 KiB`. */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}
