/**
 * The ik_llama.cpp reference for tests: its driver, compiled against the build that `tests/setup.ts` puts in the
 * cache (`crossval reference build`). A test that needs it fails, never skips, when it is missing, with the command
 * that builds it; the driver itself is compiled on first use (seconds).
 *
 * @module
 */

import {
  cachedReferenceBuild,
  DriverConnection,
  ensureDriver,
  ikSourceFromEnv,
  type RawFrame,
  type ReferenceDriver,
} from "../ffi/references/mod.ts";

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

/** Start the driver and say hello. */
export async function ikConnection(): Promise<DriverConnection> {
  const c = DriverConnection.start((await ikDriver()).path);
  const hello = await c.request("hello", { protocol: 1, log: "error" });
  if (hello.header.status !== "ok") throw new Error(`hello failed: ${hello.header.message}`);
  return c;
}

/** An `ok` reply, or an error naming what the driver said. */
export function ok(r: RawFrame): RawFrame {
  if (r.header.status !== "ok") throw new Error(`driver error ${r.header.error}: ${r.header.message}`);
  return r;
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
