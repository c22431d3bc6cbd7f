/**
 * `fetchModels`: the lockfile-level entry point behind `crossval fetch`. Fetches (or with `verifyOnly`
 * re-verifies) the selected models one after another and returns a report per model; a failure of one model
 * is recorded and the others still run. Only a cancelled signal stops the run (it rethrows).
 *
 * @module
 */

import { modelCacheDir } from "./cache_dir.ts";
import type { FetchEvent, FetchReport, ModelReport } from "./events.ts";
import { fetchModel, type FetchModelOptions } from "./fetch_model.ts";
import type { Lockfile } from "./lockfile.ts";
import { entryPaths } from "./cache.ts";
import { extraEntries, verifyEntry } from "./verify_cache.ts";
import { newReport } from "./_report.ts";

/** Options of {@link fetchModels}. */
export interface FetchOptions extends FetchModelOptions {
  /** Only this tier. */
  tier?: string;
  /** Only this model. */
  model?: string;
  /** Re-hash cached models and report missing, corrupt and extra entries; fetch nothing. */
  verifyOnly?: boolean;
}

const GOOD = new Set<ModelReport["status"]>(["cached", "downloaded", "copied", "generated", "verified"]);

/**
 * Fetches or verifies the lockfile's selected models.
 *
 * @param lock The lockfile.
 * @param options Selection (`tier`, `model`), mode (`verifyOnly`, `force`, `offline`), cache dir, events, signal,
 *   and the tuning options of `fetchModel`.
 * @returns One report per selected model (in lockfile order), extra entries (verify), and `ok`.
 * @throws {RangeError} When the selection names an unknown tier or model, or matches nothing.
 * @throws {DOMException} `AbortError` when the signal aborts (partials are kept for resume).
 * @example
 * ```ts
 * import { defaultLockfilePath, fetchModels, Lockfile } from "./mod.ts";
 * const cacheDir = await Deno.makeTempDir();
 * const lock = await Lockfile.load(defaultLockfilePath());
 * const report = await fetchModels(lock, { model: "ci-tiny", cacheDir });
 * console.log(report.ok, report.models.map((m) => m.status)); // true ["generated"]
 * const again = await fetchModels(lock, { model: "ci-tiny", cacheDir, verifyOnly: true });
 * console.log(again.models.map((m) => m.status), again.extra); // ["verified"] []
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function fetchModels(lock: Lockfile, options: FetchOptions = {}): Promise<FetchReport> {
  const entries = lock.select({ tier: options.tier, model: options.model });
  const cacheDir = options.cacheDir ?? modelCacheDir();
  const emit = (e: FetchEvent) => options.onEvent?.(e);
  const models: ModelReport[] = [];
  for (const entry of entries) {
    options.signal?.throwIfAborted();
    const t0 = performance.now();
    try {
      models.push(
        options.verifyOnly
          ? await verifyEntry(entry, { ...options, cacheDir })
          : await fetchModel(entry, { ...options, cacheDir }),
      );
    } catch (e) {
      if (options.signal?.aborted) throw e;
      const error = e instanceof Error ? e : new Error(String(e));
      emit({ type: "error", model: entry.name, error: error.name, message: error.message });
      const seconds = (performance.now() - t0) / 1000;
      const path = entryPaths(cacheDir, entry.sha256).model;
      emit({ type: "done", model: entry.name, status: "failed", path, bytes_transferred: 0, seconds });
      models.push({
        ...newReport(entry, path, "failed"),
        attempts: (error as { attempts?: number }).attempts ?? 0,
        seconds,
        error,
      });
    }
  }
  const extra = options.verifyOnly ? await extraEntries(lock, cacheDir) : [];
  for (const path of extra) emit({ type: "extra", path });
  return {
    cache_dir: cacheDir,
    mode: options.verifyOnly ? "verify" : "fetch",
    models,
    extra,
    ok: models.every((m) => GOOD.has(m.status)) && extra.length === 0,
  };
}
