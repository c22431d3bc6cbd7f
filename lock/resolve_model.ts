/**
 * Where every other part of the project gets its model file: `BITNET_GGUF` (a path, for any name) wins, else the
 * lockfile model in the cache. A miss throws {@link ModelNotProvisionedError} whose message holds the exact
 * command that provisions the model (validation spec AC23/AC24: tests that need a model fail with the fix, never skip).
 *
 * @module
 */

import { assertSafeEntry, cachedState, entryPaths, recordVerified } from "./cache.ts";
import { type EnvReader, modelCacheDir } from "./cache_dir.ts";
import { ModelNotProvisionedError } from "./errors.ts";
import { defaultLockfilePath, type LockEntry, Lockfile } from "./lockfile.ts";
import { digestFile } from "./sha256.ts";

/** A resolved model file. */
export interface ResolvedModel {
  /** The GGUF path. */
  path: string;
  /** Where it came from. */
  source: "BITNET_GGUF" | "cache";
  /** Its SHA-256 when known without hashing (cache: the lockfile's; BITNET_GGUF: null). */
  sha256: string | null;
  /** The lockfile entry (cache only). */
  entry: LockEntry | null;
}

/** Options of {@link resolveModel}. */
export interface ResolveModelOptions {
  /** A loaded lockfile or its path (default {@link defaultLockfilePath}). */
  lockfile?: Lockfile | string;
  /** Cache root (default `modelCacheDir()`). */
  cacheDir?: string;
  /** Environment reader (default `Deno.env.get`), for `BITNET_GGUF` and the cache variables. */
  env?: EnvReader;
}

/**
 * Finds the file of a lockfile model.
 *
 * @param name Lockfile model name (e.g. `ci-tiny`).
 * @param options Lockfile, cache root, environment.
 * @returns The path and how it was found. A cached file whose stamp changed is re-hashed first.
 * @throws {ModelNotProvisionedError} When `BITNET_GGUF` names a missing file, or the model is not cached (or is
 *   corrupt); the message contains `crossval fetch --model <name>` and `crossval fetch --tier <tier>`.
 * @throws {RangeError} When the lockfile has no model of that name.
 * @throws {LockfileError} When the lockfile is invalid.
 * @example
 * ```ts
 * import { resolveModel } from "./resolve_model.ts";
 * import { fetchModels } from "./fetch_models.ts";
 * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
 * const cacheDir = await Deno.makeTempDir();
 * const env = () => undefined; // ignore BITNET_GGUF and the cache variables of this shell
 * await resolveModel("ci-tiny", { cacheDir, env }).catch((e) => console.log(e.name)); // ModelNotProvisionedError
 * await fetchModels(await Lockfile.load(defaultLockfilePath()), { model: "ci-tiny", cacheDir });
 * const { path } = await resolveModel("ci-tiny", { cacheDir, env });
 * console.log(path.endsWith("/model.gguf")); // true
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function resolveModel(name: string, options: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const env = options.env ?? ((n: string) => Deno.env.get(n));
  const override = env("BITNET_GGUF");
  if (override) {
    try {
      const info = await Deno.stat(override);
      if (!info.isFile) throw new Deno.errors.NotFound(override);
    } catch {
      throw new ModelNotProvisionedError(
        name,
        `BITNET_GGUF is set to "${override}", which is not a file`,
        `unset BITNET_GGUF (to use the cache) or point it at a GGUF file`,
      );
    }
    return { path: override, source: "BITNET_GGUF", sha256: null, entry: null };
  }
  const lock = options.lockfile instanceof Lockfile
    ? options.lockfile
    : await Lockfile.load(options.lockfile ?? defaultLockfilePath());
  const entry = lock.entry(name);
  if (!entry) {
    throw new RangeError(
      `Unknown model "${name}": ${lock.source} lists ${lock.models.map((m) => m.name).join(", ")}. ` +
        `Pass one of those names or a GGUF path, or add the model to the lockfile.`,
    );
  }
  const root = options.cacheDir ?? modelCacheDir(env);
  const paths = entryPaths(root, entry.sha256);
  const fix = `crossval fetch --model ${entry.name} (or the whole tier: crossval fetch --tier ${entry.tier})`;
  await assertSafeEntry(paths);
  const state = await cachedState(paths, entry);
  if (state === "missing") {
    throw new ModelNotProvisionedError(entry.name, `it is not in the cache (${paths.model})`, fix);
  }
  if (state === "unverified") {
    const { sha256, bytes } = await digestFile(paths.model);
    if (sha256 !== entry.sha256 || bytes !== entry.size_bytes) {
      throw new ModelNotProvisionedError(
        entry.name,
        `the cached ${paths.model} is corrupt (sha256 ${sha256}, ${bytes} bytes; the lockfile pins ${entry.sha256}, ` +
          `${entry.size_bytes} bytes)`,
        fix,
      );
    }
    await recordVerified(paths, entry).catch(() => {}); // a read-only cache still resolves
  }
  return { path: paths.model, source: "cache", sha256: entry.sha256, entry };
}
