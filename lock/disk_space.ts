/**
 * Free disk space, checked before a download so a shortfall is an error up front (huggingface_hub only warns:
 * huggingface_hub#2742, "No error is thrown when model download fails due to insufficient space"), and ENOSPC
 * recognised during a write so it aborts at once instead of being retried (ollama does the same).
 *
 * @module
 */

import { statfsSync } from "node:fs";

/**
 * Bytes available to this (unprivileged) user on the filesystem holding `dir`.
 *
 * @param dir An existing directory.
 * @returns `f_bavail * f_bsize` from statfs(2), or `undefined` when the platform cannot say.
 * @example
 * ```ts
 * import { availableBytes } from "./disk_space.ts";
 * console.log((await availableBytes(Deno.cwd()))! > 0); // true
 * ```
 */
export function availableBytes(dir: string): Promise<number | undefined> {
  try {
    const s = statfsSync(dir);
    return Promise.resolve(Number(s.bavail) * Number(s.bsize));
  } catch {
    return Promise.resolve(undefined);
  }
}

/**
 * Whether an error is "no space left on device" (ENOSPC) or "disk quota exceeded" (EDQUOT).
 *
 * @param e Anything thrown by a write.
 * @returns `true` for those two conditions.
 * @example
 * ```ts
 * import { isNoSpaceError } from "./disk_space.ts";
 * try {
 *   await Deno.writeFile("/dev/full", new Uint8Array(1));
 * } catch (e) {
 *   console.log(isNoSpaceError(e)); // true
 * }
 * ```
 */
export function isNoSpaceError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return code === "ENOSPC" || code === "EDQUOT" || /os error (28|122)\)/.test(e.message);
}
