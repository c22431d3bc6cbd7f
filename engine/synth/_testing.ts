/**
 * Generated models for tests (beside their sources and in `tests/`). Each distinct spec is generated once per test process into a temporary directory
 * (tiny models take milliseconds), so a test never depends on a stale cache or on the network. And scratch
 * directories that are removed whatever the test does ({@link withTempDir}).
 *
 * @module
 */

import { normalizeSpec, specToQuery, type SynthSpec, writeSyntheticModel } from "./mod.ts";

let dir: string | undefined;
const made = new Map<string, Promise<string>>();

/**
 * Path of a generated model for `spec` (defaults: tiny, bitnet, tq2_0, f16, seed 1).
 *
 * @param spec Fields of the synthetic-model spec to override.
 * @returns Path to a GGUF file that stays valid until the process exits.
 */
export function fixtureModel(spec: Partial<SynthSpec> = {}): Promise<string> {
  const full = normalizeSpec(spec);
  const key = specToQuery(full) + (full.vocab ? `&vocab=${full.vocab}` : "");
  let p = made.get(key);
  if (!p) {
    p = (async () => {
      dir ??= await Deno.makeTempDir({ prefix: "crossval-fixtures-" });
      const path = `${dir}/${made.size}-${key.replace(/[^a-z0-9]+/gi, "_").slice(0, 100)}.gguf`;
      await writeSyntheticModel(path, full);
      return path;
    })();
    made.set(key, p);
  }
  return p;
}

/**
 * Run `fn` in a fresh temporary directory, removed afterwards whether `fn` succeeds or throws.
 *
 * @param prefix Name prefix of the directory (say which test made it).
 * @param fn The work; receives the directory's path.
 */
export async function withTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

globalThis.addEventListener("unload", () => {
  if (dir) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // best effort: the OS cleans temp dirs eventually
    }
  }
});
