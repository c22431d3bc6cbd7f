/**
 * Internals shared by `fetch_model.ts`, `verify_cache.ts` and `fetch_models.ts`: a model's report before any work,
 * and throttled `progress` events for hashing, copying and downloading.
 *
 * @module
 */

import type { FetchEvent, ModelReport, ProgressPhase } from "./events.ts";
import type { LockEntry } from "./lockfile.ts";

/** A model's report before any work: the lockfile facts, where the model goes, nothing transferred yet. */
export function newReport(entry: LockEntry, path: string, status: ModelReport["status"]): ModelReport {
  return {
    name: entry.name,
    tier: entry.tier,
    sha256: entry.sha256,
    size_bytes: entry.size_bytes,
    url: entry.url,
    path,
    status,
    bytes_transferred: 0,
    resumed_from: 0,
    attempts: 0,
    seconds: 0,
  };
}

/** Where progress goes, and how often at most (default every 100 ms). */
export interface ProgressSink {
  /** Receives the events. */
  readonly onEvent?: (event: FetchEvent) => void;
  /** Minimum interval between progress events (default 100 ms). */
  readonly progressIntervalMs?: number;
}

/** A `progress` event emitter for one model and phase, given the bytes done and the rate. */
export function progressEmitter(
  entry: LockEntry,
  sink: ProgressSink,
  phase: ProgressPhase,
): (p: { bytesDone: number; rateBps: number }) => void {
  return ({ bytesDone, rateBps }) =>
    sink.onEvent?.({
      type: "progress",
      model: entry.name,
      phase,
      bytes_done: bytesDone,
      bytes_total: entry.size_bytes,
      rate_bps: Math.round(rateBps),
      eta_s: rateBps > 0 ? Math.max(0, (entry.size_bytes - bytesDone) / rateBps) : null,
    });
}

/** A throttled `onProgress(bytes)` for hashing loops, with the rate since it was created. */
export function hashProgress(entry: LockEntry, sink: ProgressSink, phase: ProgressPhase): (bytes: number) => void {
  const emit = progressEmitter(entry, sink, phase);
  const t0 = performance.now();
  let last = 0;
  return (bytes) => {
    const now = performance.now();
    if (now - last < (sink.progressIntervalMs ?? 100) && bytes < entry.size_bytes) return;
    last = now;
    emit({ bytesDone: bytes, rateBps: now > t0 ? bytes / ((now - t0) / 1000) : 0 });
  };
}
