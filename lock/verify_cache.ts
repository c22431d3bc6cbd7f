/**
 * `--verify-only`: re-hash every selected cached model, whatever its stamp says, and list what is missing,
 * corrupt, or extra (a cache directory that no lockfile model names), like
 * `hf cache verify --fail-on-missing-files --fail-on-extra-files`. Read-only apart from refreshing the stamp of
 * files that verified; it takes no lock (models only appear in the cache by an atomic rename).
 *
 * @module
 */

import { assertSafeEntry, CACHE_FILES, entryPaths, recordVerified } from "./cache.ts";
import { ChecksumMismatchError, ModelNotProvisionedError, UnsafeCacheError } from "./errors.ts";
import type { FetchEvent, ModelReport } from "./events.ts";
import type { LockEntry, Lockfile } from "./lockfile.ts";
import { digestFile } from "./sha256.ts";
import { hashProgress, newReport } from "./_report.ts";

/** Options of {@link verifyEntry}. */
export interface VerifyOptions {
  /** Cache root. */
  cacheDir: string;
  /** Receives events. */
  onEvent?: (event: FetchEvent) => void;
  /** Cancels hashing. */
  signal?: AbortSignal;
  /** Minimum interval between progress events (default 100 ms). */
  progressIntervalMs?: number;
}

/**
 * Re-hashes one cached model.
 *
 * @param entry Lockfile entry.
 * @param options Cache root, events, signal.
 * @returns A report with status `verified`, `missing` or `corrupt` (with the error).
 * @example
 * ```ts
 * import { defaultLockfilePath, fetchModel, Lockfile, verifyEntry } from "./mod.ts";
 * const cacheDir = await Deno.makeTempDir();
 * const entry = (await Lockfile.load(defaultLockfilePath())).entry("ci-tiny")!;
 * console.log((await verifyEntry(entry, { cacheDir })).status); // "missing"
 * await fetchModel(entry, { cacheDir });
 * console.log((await verifyEntry(entry, { cacheDir })).status); // "verified"
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function verifyEntry(entry: LockEntry, options: VerifyOptions): Promise<ModelReport> {
  const t0 = performance.now();
  const paths = entryPaths(options.cacheDir, entry.sha256);
  const emit = (e: FetchEvent) => options.onEvent?.(e);
  const report = newReport(entry, paths.model, "verified");
  const done = (r: ModelReport): ModelReport => {
    r.seconds = (performance.now() - t0) / 1000;
    if (r.error) emit({ type: "error", model: entry.name, error: r.error.name, message: r.error.message });
    emit({ type: "done", model: entry.name, status: r.status, path: r.path, bytes_transferred: 0, seconds: r.seconds });
    return r;
  };
  try {
    await assertSafeEntry(paths);
  } catch (e) {
    if (!(e instanceof UnsafeCacheError)) throw e;
    report.status = "corrupt";
    report.error = e;
    return done(report);
  }
  try {
    await Deno.stat(paths.model);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    report.status = "missing";
    report.error = new ModelNotProvisionedError(
      entry.name,
      `${paths.model} does not exist`,
      `crossval fetch --model ${entry.name}`,
    );
    return done(report);
  }
  const hashT0 = performance.now();
  const { sha256, bytes } = await digestFile(paths.model, {
    signal: options.signal,
    onProgress: hashProgress(entry, options, "verify"),
  });
  if (sha256 !== entry.sha256 || bytes !== entry.size_bytes) {
    report.status = "corrupt";
    report.error = new ChecksumMismatchError({
      model: entry.name,
      url: paths.model,
      expectedSha256: entry.sha256,
      actualSha256: sha256,
      expectedSize: entry.size_bytes,
      actualSize: bytes,
    });
    return done(report);
  }
  // Verified: refresh the stamp so the next warm fetch trusts the file again without hashing.
  await recordVerified(paths, entry);
  emit({ type: "verified", model: entry.name, sha256, bytes, seconds: (performance.now() - hashT0) / 1000 });
  return done(report);
}

/**
 * Cache entries no lockfile model names: directories of the cache root other than `.locks`, and any other
 * unexpected file. Entries of models outside the selected tier are not extra.
 *
 * @param lock The lockfile (all its models count, whatever was selected).
 * @param cacheDir Cache root.
 * @returns Absolute paths, sorted.
 * @example
 * ```ts
 * import { defaultLockfilePath, extraEntries, Lockfile } from "./mod.ts";
 * const cacheDir = await Deno.makeTempDir();
 * await Deno.mkdir(`${cacheDir}/${"0".repeat(64)}`); // an entry of a model no lockfile names
 * console.log(await extraEntries(await Lockfile.load(defaultLockfilePath()), cacheDir)); // [".../000...0"]
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function extraEntries(lock: Lockfile, cacheDir: string): Promise<string[]> {
  const known = new Set(lock.models.map((m) => m.sha256));
  const extra: string[] = [];
  try {
    for await (const e of Deno.readDir(cacheDir)) {
      if (e.name === "CACHEDIR.TAG" || e.name === ".locks") continue;
      if (e.isDirectory && known.has(e.name)) {
        // Inside a known entry, only our own files are expected.
        const allowed = new Set<string>(Object.values(CACHE_FILES));
        for await (const f of Deno.readDir(`${cacheDir}/${e.name}`)) {
          if (!allowed.has(f.name) && !f.name.endsWith(".tmp")) extra.push(`${cacheDir}/${e.name}/${f.name}`);
        }
        continue;
      }
      extra.push(`${cacheDir}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return extra.sort();
}
