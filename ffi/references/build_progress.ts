/**
 * Progress of a CMake build from its output lines: Ninja's `[12/115] Building CXX object ...` and Make's
 * `[ 45%] Building CXX object ...`. Pure: the builder feeds lines, the tracker says where the build stands.
 *
 * @module
 */

/** Where a build stands. */
export interface BuildProgress {
  /** Steps finished (Ninja), or the percentage times `total / 100` (Make). */
  readonly done: number;
  /** Steps in all (Ninja), or 100 (Make). */
  readonly total: number;
  /** What the last line said it is doing (`ggml/src/iqk/iqk_mul_mat.cpp.o`), or `""`. */
  readonly current: string;
}

const NINJA = /^\[(\d+)\/(\d+)\]\s+(.*)$/;
const MAKE = /^\[\s*(\d+)%\]\s+(.*)$/;

/**
 * Parse one line of build output.
 *
 * @param line A line (without its newline).
 * @returns The progress it reports, or null for other lines (compiler warnings, notes).
 * @example
 * ```ts
 * import { parseBuildLine } from "./build_progress.ts";
 * console.log(parseBuildLine("[3/115] Building C object ggml/src/CMakeFiles/ggml.dir/ggml.c.o"));
 * // { done: 3, total: 115, current: "ggml/src/CMakeFiles/ggml.dir/ggml.c.o" }
 * ```
 */
export function parseBuildLine(line: string): BuildProgress | null {
  const n = NINJA.exec(line);
  if (n) return { done: Number(n[1]), total: Number(n[2]), current: objectName(n[3]) };
  const m = MAKE.exec(line);
  if (m) return { done: Number(m[1]), total: 100, current: objectName(m[2]) };
  return null;
}

/** The object or target a build line names (its last word), without the CMake prefix. */
function objectName(rest: string): string {
  const last = rest.trim().split(/\s+/).pop() ?? "";
  return last.replace(/CMakeFiles\/[^/]+\.dir\//, "");
}

/**
 * Estimated seconds left, from the rate so far. Steps are not equal (a few IQK kernel files take most of the time),
 * so the estimate is rough; null until two steps are done.
 *
 * @param p Current progress.
 * @param elapsedS Seconds since the build step started.
 * @returns Seconds left, or null.
 * @example
 * ```ts
 * import { etaSeconds } from "./build_progress.ts";
 * console.log(etaSeconds({ done: 50, total: 100, current: "" }, 60)); // 60
 * ```
 */
export function etaSeconds(p: BuildProgress, elapsedS: number): number | null {
  if (p.done < 2 || elapsedS <= 0 || p.total <= 0) return null;
  return Math.max(0, (elapsedS / p.done) * (p.total - p.done));
}
