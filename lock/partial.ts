/**
 * An unfinished download: `model.gguf.partial` plus its sidecar `model.gguf.partial.json` (expected SHA-256 and
 * size, URL, validator, bytes done), ollama's `<blob>-partial` + JSON part-state design with one part.
 *
 * {@link PartialWriter} appends the bytes of a transfer, feeds them to the running SHA-256, reports progress, and
 * checkpoints: every couple of seconds it syncs the data and then records `bytes_done`, so after a crash (even a
 * power loss) a resume starts from bytes known to be on disk. A resume re-hashes that prefix (HF #4060, ollama
 * #941: a resumed corrupt prefix must not poison the result) before the transfer continues.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { writeFileAtomic } from "../receipts/write.ts";
import { isNoSpaceError } from "./disk_space.ts";
import { InsufficientSpaceError } from "./errors.ts";

/** The sidecar of a partial download. */
export interface PartialSidecar {
  /** Format of this file. */
  schema_version: "1.0.0";
  /** SHA-256 the finished file must have. */
  sha256: string;
  /** Size it must have. */
  size_bytes: number;
  /** Source URL. */
  url: string;
  /** Server validator of the first response, sent back as `If-Range` when resuming. */
  validator: { etag?: string; last_modified?: string };
  /** Bytes of the partial known to be synced to disk. */
  bytes_done: number;
  /** Last checkpoint (RFC 3339). */
  updated_at: string;
}

/**
 * Reads a sidecar.
 *
 * @param path Sidecar path.
 * @returns It, or `undefined` when missing or malformed (the partial is then discarded).
 * @example
 * ```ts
 * import { readSidecar } from "./partial.ts";
 * console.log(await readSidecar("/nonexistent.partial.json")); // undefined
 * ```
 */
export async function readSidecar(path: string): Promise<PartialSidecar | undefined> {
  try {
    const s = JSON.parse(await Deno.readTextFile(path));
    const ok = s?.schema_version === "1.0.0" && typeof s.sha256 === "string" && Number.isSafeInteger(s.size_bytes) &&
      typeof s.url === "string" && Number.isSafeInteger(s.bytes_done) && s.bytes_done >= 0 &&
      typeof s.validator === "object" && s.validator !== null;
    return ok ? s as PartialSidecar : undefined;
  } catch {
    return undefined;
  }
}

/** Progress of a {@link PartialWriter}. */
export interface WriterProgress {
  /** Bytes in the partial. */
  bytesDone: number;
  /** Bytes per second over the last few seconds. */
  rateBps: number;
}

/** Options of {@link PartialWriter.open}. */
export interface PartialWriterOptions {
  /** Sidecar fields other than `bytes_done`/`updated_at`. */
  sidecar: Omit<PartialSidecar, "bytes_done" | "updated_at" | "schema_version">;
  /** Keep this many bytes of an existing partial (re-hashed by the caller into `hash`). Default 0. */
  keep?: number;
  /** Hash state covering the kept bytes. Default: a fresh SHA-256 (requires `keep` = 0). */
  hash?: Hash;
  /** Called at most every `progressIntervalMs` while writing, and on demand via {@link PartialWriter.report}. */
  onProgress?: (p: WriterProgress) => void;
  /** Progress interval, ms (default 100). */
  progressIntervalMs?: number;
  /** Checkpoint interval, ms (default 2000). */
  checkpointIntervalMs?: number;
}

/** Appends to `model.gguf.partial` while hashing; see the module documentation. */
export class PartialWriter implements Disposable {
  /** Partial path. */
  readonly path: string;
  /** Sidecar path. */
  readonly sidecarPath: string;
  #file: Deno.FsFile | undefined;
  #hash: Hash;
  #done: number;
  #sidecar: PartialWriterOptions["sidecar"];
  #onProgress: PartialWriterOptions["onProgress"];
  #progressMs: number;
  #checkpointMs: number;
  #lastProgress = 0;
  #lastCheckpoint = Date.now();
  #samples: { t: number; bytes: number }[] = [];

  private constructor(path: string, file: Deno.FsFile, done: number, hash: Hash, options: PartialWriterOptions) {
    this.path = path;
    this.sidecarPath = `${path}.json`;
    this.#file = file;
    this.#done = done;
    this.#hash = hash;
    this.#sidecar = options.sidecar;
    this.#onProgress = options.onProgress;
    this.#progressMs = options.progressIntervalMs ?? 100;
    this.#checkpointMs = options.checkpointIntervalMs ?? 2000;
    this.#samples.push({ t: performance.now(), bytes: done });
  }

  /**
   * Opens (creating or truncating to `keep`) a partial file and writes its sidecar.
   *
   * @param path Partial path; the sidecar is `<path>.json`.
   * @param options Sidecar fields, bytes to keep with their hash, progress callback.
   * @returns The writer, positioned at `keep`.
   * @throws {InsufficientSpaceError} When the sidecar cannot be written for lack of space.
   * @example
   * ```ts
   * import { PartialWriter } from "./partial.ts";
   * const dir = await Deno.makeTempDir();
   * using w = await PartialWriter.open(`${dir}/m.partial`, {
   *   sidecar: { sha256: "ab".repeat(32), size_bytes: 3, url: "file:///x", validator: {} },
   * });
   * await w.write(new Uint8Array([1, 2, 3]));
   * console.log(w.bytesDone); // 3
   * ```
   */
  static async open(path: string, options: PartialWriterOptions): Promise<PartialWriter> {
    const keep = options.keep ?? 0;
    if (keep > 0 && !options.hash) throw new TypeError("PartialWriter.open(): keeping bytes needs their hash state.");
    // A fresh partial is created O_EXCL (after removing any old one), so nothing planted at its name is followed.
    if (keep === 0) {
      await Deno.remove(path).catch((e) => e instanceof Deno.errors.NotFound ? undefined : Promise.reject(e));
    }
    const file = await Deno.open(
      path,
      keep === 0 ? { read: true, write: true, createNew: true } : { read: true, write: true },
    );
    try {
      await file.truncate(keep);
      await file.seek(keep, Deno.SeekMode.Start);
      const w = new PartialWriter(path, file, keep, options.hash ?? createHash("sha256"), options);
      await w.checkpoint();
      return w;
    } catch (e) {
      file.close();
      throw wrapNoSpace(e, path);
    }
  }

  /** Bytes written so far (kept prefix included). */
  get bytesDone(): number {
    return this.#done;
  }

  /** The running hash (covers every byte written). */
  get hash(): Hash {
    return this.#hash;
  }

  /**
   * Appends bytes and hashes them.
   *
   * @param chunk Bytes.
   * @throws {InsufficientSpaceError} On ENOSPC/EDQUOT (never retried; the partial keeps what was written).
   */
  async write(chunk: Uint8Array): Promise<void> {
    const file = this.#open();
    let off = 0;
    try {
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    } catch (e) {
      // A short write leaves a correct prefix of the chunk on disk; keep the count exact for the next resume.
      this.#hash.update(chunk.subarray(0, off));
      this.#done += off;
      throw wrapNoSpace(e, this.path);
    }
    this.#hash.update(chunk);
    this.#done += chunk.length;
    const now = performance.now();
    if (now - this.#lastProgress >= this.#progressMs) this.report(now);
    if (Date.now() - this.#lastCheckpoint >= this.#checkpointMs) await this.checkpoint();
  }

  /**
   * Emits a progress callback now.
   *
   * @param now `performance.now()` (default: now).
   */
  report(now: number = performance.now()): void {
    this.#lastProgress = now;
    this.#samples.push({ t: now, bytes: this.#done });
    // Rate over the last ~3 s: responsive, yet not jumpy at 100 ms granularity.
    while (this.#samples.length > 2 && now - this.#samples[1].t > 3000) this.#samples.shift();
    const first = this.#samples[0];
    const dt = (now - first.t) / 1000;
    this.#onProgress?.({ bytesDone: this.#done, rateBps: dt > 0 ? (this.#done - first.bytes) / dt : 0 });
  }

  /** Throws away everything (the server ignored Range or changed the file): back to byte 0 with a fresh hash. */
  async restart(): Promise<void> {
    const file = this.#open();
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    this.#hash = createHash("sha256");
    this.#done = 0;
    this.#samples = [{ t: performance.now(), bytes: 0 }];
    await this.checkpoint();
  }

  /**
   * Updates the validator recorded in the sidecar (first response of a transfer).
   *
   * @param validator ETag and/or Last-Modified.
   */
  setValidator(validator: PartialSidecar["validator"]): void {
    this.#sidecar = { ...this.#sidecar, validator };
  }

  /** Syncs the data, then records `bytes_done` in the sidecar (in that order: the sidecar never runs ahead). */
  async checkpoint(): Promise<void> {
    const file = this.#open();
    this.#lastCheckpoint = Date.now();
    try {
      await file.syncData();
      const sidecar: PartialSidecar = {
        schema_version: "1.0.0",
        ...this.#sidecar,
        bytes_done: this.#done,
        updated_at: new Date().toISOString(),
      };
      await writeFileAtomic(this.sidecarPath, JSON.stringify(sidecar, null, 2) + "\n");
    } catch (e) {
      throw wrapNoSpace(e, this.path);
    }
  }

  /** Syncs the data and closes the file (the sidecar stays until the caller removes it). */
  async finish(): Promise<void> {
    const file = this.#open();
    await file.syncData();
    this.close();
  }

  #open(): Deno.FsFile {
    if (!this.#file) throw new Error(`Cannot write ${this.path}: the partial writer is closed.`);
    return this.#file;
  }

  /** Closes the file without a checkpoint (idempotent). */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Same as {@link PartialWriter.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function wrapNoSpace(e: unknown, path: string): unknown {
  if (!isNoSpaceError(e)) return e;
  const dir = path.slice(0, path.lastIndexOf("/"));
  return new InsufficientSpaceError(
    `Cannot write ${path}: no space left on the device (${(e as Error).message}). The partial download is kept ` +
      `for resume and the cache is unchanged. Fix: free space in ${dir} (or point BITNET_MODEL_CACHE_DIR at a ` +
      `larger disk), then run the fetch again.`,
    { dir },
    { cause: e },
  );
}
