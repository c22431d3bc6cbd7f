/**
 * Number and identity formatting for the report: the same precision rules everywhere (tokens/s as llama-bench
 * prints them, metrics with enough digits to see a gate, hashes shortened with the full value on hover).
 *
 * @module
 */

/**
 * A number with `digits` significant digits; exponent form for very small or large magnitudes; `–` for null/NaN.
 *
 * @param x The value.
 * @param digits Significant digits (default 4).
 * @returns Text.
 * @example
 * ```ts
 * import { num } from "./format.ts";
 * console.log(num(0.000012345), num(0), num(null)); // 1.234e-5 0 –
 * ```
 */
export function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return x === Infinity ? "∞" : "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e7) return x.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e");
  return String(Number(x.toPrecision(digits)));
}

/**
 * Tokens per second as llama-bench prints them: one decimal from 100 up, else three significant digits.
 *
 * @param x Tokens/s.
 * @returns Text.
 */
export function tps(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(2) : x.toPrecision(3);
}

/**
 * A fraction as a percentage.
 *
 * @param x Fraction (0.5 = 50%).
 * @param decimals Decimals (default 1).
 * @returns Text, `–` for null.
 */
export function pct(x: number | null | undefined, decimals = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return `${(x * 100).toFixed(decimals)}%`;
}

/**
 * A size in binary units.
 *
 * @param n Bytes.
 * @returns `1.32 MiB`.
 */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/**
 * A parameter count as llama-bench prints it (`3.41 M`, `2.41 B`).
 *
 * @param n Parameters.
 * @returns Text.
 */
export function params(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;
}

/**
 * The first 12 characters of a hash or commit.
 *
 * @param s Hash, commit, or null.
 * @returns Short form, `–` for null.
 */
export function short(s: string | null | undefined): string {
  if (!s) return "–";
  return s.length > 12 ? s.slice(0, 12) : s;
}

/**
 * The last path segment.
 *
 * @param path File path.
 * @returns File name.
 */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1) || path;
}
