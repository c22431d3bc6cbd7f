/**
 * How the CLI turns errors into messages and exit codes.
 *
 * @module
 */

import { styleText } from "node:util";

/** A usage mistake (bad flag combination, missing input): exit code 2. */
export class UsageError extends Error {
  /** Exit code for usage errors. */
  readonly exitCode = 2;
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const ENVIRONMENT_ERRORS = new Set([
  "LibraryLoadError",
  "UsageError",
  "PermissionDenied",
  "NotFound",
  "AlreadyExists",
  "IsADirectory",
  "NotADirectory",
  "InsufficientSpaceError",
  "UnsafeCacheError",
  // A model whose metadata fails pre-flight (engine/gguf/preflight.ts): the input is unusable, nothing was checked.
  "InvalidModelError",
]);

/** ENOSPC, EROFS, EDQUOT: Deno reports them as plain `Error`s carrying the OS error number. */
const ENVIRONMENT_OS_ERRORS = /\(os error (28|30|122)\)/;

/**
 * Exit code when the reference (llama.cpp in its supervised child process) crashed: aborted, was killed by a
 * signal, hung past its deadline or outgrew its memory limit. Neither 1 (our engine is not shown wrong: nothing was
 * compared) nor 2 (the setup is fine: the reference library itself failed on this input), and below 126, where
 * shells put their own meanings (126/127 not runnable, 128+n killed by signal n: 134 is what an abort inside the
 * tool's own process used to give).
 */
export const EXIT_REFERENCE_CRASHED = 3;

/**
 * Exit code for an error: its own `exitCode` when it has one, 2 for usage and environment errors
 * (missing file, missing library, missing permission, a path in the way, a full or read-only disk), 3 for a crashed
 * reference process, else 1.
 */
export function exitCodeOf(e: unknown): number {
  if (e && typeof e === "object" && "exitCode" in e && typeof e.exitCode === "number") return e.exitCode;
  if (e instanceof Error && e.name === "ReferenceCrashedError") return EXIT_REFERENCE_CRASHED;
  if (e instanceof Error && ENVIRONMENT_ERRORS.has(e.name)) return 2;
  if (e instanceof Error && ENVIRONMENT_OS_ERRORS.test(e.message)) return 2;
  return 1;
}

/** One readable line (plus the cause chain) for an error; stack traces only with `CROSSVAL_DEBUG=1`. */
export function formatError(e: unknown): string {
  if (!(e instanceof Error)) return `${styleText("red", "error:")} ${String(e)}`;
  if (Deno.env.get("CROSSVAL_DEBUG") === "1") return e.stack ?? e.message;
  let msg = `${styleText("red", "error:")} ${e.message}`;
  let cause = e.cause;
  while (cause instanceof Error && !e.message.includes(cause.message)) {
    msg += `\n  caused by: ${cause.message}`;
    cause = cause.cause;
  }
  return msg;
}
