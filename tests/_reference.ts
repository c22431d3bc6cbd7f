/**
 * The ik_llama.cpp reference for tests: its driver, compiled against the build that `tests/setup.ts` puts in the
 * cache (`crossval reference build`), run under the supervisor (`ffi/ref_process.ts`) as every production path runs
 * it. A test that needs it fails, never skips, when it is missing, with the command that builds it; the driver
 * itself is compiled on first use (seconds).
 *
 * @module
 */

import { cachedReferenceBuild, ensureDriver, ikSourceFromEnv, type ReferenceDriver } from "../ffi/references/mod.ts";
import type { Frame } from "../ffi/ref_protocol.ts";
import { ReferenceProcess, type ReferenceProcessOptions } from "../ffi/ref_process.ts";

let driver: Promise<ReferenceDriver> | undefined;

/** The compiled driver of the cached ik_llama.cpp build. */
export function ikDriver(): Promise<ReferenceDriver> {
  driver ??= (async () => {
    const source = await ikSourceFromEnv(); // throws naming the archive and how to provide it
    const build = await cachedReferenceBuild(source);
    if (!build) {
      throw new Error(
        `The ik_llama.cpp reference is not built on this machine (source ${source.kind}, key ${
          source.kind === "archive" ? source.sha256 : source.commit
        }). Build it once with: deno task crossval reference build (or: deno run -A tests/setup.ts)`,
      );
    }
    return await ensureDriver(build);
  })();
  return driver;
}

/** Start the driver under the supervisor (it says hello before this returns). Close it with `await using`. */
export async function ikConnection(opts: ReferenceProcessOptions = {}): Promise<ReferenceProcess> {
  return await ReferenceProcess.spawn({ log: "error", ...opts, driver: { cmd: (await ikDriver()).path, args: [] } });
}

/** A reply frame (the supervisor already turned an error reply into a thrown error with its protocol `code`). */
export function ok(r: Frame): Frame {
  if (r.header.status !== "ok") throw new Error(`driver error ${r.header.error}: ${r.header.message}`);
  return r;
}

/** The protocol error code of a request that must fail with an error reply (not a crash). */
export async function errorCode(p: Promise<Frame>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === undefined) throw e;
    return code;
  }
  throw new Error("the request succeeded where an error reply was expected");
}

/** A payload as i32 ids / f32 values. */
export function i32(p: Uint8Array): Int32Array {
  return new Int32Array(p.slice().buffer);
}

/** See {@link i32}. */
export function f32(p: Uint8Array): Float32Array {
  return new Float32Array(p.slice().buffer);
}

/** Token ids as a payload. */
export function idsPayload(ids: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Int32Array.from(ids).buffer);
}
