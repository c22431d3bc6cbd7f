/**
 * What the fetcher reports while it works, and what it returns. Library code never prints: `cli/fetch.ts`
 * renders these events as a progress bar on a TTY, or one JSON object per line otherwise.
 *
 * @module
 */

import type { Tier } from "./lockfile.ts";
import type { Source } from "./source.ts";

/** Phase of a `progress` event. */
export type ProgressPhase = "download" | "copy" | "generate" | "rehash" | "verify";

/** An event of {@link FetchEvent}'s union; every event names its lockfile model. */
export type FetchEvent =
  /** Work on a model begins (after the lock is held): a transfer, a copy, a generation or a verification. */
  | {
    type: "start";
    model: string;
    tier: Tier;
    sha256: string;
    size_bytes: number;
    source: Source["kind"];
    url: string;
    /** Bytes reused from a partial download (re-hashed first). */
    resume_from: number;
  }
  /** Throttled progress (about 10 per second). `eta_s` is null until a rate is known. */
  | {
    type: "progress";
    model: string;
    phase: ProgressPhase;
    bytes_done: number;
    bytes_total: number;
    rate_bps: number;
    eta_s: number | null;
  }
  /** A failed request or transfer will be retried after `delay_ms`. */
  | {
    type: "retry";
    model: string;
    attempt: number;
    max_attempts: number;
    delay_ms: number;
    reason: string;
    bytes_done: number;
  }
  /** Bytes already received were thrown away (server ignored Range, misaligned Content-Range, file changed). */
  | { type: "restart"; model: string; reason: string; discarded_bytes: number }
  /** Another process holds the entry's lock (`state: "waiting"`), or a dead owner's lock was taken over. */
  | { type: "lock"; model: string; state: "waiting" | "recovered"; message: string; owner_pid: number | null }
  /** The SHA-256 of the model matched the lockfile. */
  | { type: "verified"; model: string; sha256: string; bytes: number; seconds: number }
  /** The model was already in the cache: trusted by its stamp, or re-hashed because the stamp changed. */
  | { type: "cached"; model: string; sha256: string; path: string; verified_by: "stamp" | "rehash" }
  /** `--verify-only` found a cache entry that no lockfile model names. */
  | { type: "extra"; path: string }
  /** A model is finished. */
  | { type: "done"; model: string; status: ModelStatus; path: string; bytes_transferred: number; seconds: number }
  /** A model failed; the report carries the error object. */
  | { type: "error"; model: string; error: string; message: string };

/**
 * Outcome of one model.
 *
 * - fetch: `cached` (nothing to do), `downloaded`, `copied` (file source), `generated`, `failed`.
 * - verify-only: `verified`, `missing`, `corrupt`, `failed` (unreadable).
 */
export type ModelStatus =
  | "cached"
  | "downloaded"
  | "copied"
  | "generated"
  | "verified"
  | "missing"
  | "corrupt"
  | "failed";

/** Report of one model. */
export interface ModelReport {
  /** Lockfile name. */
  name: string;
  /** Tier. */
  tier: Tier;
  /** Pinned SHA-256. */
  sha256: string;
  /** Pinned size. */
  size_bytes: number;
  /** Source URL. */
  url: string;
  /** Where the verified model is (or would be). */
  path: string;
  /** Outcome. */
  status: ModelStatus;
  /** Bytes received (or copied, or generated) in this run. */
  bytes_transferred: number;
  /** Bytes reused from an earlier partial download. */
  resumed_from: number;
  /** Requests (or copy/generate runs) made. */
  attempts: number;
  /** Wall time. */
  seconds: number;
  /** Set when a dead process's lock was taken over. */
  recovered_lock?: string;
  /** HTTP: where the bytes came from after redirects (scheme, host and path; no query string). */
  final_url?: string;
  /** Why it failed (`failed`, `corrupt`, `missing`). */
  error?: Error;
}

/** Report of a whole `fetchModels` run. */
export interface FetchReport {
  /** Cache root used. */
  cache_dir: string;
  /** `"fetch"` or `"verify"`. */
  mode: "fetch" | "verify";
  /** One per selected model, in lockfile order. */
  models: ModelReport[];
  /** verify: cache entries (directories) that no lockfile model names. */
  extra: string[];
  /** Every model is present and verified (and, for verify, nothing extra). */
  ok: boolean;
}
