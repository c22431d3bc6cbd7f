/**
 * Shared rendering helpers for command adapters: JSON, tables, sizes.
 *
 * @module
 */

import Table from "cli-table3";
import type { ReceiptProblem } from "../receipts/problem.ts";

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
