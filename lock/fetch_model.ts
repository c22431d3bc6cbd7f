/**
 * Fetching one lockfile model into the cache: the whole life of a cache entry, top to bottom.
 *
 * 1. Fast path, no lock: `model.gguf` whose stamp equals the one recorded after its last verification is
 *    trusted (a warm fetch is a few `stat`s, no hashing, no network).
 * 2. Take the entry lock (`entry_lock.ts`), then look again: another process may have finished meanwhile.
 *    A present file whose stamp changed is re-hashed; if it is corrupt it is discarded and fetched again.
 * 3. Resume state: a partial whose sidecar names the same SHA-256, size and URL keeps its synced bytes,
 *    which are re-hashed; anything else is discarded.
 * 4. Disk space: the remaining bytes plus headroom must be free, or the fetch fails before transferring.
 * 5. Transfer into the partial while hashing: HTTP (`http_download.ts`), a local file copy, or the generator.
 * 6. Verify: the SHA-256 (and size) must equal the lockfile's. On mismatch the partial is deleted and
 *    `.error.json` explains what happened; nothing else remains.
 * 7. Only now: rename into `model.gguf`, sync the directory, record metadata and the stamp.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  assertSafeEntry,
  cachedState,
  ensureCacheRoot,
  type EntryPaths,
  entryPaths,
  recordVerified,
  TOOL,
} from "./cache.ts";
import { writeFileAtomic } from "../receipts/write.ts";
import { modelCacheDir } from "./cache_dir.ts";
import { availableBytes as statfsAvailable, isNoSpaceError } from "./disk_space.ts";
import { type AcquireLockOptions, EntryLock } from "./entry_lock.ts";
import { ChecksumMismatchError, DownloadError, InsufficientSpaceError } from "./errors.ts";
import type { FetchEvent, ModelReport } from "./events.ts";
import { generateModelFile } from "./generate_source.ts";
import { httpDownload } from "./http_download.ts";
import type { LockEntry } from "./lockfile.ts";
import { PartialWriter, readSidecar } from "./partial.ts";
import { hashProgress, newReport, progressEmitter } from "./_report.ts";
import { DEFAULT_RETRY, type RetryPolicy } from "./retry.ts";
import { digestFile, hashFilePrefix } from "./sha256.ts";
import { needsNetwork, parseSource, type Source } from "./source.ts";

/** Options of {@link fetchModel} (and of `fetchModels`). */
export interface FetchModelOptions {
  /** Cache root (default `modelCacheDir()`: `BITNET_MODEL_CACHE_DIR`, ...). */
  cacheDir?: string;
  /** Discard the cached model and any partial, and fetch again. */
  force?: boolean;
  /** Make no HTTP requests: `file:` and `generate:` sources still work; missing network models fail. */
  offline?: boolean;
  /** Receives progress events. */
  onEvent?: (event: FetchEvent) => void;
  /** Cancels the fetch; a partial download is kept (checkpointed) for resume. */
  signal?: AbortSignal;
  /** Retry policy overrides (tests shrink the delays). */
  retry?: Partial<RetryPolicy>;
  /** No byte for this long aborts and retries the request (default 30 000 ms). */
  stallMs?: number;
  /** Response headers must arrive within this (default 30 000 ms). */
  requestTimeoutMs?: number;
  /** Free space required beyond the remaining bytes (default 64 MiB). */
  headroomBytes?: number;
  /** Free-space probe (default statfs); tests inject a limit. */
  availableBytes?: (dir: string) => Promise<number | undefined>;
  /** Entry lock settings (mode, timeouts). */
  lock?: Omit<AcquireLockOptions, "signal" | "onWait">;
  /** Minimum interval between progress events (default 100 ms). */
  progressIntervalMs?: number;
}

const DEFAULT_HEADROOM = 64 << 20;

async function removeQuietly(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => Deno.remove(p).catch(() => {})));
}

/**
 * The error to report for a cache that cannot be written, or undefined for any other error: a read-only
 * filesystem (EROFS) or a missing permission, or a full disk (as {@link InsufficientSpaceError}).
 */
function unwritableCacheError(e: unknown, root: string): Error | undefined {
  if (!(e instanceof Error)) return undefined;
  const fix = "Fix: point BITNET_MODEL_CACHE_DIR (or --cache-dir) at a writable directory; models already in this " +
    "cache are still used from it read-only.";
  if (isNoSpaceError(e)) {
    return new InsufficientSpaceError(
      `Cannot write the model cache ${root}: no space left on the device (${innermost(e)}). Nothing was changed. ` +
        `Fix: free space in ${root}, or point BITNET_MODEL_CACHE_DIR at a larger disk.`,
      { dir: root },
      { cause: e },
    );
  }
  if (/os error 30\)/.test(e.message)) {
    return new Deno.errors.PermissionDenied(
      `Cannot write the model cache ${root}: it is on a read-only filesystem. ${fix}`,
      { cause: e },
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new Deno.errors.PermissionDenied(
      `Cannot write the model cache ${root}: permission denied (${innermost(e)}). ${fix}`,
      { cause: e },
    );
  }
  return undefined;
}

/** The operating system's own words at the bottom of a cause chain (`No space left on device (os error 28)`). */
function innermost(e: Error): string {
  let c: Error = e;
  while (c.cause instanceof Error) c = c.cause;
  return c.message.replace(/:?\s*(open|rename|mkdir|write)\s*'[^']*'(\s*->\s*'[^']*')?/g, "").trim();
}

/**
 * Removes temporary files left in an entry by writers that were killed: `.<name>.<pid>.<random>.tmp` of the atomic
 * writes and `<name>.tmp-<pid>-<n>` of the model generator, when that pid no longer runs (a live verifier may be
 * writing metadata without the lock).
 */
async function removeStaleTemporaries(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(e.name) ?? /\.tmp-(\d+)-\d+$/.exec(e.name);
      if (!e.isFile || !m || Number(m[1]) === Deno.pid || processExists(Number(m[1]))) continue;
      await Deno.remove(`${dir}/${e.name}`).catch(() => {});
    }
  } catch {
    // no entry directory yet
  }
}

function processExists(pid: number): boolean {
  try {
    Deno.kill(pid, 0); // signal 0: an existence check only (kill(2))
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable (BitNet-rs xtask does the same). Not every platform can open a directory.
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // best effort
  }
}

/**
 * Re-hashes a present `model.gguf`; records the new stamp when it matches.
 *
 * @returns Whether it matched.
 */
async function reverify(paths: EntryPaths, entry: LockEntry, options: FetchModelOptions): Promise<boolean> {
  const { sha256, bytes } = await digestFile(paths.model, {
    signal: options.signal,
    onProgress: hashProgress(entry, options, "verify"),
  });
  if (sha256 !== entry.sha256 || bytes !== entry.size_bytes) return false;
  await recordVerified(paths, entry);
  return true;
}

async function explainFailure(
  paths: EntryPaths,
  { error: e, source }: { error: ChecksumMismatchError; source: Source },
): Promise<void> {
  const explanation = {
    error: e.name,
    message: e.message,
    url: e.url,
    expected_sha256: e.expectedSha256,
    actual_sha256: e.actualSha256 ?? null,
    expected_size: e.expectedSize,
    actual_size: e.actualSize,
    source: source.kind,
    at: new Date().toISOString(),
    tool: TOOL,
  };
  await writeFileAtomic(paths.error, JSON.stringify(explanation, null, 2) + "\n").catch(() => {});
}

/**
 * Makes one lockfile model present and verified in the cache.
 *
 * @param entry The lockfile entry.
 * @param options Cache dir, force/offline, events, signal, retry/timeouts, disk-space probe, lock settings.
 * @returns The model's report (`cached`, `downloaded`, `copied` or `generated`).
 * @throws {ChecksumMismatchError} When the bytes do not match the lockfile (nothing is cached).
 * @throws {DownloadError} Network failure after retries, a non-retryable HTTP status, or offline mode.
 * @throws {InsufficientSpaceError} Before transferring, or on ENOSPC (the partial is kept).
 * @throws {Deno.errors.TimedOut} When another process holds the entry's lock past the lock timeout.
 * @throws {DOMException} `AbortError` when the signal aborts (the partial is kept for resume).
 * @example
 * ```ts
 * import { defaultLockfilePath, Lockfile } from "./lockfile.ts";
 * import { fetchModel } from "./fetch_model.ts";
 * const cacheDir = await Deno.makeTempDir(); // the default is ~/.cache/bitnet/models
 * const lock = await Lockfile.load(defaultLockfilePath());
 * const events = new Set<string>();
 * const report = await fetchModel(lock.entry("ci-tiny")!, { cacheDir, onEvent: (e) => events.add(e.type) });
 * console.log(report.status, report.path, [...events]); // "generated" <cacheDir>/<sha256>/model.gguf [
 * //   "start", "progress", "verified", "done" ]
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function fetchModel(entry: LockEntry, options: FetchModelOptions = {}): Promise<ModelReport> {
  const t0 = performance.now();
  const root = options.cacheDir ?? modelCacheDir();
  const paths = entryPaths(root, entry.sha256);
  const source = parseSource(entry.url);
  const emit = (e: FetchEvent) => options.onEvent?.(e);
  const report = newReport(entry, paths.model, "cached");
  const finish = (status: ModelReport["status"]): ModelReport => {
    report.status = status;
    report.seconds = (performance.now() - t0) / 1000;
    emit({
      type: "done",
      model: entry.name,
      status,
      path: paths.model,
      bytes_transferred: report.bytes_transferred,
      seconds: report.seconds,
    });
    return report;
  };
  const cachedHit = (how: "stamp" | "rehash") => {
    emit({ type: "cached", model: entry.name, sha256: entry.sha256, path: paths.model, verified_by: how });
    return finish("cached");
  };

  const offlineError = (state: string) =>
    new DownloadError(
      `Cannot fetch model "${entry.name}": offline mode and ${state} (${paths.model}). ` +
        `Fix: run without --offline (and without BITNET_OFFLINE) where ${new URL(entry.url).host} is reachable.`,
      { url: entry.url, attempts: 0 },
    );

  // 1. Fast path (after refusing planted links: stat would follow them).
  await assertSafeEntry(paths);
  if (!options.force && await cachedState(paths, entry) === "trusted") return cachedHit("stamp");
  if (options.offline && needsNetwork(source)) {
    if (options.force) throw offlineError("--force needs a download");
    if (await cachedState(paths, entry) === "missing") throw offlineError("it is not in the cache");
  }

  // 2. Lock, then look again. A cache we cannot write (read-only mount, no permission, full disk) fails here with
  // the fix, unless the model is already in it: then it is verified by hashing and used as it is.
  let lock: EntryLock;
  try {
    await ensureCacheRoot(root);
    lock = await EntryLock.acquire(paths.lock, {
      ...options.lock,
      signal: options.signal,
      onWait: ({ owner, heartbeatAgeMs, waitedMs }) =>
        emit({
          type: "lock",
          model: entry.name,
          state: "waiting",
          owner_pid: owner?.pid ?? null,
          message: `waiting ${(waitedMs / 1000).toFixed(0)} s for ${
            owner ? `pid ${owner.pid} on ${owner.hostname}` : "another process"
          }${heartbeatAgeMs === undefined ? "" : ` (heartbeat ${(heartbeatAgeMs / 1000).toFixed(1)} s ago)`}`,
        }),
    });
  } catch (e) {
    const unwritable = unwritableCacheError(e, root);
    if (!unwritable) throw e;
    if (!options.force && await cachedState(paths, entry) !== "missing") {
      const { sha256, bytes } = await digestFile(paths.model, {
        signal: options.signal,
        onProgress: hashProgress(entry, options, "verify"),
      });
      if (sha256 === entry.sha256 && bytes === entry.size_bytes) return cachedHit("rehash");
    }
    throw unwritable;
  }
  using _lock = lock;
  await assertSafeEntry(paths); // again, now that no other fetcher can be changing the entry
  await removeStaleTemporaries(paths.dir);
  if (lock.recovered) {
    report.recovered_lock = lock.recovered.reason;
    emit({
      type: "lock",
      model: entry.name,
      state: "recovered",
      owner_pid: lock.recovered.owner.pid,
      message: `took over the lock of pid ${lock.recovered.owner.pid} (${lock.recovered.reason})`,
    });
  }
  if (options.force) {
    await removeQuietly(paths.model, paths.metadata, paths.partial, paths.sidecar, paths.error);
  } else {
    const state = await cachedState(paths, entry);
    if (state === "trusted") return cachedHit("stamp");
    if (state === "unverified") {
      if (await reverify(paths, entry, options)) return cachedHit("rehash");
      emit({
        type: "restart",
        model: entry.name,
        reason: `the cached ${paths.model} does not match its sha256; fetching it again`,
        discarded_bytes: await Deno.stat(paths.model).then((i) => i.size, () => 0),
      });
      await removeQuietly(paths.model, paths.metadata);
    }
  }
  if (options.offline && needsNetwork(source)) throw offlineError("the cached copy failed verification");
  await Deno.mkdir(paths.dir, { recursive: true });

  // 3. Resume state.
  let keep = 0;
  const sidecar = await readSidecar(paths.sidecar);
  const partialSize = await Deno.stat(paths.partial).then((i) => i.size, () => undefined);
  if (
    source.kind !== "generate" && sidecar && partialSize !== undefined && sidecar.sha256 === entry.sha256 &&
    sidecar.size_bytes === entry.size_bytes && sidecar.url === entry.url
  ) {
    keep = Math.min(partialSize, sidecar.bytes_done, entry.size_bytes);
  } else if (partialSize !== undefined || sidecar) {
    await removeQuietly(paths.partial, paths.sidecar);
  }

  // 4. Disk space.
  const headroom = options.headroomBytes ?? DEFAULT_HEADROOM;
  const needed = entry.size_bytes - keep + headroom;
  const available = await (options.availableBytes ?? statfsAvailable)(paths.dir);
  if (available !== undefined && available < needed) {
    throw new InsufficientSpaceError(
      `Cannot fetch model "${entry.name}": it needs ${needed} bytes free in ${paths.dir} ` +
        `(${entry.size_bytes - keep} to transfer + ${headroom} headroom), only ${available} are available. ` +
        `Fix: free space, or point BITNET_MODEL_CACHE_DIR at a larger disk.`,
      { dir: paths.dir, neededBytes: needed, availableBytes: available },
    );
  }

  emit({
    type: "start",
    model: entry.name,
    tier: entry.tier,
    sha256: entry.sha256,
    size_bytes: entry.size_bytes,
    source: source.kind,
    url: entry.url,
    resume_from: keep,
  });
  report.resumed_from = keep;

  // 5. Transfer, 6. verify.
  const tVerify = performance.now();
  let actual: { sha256: string; bytes: number };
  try {
    actual = await transfer({ entry, source, paths, keep, report }, options);
  } catch (e) {
    if (e instanceof ChecksumMismatchError) {
      await removeQuietly(paths.partial, paths.sidecar);
      await explainFailure(paths, { error: e, source });
    } else if (await Deno.stat(paths.partial).then((i) => i.size === 0, () => true)) {
      // Nothing worth resuming: leave no empty partial (nor an empty entry directory) behind.
      await removeQuietly(paths.partial, paths.sidecar);
      await Deno.remove(paths.dir).catch(() => {});
    }
    throw e;
  }
  if (actual.sha256 !== entry.sha256 || actual.bytes !== entry.size_bytes) {
    const e = new ChecksumMismatchError({
      model: entry.name,
      url: entry.url,
      expectedSha256: entry.sha256,
      actualSha256: actual.sha256,
      expectedSize: entry.size_bytes,
      actualSize: actual.bytes,
      ...(source.kind === "generate"
        ? {
          fix: `the generator's output changed (engine/synth). If that change is intended, re-pin the model: run ` +
            `crossval make-model ${
              Object.entries(source.params).map(([k, v]) => `--${k} ${v}`).join(" ")
            } --out /tmp/model.gguf --json and copy its sha256 and size_bytes into the lockfile`,
        }
        : {}),
    });
    await removeQuietly(paths.partial, paths.sidecar);
    await explainFailure(paths, { error: e, source });
    throw e;
  }
  emit({
    type: "verified",
    model: entry.name,
    sha256: actual.sha256,
    bytes: actual.bytes,
    seconds: (performance.now() - tVerify) / 1000,
  });

  // 7. Into place.
  lock.assertHeld();
  await Deno.rename(paths.partial, paths.model);
  await syncDir(paths.dir);
  await recordVerified(paths, entry, {
    fetchedAt: new Date().toISOString(),
    ...(report.final_url ? { finalUrl: report.final_url } : {}),
  });
  await removeQuietly(paths.sidecar, paths.error);
  return finish(source.kind === "generate" ? "generated" : source.kind === "file" ? "copied" : "downloaded");
}

/** Step 5: fills the partial file and returns the SHA-256 and size of what it holds. */
async function transfer(
  job: { entry: LockEntry; source: Source; paths: EntryPaths; keep: number; report: ModelReport },
  options: FetchModelOptions,
): Promise<{ sha256: string; bytes: number }> {
  const { entry, source, paths, keep, report } = job;
  if (source.kind === "generate") {
    report.attempts = 1;
    const g = await generateModelFile(paths.partial, source.params, {
      onProgress: hashProgress(entry, options, "generate"),
    });
    report.bytes_transferred = g.bytes;
    // Verify the bytes on disk, independently of the generator's own running hash.
    const onDisk = await digestFile(paths.partial, {
      signal: options.signal,
      onProgress: hashProgress(entry, options, "verify"),
    });
    if (onDisk.sha256 !== g.sha256) {
      throw new Error(
        `Cannot generate model "${entry.name}": the file on disk (sha256 ${onDisk.sha256}) differs from what the ` +
          `generator wrote (${g.sha256}). Fix: check the disk (${paths.dir}).`,
      );
    }
    return onDisk;
  }
  let hash = createHash("sha256");
  if (keep > 0) {
    hash = (await hashFilePrefix(paths.partial, {
      length: keep,
      signal: options.signal,
      onProgress: hashProgress(entry, options, "rehash"),
    })).hash;
  }
  const sidecar = await readSidecar(paths.sidecar);
  using writer = await PartialWriter.open(paths.partial, {
    sidecar: {
      sha256: entry.sha256,
      size_bytes: entry.size_bytes,
      url: entry.url,
      validator: keep > 0 && sidecar ? sidecar.validator : {},
    },
    keep,
    hash,
    onProgress: progressEmitter(entry, options, source.kind === "file" ? "copy" : "download"),
    progressIntervalMs: options.progressIntervalMs,
  });
  const emit = (e: FetchEvent) => options.onEvent?.(e);
  if (source.kind === "file") {
    report.attempts = 1;
    report.bytes_transferred = await copyFile(writer, { entry, path: source.path, signal: options.signal });
  } else {
    const r = await httpDownload(writer, {
      model: entry.name,
      url: entry.url,
      sizeBytes: entry.size_bytes,
      sha256: entry.sha256,
      validator: keep > 0 && sidecar ? sidecar.validator : {},
      retry: { ...DEFAULT_RETRY, ...options.retry },
      stallMs: options.stallMs ?? 30_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      signal: options.signal,
      onRetry: (r) =>
        emit({
          type: "retry",
          model: entry.name,
          attempt: r.attempt,
          max_attempts: r.maxAttempts,
          delay_ms: Math.round(r.delayMs),
          reason: r.reason,
          bytes_done: writer.bytesDone,
        }),
      onRestart: (r) =>
        emit({ type: "restart", model: entry.name, reason: r.reason, discarded_bytes: r.discardedBytes }),
    }).finally(() => {
      report.bytes_transferred = writer.bytesDone - keep;
    });
    report.attempts = r.requests;
    report.bytes_transferred = r.received;
    if (r.finalUrl) report.final_url = r.finalUrl;
  }
  writer.report();
  const bytes = writer.bytesDone;
  const sha256 = writer.hash.digest("hex");
  await writer.finish();
  return { sha256, bytes };
}

async function copyFile(
  writer: PartialWriter,
  { entry, path, signal }: { entry: LockEntry; path: string; signal?: AbortSignal },
): Promise<number> {
  // Only a regular file: opening a FIFO would block forever, a device would stream without end.
  const kind = await Deno.stat(path).then(
    (i) => (i.isFile ? undefined : i.isDirectory ? "a directory" : "not a regular file"),
    () => undefined,
  );
  if (kind) {
    throw new DownloadError(
      `Cannot copy model "${entry.name}" from ${path}: it is ${kind}. Fix: point the file: URL in the lockfile at ` +
        `the GGUF file itself.`,
      { url: entry.url, attempts: 1 },
    );
  }
  using src = await Deno.open(path, { read: true }).catch((e) => {
    throw new DownloadError(
      `Cannot copy model "${entry.name}" from ${path}: ${
        (e as Error).message
      }. Fix: check the file: URL in the lockfile.`,
      { url: entry.url, attempts: 1 },
      { cause: e },
    );
  });
  const size = (await src.stat()).size;
  if (size !== entry.size_bytes) {
    throw new ChecksumMismatchError({
      model: entry.name,
      url: entry.url,
      expectedSha256: entry.sha256,
      expectedSize: entry.size_bytes,
      actualSize: size,
    });
  }
  await src.seek(writer.bytesDone, Deno.SeekMode.Start);
  const buf = new Uint8Array(4 << 20);
  let copied = 0;
  for (;;) {
    signal?.throwIfAborted();
    const n = await src.read(buf);
    if (n === null) break;
    await writer.write(buf.subarray(0, n));
    copied += n;
  }
  return copied;
}
