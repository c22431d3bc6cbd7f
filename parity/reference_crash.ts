/**
 * A dead reference process, as a parity receipt records it: {@link referenceCrashError} turns the supervisor's
 * `ReferenceCrashedError` into the receipt's `reference.error` (kind `crashed`, with the native message, its
 * `file:line`, the exit status or signal and the last stderr lines), and {@link crashedReference} fills the
 * receipt's reference block from what the process said in `hello` before it died.
 *
 * @module
 */

import type { ReferenceCrashedError } from "../ffi/ref_crash.ts";
import type { ReferenceCrashJson, ReferenceInfo } from "../receipts/parity_receipt.ts";

/**
 * The receipt's crash record.
 *
 * @param e The supervisor's error.
 * @returns The JSON block (`reference.error.crash`).
 */
export function crashJson(e: ReferenceCrashedError): ReferenceCrashJson {
  const r = e.report;
  return {
    kind: r.kind,
    op: r.op,
    exit_code: r.exitCode,
    signal: r.signal,
    message: r.message,
    location: r.location,
    stderr_tail: [...r.stderrTail],
  };
}

/**
 * The receipt's `reference.error` for a crash.
 *
 * @param e The supervisor's error.
 * @param message The sentence to record (default: the error's message).
 * @returns `{ kind: "crashed", message, crash }`.
 * @example
 * ```ts
 * import { ReferenceCrashedError, ReferenceProcess } from "../ffi/mod.ts";
 * import { referenceCrashError } from "./reference_crash.ts";
 * await using ref = await ReferenceProcess.spawn();
 * Deno.kill(ref.pid, "SIGKILL"); // (a llama.cpp abort records its `file:line` in `crash.location`)
 * const crashed = await ref.request("info").catch((e: ReferenceCrashedError) => e);
 * const error = referenceCrashError(crashed as ReferenceCrashedError);
 * console.log(error.kind, error.crash.kind, error.crash.signal); // "crashed" "signal" "SIGKILL"
 * ```
 */
export function referenceCrashError(
  e: ReferenceCrashedError,
  message: string = e.message,
): NonNullable<ReferenceInfo["error"]> & { readonly crash: ReferenceCrashJson } {
  return { kind: "crashed", message, crash: crashJson(e) };
}

/**
 * The reference block of a receipt whose reference died before it could describe its model: the library's
 * identity from `hello` when the process got that far, else nulls.
 *
 * @param e The supervisor's error.
 * @param fallback The block to use for what the crash does not know.
 * @returns The block.
 */
export function crashedReference(
  e: ReferenceCrashedError,
  fallback: Omit<ReferenceInfo, "ran" | "error" | "timeout_ms">,
): Omit<ReferenceInfo, "ran" | "error" | "timeout_ms"> {
  const id = e.report.reference;
  if (!id) return fallback;
  return {
    ...fallback,
    release: id.release,
    version: id.version,
    commit: id.commit,
    ggml_commit: id.ggmlCommit,
    source: id.source,
    backend: id.backend,
  };
}
