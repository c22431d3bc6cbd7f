/**
 * What a dead reference child leaves behind, made readable: {@link ReferenceCrashedError} (the typed error the
 * supervisor raises) and {@link nativeFailure}, which finds the native message and its `file:line` in the child's
 * last stderr lines. ggml reports an assertion as `<file>:<line>: GGML_ASSERT(<expr>) failed` before `abort()`
 * (`ggml_abort`, `ggml/src/ggml.c`); an uncaught C++ exception as `terminate called after throwing an instance of
 * '<type>'` followed by `  what():  <message>` (libstdc++'s verbose terminate handler).
 *
 * @module
 */

/** How the child ended (PROTOCOL.md section 6). */
export type CrashKind = "abort" | "signal" | "exit" | "timeout" | "memory" | "protocol";

/** The facts of one crash. */
export interface CrashReport {
  /** How it ended. */
  readonly kind: CrashKind;
  /** The request in flight (`load`, `eval`, ...), or null when the child died between requests. */
  readonly op: string | null;
  /** Its sequence number, or null. */
  readonly seq: number | null;
  /** Exit status, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** Signal name (`SIGABRT`), or null. */
  readonly signal: string | null;
  /** The native message (`GGML_ASSERT(eps >= 0.0f) failed`), else the best line of stderr, else a description. */
  readonly message: string;
  /** `file:line` of the native failure, shortened (`ggml-cpu/ops.cpp:3949`), or null when none was printed. */
  readonly location: string | null;
  /** The last lines of the child's stderr. */
  readonly stderrTail: readonly string[];
  /** The child's pid. */
  readonly pid: number | null;
  /** How long the request had been running, ms (0 when none was). */
  readonly wallMs: number;
  /** The model the child was working on, when known. */
  readonly modelPath: string | null;
  /** The library the child had loaded (from `hello`), or null when it died before saying. */
  readonly reference: {
    readonly library: string;
    readonly release: string;
    readonly version: string;
    readonly commit: string;
    readonly ggmlCommit: string;
    readonly source: string;
    readonly backend: string;
  } | null;
}

const ABORT_LINE = /^(.+?):(\d+): (.+)$/;
const WHAT_LINE = /^\s*what\(\):\s*(.+)$/;
const ALLOC_FAILURE = /std::bad_alloc|cannot allocate memory|failed to allocate|out of memory/i;

/**
 * Shorten a source path as ggml prints it (`__FILE__`, often an absolute build path) to the part after the last
 * `/ggml/src/` or `/src/`: `/home/ci/llama.cpp/ggml/src/ggml-cpu/ops.cpp` becomes `ggml-cpu/ops.cpp`.
 *
 * @param file The path.
 * @returns The short form.
 */
export function shortSourcePath(file: string): string {
  const g = file.lastIndexOf("/ggml/src/");
  if (g >= 0) return file.slice(g + "/ggml/src/".length);
  const s = file.lastIndexOf("/src/");
  if (s >= 0) return file.slice(s + "/src/".length);
  return file.replace(/^.*\/(?=[^/]+\/[^/]+$)/, "");
}

/**
 * Find the native failure in a child's last stderr lines.
 *
 * @param tail stderr lines, oldest first.
 * @returns The message and location (null when no `file:line:` line was printed), and whether it reads as an
 *   allocation failure.
 * @example
 * ```ts
 * import { nativeFailure } from "./ref_crash.ts";
 * nativeFailure(["/b/llama.cpp/ggml/src/ggml-cpu/ops.cpp:3949: GGML_ASSERT(eps >= 0.0f) failed"]);
 * // { message: "GGML_ASSERT(eps >= 0.0f) failed", location: "ggml-cpu/ops.cpp:3949", allocation: false }
 * ```
 */
export function nativeFailure(
  tail: readonly string[],
): { message: string | null; location: string | null; allocation: boolean } {
  const allocLine = [...tail].reverse().find((l) => ALLOC_FAILURE.test(l));
  const allocation = allocLine !== undefined;
  for (let i = tail.length - 1; i >= 0; i--) {
    const m = ABORT_LINE.exec(tail[i]);
    // A ggml_abort line names a C/C++ source file; other `a:1: b` lines (URLs, timestamps) do not.
    if (m && /\.(?:c|cc|cpp|cxx|h|hpp|cu|m)$/.test(m[1])) {
      return { message: m[3].trim(), location: `${shortSourcePath(m[1])}:${m[2]}`, allocation };
    }
  }
  for (let i = tail.length - 1; i >= 0; i--) {
    const m = WHAT_LINE.exec(tail[i]);
    if (m) {
      const thrown = tail.slice(0, i).reverse().find((l) => /terminate called after throwing/.test(l));
      const type = thrown ? /instance of '([^']+)'/.exec(thrown)?.[1] : undefined;
      return { message: type ? `${type}: ${m[1].trim()}` : m[1].trim(), location: null, allocation };
    }
  }
  return { message: allocLine?.trim().replace(/^#\s*/, "") ?? null, location: null, allocation };
}

/** The reference child died (crash, abort, signal), hung past its deadline, or outgrew its memory limit. */
export class ReferenceCrashedError extends Error {
  /** The facts, for receipts. */
  readonly report: CrashReport;

  /**
   * Creates the error; the message says what ended the child, where, and what it was doing.
   *
   * @param report The facts.
   */
  constructor(report: CrashReport) {
    const how = report.kind === "timeout"
      ? `did not answer within its deadline and was killed`
      : report.kind === "memory"
      ? `outgrew its memory limit`
      : report.kind === "protocol"
      ? `broke the protocol`
      : report.signal
      ? `was killed by ${report.signal}`
      : `exited with status ${report.exitCode}`;
    const where = report.location ? ` at ${report.location}` : "";
    const doing = report.op ? ` during "${report.op}"` : "";
    const model = report.modelPath ? ` on "${report.modelPath}"` : "";
    const fix = report.kind === "timeout"
      ? "Raise the deadline or use a smaller model"
      : report.kind === "memory"
      ? "Raise the memory limit or use a smaller context"
      : report.kind === "protocol"
      ? "The driver program is broken or something wrote to its stdout; report it with the lines above"
      : `The reference library itself failed on this input (this tool survived it); check the model with: ` +
        `crossval inspect ${report.modelPath ?? "<model>"}`;
    super(`The reference process ${how}${doing}${model}: ${report.message}${where}. ${fix}`);
    this.name = "ReferenceCrashedError";
    this.report = report;
  }
}
