/**
 * When and how long to wait before retrying a download.
 *
 * - Retried: network errors, stalls, truncated bodies, and HTTP 408, 429, 500, 502, 503, 504 (the set
 *   huggingface_hub retries, `utils/_http.py`).
 * - Delay: exponential, capped, with "equal jitter" (a random point in the upper half of the step), so clients
 *   that failed together do not retry together (ollama jitters its backoff "to prevent thundering herd";
 *   huggingface_hub does not jitter).
 * - `Retry-After` (seconds or HTTP-date, RFC 9110 §10.2.3) replaces the computed delay; huggingface_hub
 *   ignores the date form.
 *
 * @module
 */

/** Retry policy. */
export interface RetryPolicy {
  /** Attempts before giving up (first try included). Reset whenever a retry made progress. Default 6. */
  maxAttempts: number;
  /** Delay before the first retry, ms. Default 1000. */
  baseDelayMs: number;
  /** Cap of the computed delay, ms. Default 30 000. */
  maxDelayMs: number;
  /** Longest `Retry-After` honoured, ms; a server asking for more fails the fetch with its request. Default 300 000. */
  maxRetryAfterMs: number;
}

/** The default policy (6 attempts like ollama's `maxRetries`, waits 1, 2, 4, 8, 16 s with jitter). */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 6,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 300_000,
});

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Whether an HTTP status is worth retrying.
 *
 * @param status HTTP status.
 * @returns `true` for 408, 429, 500, 502, 503, 504.
 * @example
 * ```ts
 * import { isRetryableStatus } from "./retry.ts";
 * console.log(isRetryableStatus(503), isRetryableStatus(404)); // true false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return RETRY_STATUSES.has(status);
}

/**
 * Delay before retry number `attempt` (1 = the first retry).
 *
 * @param attempt Retry number, from 1.
 * @param policy Base and cap, and optionally `random`, a source in [0, 1) (default `Math.random`; tests fix it).
 * @returns Milliseconds: a uniform point in [d/2, d] where d = min(cap, base * 2^(attempt-1)).
 * @example
 * ```ts
 * import { backoffDelay, DEFAULT_RETRY } from "./retry.ts";
 * console.log(backoffDelay(3, { ...DEFAULT_RETRY, random: () => 0.999 }) <= 4000); // true
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs"> & { random?: () => number },
): number {
  const random = policy.random ?? Math.random;
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return step / 2 + random() * step / 2;
}

/**
 * Parses a `Retry-After` header.
 *
 * @param value Header value: delay-seconds or an HTTP-date.
 * @param now Current time, ms since the epoch.
 * @returns Milliseconds to wait (0 for a date in the past), or `undefined` when absent or unparseable.
 * @example
 * ```ts
 * import { parseRetryAfter } from "./retry.ts";
 * console.log(parseRetryAfter("2")); // 2000
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined; // "1.5", "-1": not delay-seconds, not a date
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Parses a `Content-Range: bytes first-last/complete` header of a 206 response (RFC 9110 §14.4).
 *
 * @param value Header value.
 * @returns The range (`total` undefined for `*`), or `undefined` when malformed.
 * @example
 * ```ts
 * import { parseContentRange } from "./retry.ts";
 * console.log(parseContentRange("bytes 100-199/1000")); // { first: 100, last: 199, total: 1000 }
 * ```
 */
export function parseContentRange(
  value: string | null,
): { first: number; last: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!m) return undefined;
  const first = Number(m[1]), last = Number(m[2]);
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (last < first || (total !== undefined && last >= total)) return undefined;
  return { first, last, total };
}

/**
 * Wait, or stop waiting as soon as the signal aborts.
 *
 * @param ms Milliseconds to wait.
 * @param signal Aborts the wait.
 * @returns A promise that resolves after `ms`.
 * @throws {DOMException} The signal's reason (`AbortError`) when it aborts, before or during the wait.
 * @example
 * ```ts
 * import { abortableSleep } from "./retry.ts";
 * await abortableSleep(1);
 * ```
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
