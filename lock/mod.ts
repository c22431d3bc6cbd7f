/**
 * The model fetcher: lockfile, content-addressed cache, resumable verified downloads, entry locks, and model
 * resolution for the rest of the project.
 *
 * @example
 * ```ts
 * import { defaultLockfilePath, fetchModels, Lockfile, resolveModel } from "./mod.ts";
 * const cacheDir = await Deno.makeTempDir(); // the default is ~/.cache/bitnet/models
 * const lock = await Lockfile.load(defaultLockfilePath());
 * const report = await fetchModels(lock, { model: "ci-tiny", cacheDir }); // a generated model: no network
 * const { path } = await resolveModel("ci-tiny", { lockfile: lock, cacheDir, env: () => undefined });
 * console.log(report.ok, path === report.models[0].path); // true true
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 *
 * @module
 */
export { cacheRoot, type EnvReader, modelCacheDir } from "./cache_dir.ts";
export {
  assertSafeEntry,
  CACHE_FILES,
  cachedState,
  type EntryPaths,
  entryPaths,
  type FileStamp,
  type ModelMetadata,
  readMetadata,
} from "./cache.ts";
export { availableBytes, isNoSpaceError } from "./disk_space.ts";
export { type AcquireLockOptions, EntryLock, type LockMode, type LockOwner, type RecoveredLock } from "./entry_lock.ts";
export {
  type ChecksumMismatchDetails,
  ChecksumMismatchError,
  DownloadError,
  InsufficientSpaceError,
  LockfileError,
  ModelNotProvisionedError,
  UnsafeCacheError,
} from "./errors.ts";
export type { FetchEvent, FetchReport, ModelReport, ModelStatus, ProgressPhase } from "./events.ts";
export { fetchModel, type FetchModelOptions } from "./fetch_model.ts";
export { fetchModels, type FetchOptions } from "./fetch_models.ts";
export {
  defaultLockfilePath,
  type LockEntry,
  Lockfile,
  LOCKFILE_NAME,
  type LockfileJson,
  type Tier,
  TIERS,
} from "./lockfile.ts";
export { type PartialSidecar, readSidecar } from "./partial.ts";
export { type ResolvedModel, resolveModel, type ResolveModelOptions } from "./resolve_model.ts";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";
export { digestFile, EMPTY_SHA256, sha256File, type Sha256FileOptions } from "./sha256.ts";
export { needsNetwork, parseSource, type Source } from "./source.ts";
export { extraEntries, verifyEntry, type VerifyOptions } from "./verify_cache.ts";
