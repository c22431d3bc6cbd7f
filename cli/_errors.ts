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
]);

/** ENOSPC, EROFS, EDQUOT: Deno reports them as plain `Error`s carrying the OS error number. */
const ENVIRONMENT_OS_ERRORS = /\(os error (28|30|122)\)/;

/**
 * Exit code for an error: its own `exitCode` when it has one, 2 for usage and environment errors
 * (missing file, missing library, missing permission, a path in the way, a full or read-only disk), else 1.
 */
export function exitCodeOf(e: unknown): number {
  if (e && typeof e === "object" && "exitCode" in e && typeof e.exitCode === "number") return e.exitCode;
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
