/**
 * The model cache on disk, content-addressed by the lockfile's SHA-256 (validation spec AC3):
 *
 * ```
 * <root>/                            BITNET_MODEL_CACHE_DIR or ~/.cache/bitnet/models (cache_dir.ts)
 *   CACHEDIR.TAG                     backup tools skip the cache (https://bford.info/cachedir/)
 *   .locks/<sha256>.lock             one lock per entry (entry_lock.ts)
 *   <sha256>/model.gguf              verified bytes; only ever renamed into place after the hash matched
 *   <sha256>/.metadata.json          source URL, size, times, tool version, and the stamp that lets a warm fetch
 *                                    trust the file without re-hashing
 *   <sha256>/model.gguf.partial      bytes of an unfinished download (kept for resume)
 *   <sha256>/model.gguf.partial.json its sidecar: expected sha256/size, URL, validator, bytes done
 *   <sha256>/.error.json             why the last attempt failed (checksum mismatch); removed by the next success
 * ```
 *
 * The stamp is git's index idea: (size, mtime, ctime, inode, device) recorded right after hashing. Any write,
 * `touch`, copy or replacement changes at least one of them, and then the file is re-hashed before it is trusted.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { writeFileAtomic } from "../receipts/write.ts";
import { UnsafeCacheError } from "./errors.ts";

/** File names inside an entry. */
export const CACHE_FILES = {
  model: "model.gguf",
  metadata: ".metadata.json",
  partial: "model.gguf.partial",
  sidecar: "model.gguf.partial.json",
  error: ".error.json",
} as const;

/** Name and version of this tool, recorded in metadata. */
export const TOOL: { readonly name: string; readonly version: string } = {
  name: denoJson.name,
  version: denoJson.version,
};

/** Every path of one cache entry. */
export interface EntryPaths {
  /** Cache root. */
  root: string;
  /** `<root>/<sha256>`. */
  dir: string;
  /** The verified model. */
  model: string;
  /** Its metadata. */
  metadata: string;
  /** Unfinished download. */
  partial: string;
  /** Sidecar of the unfinished download. */
  sidecar: string;
  /** Explanation of the last failure. */
  error: string;
  /** `<root>/.locks/<sha256>.lock`. */
  lock: string;
}

/**
 * Paths of the entry for a SHA-256.
 *
 * @param root Cache root.
 * @param sha256 64 lowercase hex digits (validated by the lockfile; checked again here because it becomes a path).
 * @returns The paths.
 * @throws {TypeError} When `sha256` is not 64 lowercase hex digits.
 * @example
 * ```ts
 * import { entryPaths } from "./cache.ts";
 * console.log(entryPaths("/c", "ab".repeat(32)).model); // /c/abab.../model.gguf
 * ```
 */
export function entryPaths(root: string, sha256: string): EntryPaths {
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    throw new TypeError(`Cannot address a cache entry by "${sha256}": not 64 lowercase hex digits.`);
  }
  const dir = `${root}/${sha256}`;
  return {
    root,
    dir,
    model: `${dir}/${CACHE_FILES.model}`,
    metadata: `${dir}/${CACHE_FILES.metadata}`,
    partial: `${dir}/${CACHE_FILES.partial}`,
    sidecar: `${dir}/${CACHE_FILES.sidecar}`,
    error: `${dir}/${CACHE_FILES.error}`,
    lock: `${root}/.locks/${sha256}.lock`,
  };
}

/** What identifies one version of a file on disk. */
export interface FileStamp {
  /** Bytes. */
  size: number;
  /** Modification time, ms since the epoch (fractional where the filesystem has ns). */
  mtime_ms: number | null;
  /** Status-change time; cannot be set by `touch`, changes on rename, chmod, link. */
  ctime_ms: number | null;
  /** Inode number. */
  ino: number | null;
  /** Device. */
  dev: number | null;
}

/**
 * The stamp of a `Deno.stat` result.
 *
 * @param info File info.
 * @returns Its stamp.
 * @example
 * ```ts
 * import { stampOf } from "./cache.ts";
 * const path = await Deno.makeTempFile();
 * console.log(stampOf(await Deno.stat(path)).size); // 0
 * ```
 */
export function stampOf(info: Deno.FileInfo): FileStamp {
  return {
    size: info.size,
    mtime_ms: info.mtime?.getTime() ?? null,
    ctime_ms: info.ctime?.getTime() ?? null,
    ino: info.ino,
    dev: info.dev,
  };
}

/**
 * Whether two stamps describe the same file version.
 *
 * @param a A stamp.
 * @param b Another stamp.
 * @returns `true` when every field is equal and the times are known.
 * @example
 * ```ts
 * import { sameStamp, stampOf } from "./cache.ts";
 * const path = await Deno.makeTempFile();
 * console.log(sameStamp(stampOf(await Deno.stat(path)), stampOf(await Deno.stat(path)))); // true
 * ```
 */
export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  // Without mtime the stamp proves nothing (Deno returns null where the platform lacks it): re-hash.
  return a.mtime_ms !== null && a.size === b.size && a.mtime_ms === b.mtime_ms && a.ctime_ms === b.ctime_ms &&
    a.ino === b.ino && a.dev === b.dev;
}

/** `.metadata.json` of a cache entry. */
export interface ModelMetadata {
  /** Format of this file. */
  schema_version: "1.0.0";
  /** Lockfile name it was fetched as. */
  name: string;
  /** SHA-256 of `model.gguf`. */
  sha256: string;
  /** Its size. */
  size_bytes: number;
  /** Where the bytes came from (the lockfile url). */
  source_url: string;
  /** HTTP: the URL that served them after redirects (no query string); absent for other sources. */
  final_url?: string;
  /** When it was fetched (RFC 3339). */
  fetched_at: string;
  /** When the hash was last computed and matched. */
  verified_at: string;
  /** Tool that verified it. */
  tool: { name: string; version: string };
  /** Stamp of `model.gguf` right after that verification. */
  stamp: FileStamp;
}

/**
 * Reads `.metadata.json`.
 *
 * @param path Its path.
 * @returns The metadata, or `undefined` when missing or unreadable (then the model is re-hashed, never trusted).
 * @example
 * ```ts
 * import { readMetadata } from "./cache.ts";
 * console.log(await readMetadata("/nonexistent/.metadata.json")); // undefined
 * ```
 */
export async function readMetadata(path: string): Promise<ModelMetadata | undefined> {
  try {
    const m = JSON.parse(await Deno.readTextFile(path));
    return m && typeof m === "object" && m.schema_version === "1.0.0" && m.stamp ? m as ModelMetadata : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses an entry with a symbolic link (or a file where a directory belongs) anywhere the fetcher reads or writes:
 * `.locks/`, the lock file, the entry directory, the model, its metadata, the partial download, its sidecar and the
 * error record. The cache root itself may be a link (a cache moved to another disk). Checked before every use;
 * with the files created O_EXCL or renamed into place this leaves no path through which a planted link is followed,
 * short of a process racing the fetcher in a cache directory others can write (keep the cache private to its user).
 *
 * @param paths Entry paths.
 * @throws {UnsafeCacheError} Naming the path, where it points, and the command that removes it.
 * @example
 * ```ts
 * import { assertSafeEntry, entryPaths } from "./cache.ts";
 * await assertSafeEntry(entryPaths(await Deno.makeTempDir(), "ab".repeat(32))); // nothing there: fine
 * ```
 */
export async function assertSafeEntry(paths: EntryPaths): Promise<void> {
  const dirs = [`${paths.root}/.locks`, paths.dir];
  const files = [paths.lock, paths.model, paths.metadata, paths.partial, paths.sidecar, paths.error];
  for (const path of [...dirs, ...files]) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
      throw e;
    }
    const isDir = dirs.includes(path);
    if (info.isSymlink || (isDir ? !info.isDirectory : !info.isFile)) {
      const target = info.isSymlink ? await Deno.readLink(path).catch(() => "?") : undefined;
      const what = info.isSymlink ? `a symbolic link (to ${target})` : isDir ? "not a directory" : "not a regular file";
      throw new UnsafeCacheError(
        `Cannot use the model cache entry ${paths.dir}: ${path} is ${what}, which the fetcher never creates and ` +
          `will not follow or write through. Fix: remove it (rm ${isDir && !info.isSymlink ? "-r " : ""}'${path}') ` +
          `and run crossval fetch again.`,
        path,
      );
    }
  }
}

const CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n" +
  "# This file is a cache directory tag created by bitnet-crossval (model cache).\n" +
  "# For information about cache directory tags, see: https://bford.info/cachedir/\n";

/**
 * Creates the cache root (and `.locks/`) and marks it with `CACHEDIR.TAG`.
 *
 * @param root Cache root.
 * @throws {Deno.errors.PermissionDenied} When the directory cannot be created.
 * @example
 * ```ts
 * import { ensureCacheRoot } from "./cache.ts";
 * const root = await Deno.makeTempDir();
 * await ensureCacheRoot(root);
 * console.log((await Deno.readTextFile(`${root}/CACHEDIR.TAG`)).startsWith("Signature: ")); // true
 * ```
 */
export async function ensureCacheRoot(root: string): Promise<void> {
  await Deno.mkdir(`${root}/.locks`, { recursive: true });
  // Written once, atomically (two processes may both write it: same bytes); never through a planted symlink.
  const tag = await Deno.lstat(`${root}/CACHEDIR.TAG`).catch(() => undefined);
  if (!tag) await writeFileAtomic(`${root}/CACHEDIR.TAG`, CACHEDIR_TAG);
}

/**
 * Whether an entry's model can be trusted without hashing: metadata for this SHA-256 and size, and the file's
 * current stamp equal to the recorded one.
 *
 * @param paths Entry paths.
 * @param expected Pinned hash and size.
 * @returns `"trusted"`, `"missing"` (no model file), or `"unverified"` (present, but must be re-hashed).
 * @example
 * ```ts
 * import { cachedState, entryPaths } from "./cache.ts";
 * const root = await Deno.makeTempDir();
 * console.log(await cachedState(entryPaths(root, "ab".repeat(32)), { sha256: "ab".repeat(32), size_bytes: 1 }));
 * // "missing"
 * ```
 */
export async function cachedState(
  paths: EntryPaths,
  expected: { sha256: string; size_bytes: number },
): Promise<"trusted" | "missing" | "unverified"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(paths.model);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    throw e;
  }
  const meta = await readMetadata(paths.metadata);
  const ok = meta !== undefined && meta.sha256 === expected.sha256 && meta.size_bytes === expected.size_bytes &&
    info.size === expected.size_bytes && sameStamp(meta.stamp, stampOf(info));
  return ok ? "trusted" : "unverified";
}

/**
 * Records a successful verification of `model.gguf`: metadata with the stamp of the file as it is now, so the
 * next fetch trusts it without hashing. Keeps the original source and fetch time unless `fetchedAt` is given.
 *
 * @param paths Entry paths.
 * @param entry What was verified (name, sha256, size, url).
 * @param options `fetchedAt`: set when the file was just fetched (records `entry.url` as its source);
 *   `finalUrl`: where an HTTP download came from after redirects.
 * @example
 * ```ts
 * import { entryPaths, readMetadata, recordVerified } from "./cache.ts";
 * const root = await Deno.makeTempDir();
 * const entry = { name: "m", sha256: "ab".repeat(32), size_bytes: 5, url: "https://example.com/m.gguf" };
 * const paths = entryPaths(root, entry.sha256);
 * await Deno.mkdir(paths.dir);
 * await Deno.writeTextFile(paths.model, "GGUF!"); // (a real entry's file has that hash)
 * await recordVerified(paths, entry, { fetchedAt: new Date().toISOString() });
 * console.log((await readMetadata(paths.metadata))?.source_url); // "https://example.com/m.gguf"
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function recordVerified(
  paths: EntryPaths,
  entry: { name: string; sha256: string; size_bytes: number; url: string },
  options: { fetchedAt?: string; finalUrl?: string } = {},
): Promise<void> {
  const previous = await readMetadata(paths.metadata);
  const now = new Date().toISOString();
  const meta: ModelMetadata = {
    schema_version: "1.0.0",
    name: entry.name,
    sha256: entry.sha256,
    size_bytes: entry.size_bytes,
    source_url: options.fetchedAt ? entry.url : previous?.source_url ?? entry.url,
    ...(options.fetchedAt
      ? (options.finalUrl ? { final_url: options.finalUrl } : {})
      : (previous?.final_url ? { final_url: previous.final_url } : {})),
    fetched_at: options.fetchedAt ?? previous?.fetched_at ?? now,
    verified_at: now,
    tool: { ...TOOL },
    stamp: stampOf(await Deno.stat(paths.model)),
  };
  await writeFileAtomic(paths.metadata, JSON.stringify(meta, null, 2) + "\n");
}
