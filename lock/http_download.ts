/**
 * The HTTP transfer of one model into a {@link PartialWriter}, with resume and retries. Deno's built-in `fetch`
 * is the client (a real HTTP/1.1+2 client with TLS, redirects and proxies from `HTTPS_PROXY`/`NO_PROXY`).
 *
 * Per request:
 * - `Range: bytes=<done>-` when bytes are already on disk, with `If-Range` carrying the first response's strong
 *   ETag (or Last-Modified), so a file that changed on the server comes back whole (200) instead of spliced.
 * - `Accept-Encoding: identity`: ranges and lengths then count file bytes (CloudFront with gzip ignores Range,
 *   huggingface_hub `http_get`).
 * - 200 while resuming: the server ignored Range; the partial is truncated and the transfer restarts from 0.
 * - 206: `Content-Range` must start exactly at `<done>` and name the pinned total (BitNet-rs xtask), else restart.
 * - 416 with every byte on disk: done; otherwise restart.
 * - 408/429/5xx, network errors, stalls (no byte for `stallMs`) and truncated bodies: retry with backoff
 *   (`retry.ts`), honouring `Retry-After`; the attempt count resets whenever a try made progress.
 * - Redirects are followed hop by hop under the policy of `redirect.ts` (https anywhere, never a downgrade to
 *   http, never another scheme, at most 10 hops); the final URL is reported (`finalUrl`).
 * - A body longer than the pinned size, with or without a Content-Length, fails before the extra bytes are stored.
 * - Other statuses, a size that disagrees with the lockfile, and ENOSPC: fail at once.
 *
 * @module
 */

import { ChecksumMismatchError, DownloadError } from "./errors.ts";
import type { PartialWriter } from "./partial.ts";
import {
  abortableSleep,
  backoffDelay,
  isRetryableStatus,
  parseContentRange,
  parseRetryAfter,
  type RetryPolicy,
} from "./retry.ts";
import { TOOL } from "./cache.ts";
import { MAX_REDIRECTS, recordableUrl, REDIRECT_STATUSES, redirectTarget } from "./redirect.ts";

/** Options of {@link httpDownload}. */
export interface HttpDownloadOptions {
  /** Lockfile model name (for messages). */
  model: string;
  /** URL. */
  url: string;
  /** Pinned size. */
  sizeBytes: number;
  /** Pinned SHA-256 (for messages). */
  sha256: string;
  /** Validator recorded by an earlier run (for `If-Range`). */
  validator: { etag?: string; last_modified?: string };
  /** Retry policy. */
  retry: RetryPolicy;
  /** Abort the request when no byte arrives for this long (default 30 s; ollama uses 30 s too). */
  stallMs: number;
  /** Abort when the response headers take longer than this (default 30 s). */
  requestTimeoutMs: number;
  /** Cancels everything; the partial and its sidecar are checkpointed first. */
  signal?: AbortSignal;
  /** A retry is about to wait. */
  onRetry?: (info: { attempt: number; maxAttempts: number; delayMs: number; reason: string }) => void;
  /** Bytes were discarded. */
  onRestart?: (info: { reason: string; discardedBytes: number }) => void;
}

/** Result of {@link httpDownload}. */
export interface HttpDownloadResult {
  /** Requests sent. */
  requests: number;
  /** Body bytes received in this run (including any later discarded). */
  received: number;
  /** Where the last response came from after redirects (no query string), or null when no request was sent. */
  finalUrl: string | null;
}

/** A failure worth retrying, with an optional server-requested delay. */
class Retryable extends Error {
  constructor(message: string, readonly retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Deno's fetch says "fetch failed"; the reason (DNS, refused, TLS) is in the cause chain. */
function networkReason(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c instanceof Error && parts.length < 4; c = c.cause) {
    if (!parts.some((p) => p.includes(c instanceof Error ? c.message : ""))) parts.push(c.message);
  }
  return parts.join(": ");
}

function fixFor(status: number): string {
  if (status === 401 || status === 403) {
    return "the URL needs authentication or the repository is gated; check the URL in a browser";
  }
  if (status === 404 || status === 410) return "the file is gone or moved; update the url in the lockfile";
  return "check the URL and the server";
}

/**
 * Downloads the rest of a model into `writer` (which may already hold a re-hashed prefix).
 *
 * @param writer Partial writer positioned at the bytes already on disk.
 * @param options URL, pinned size, retry policy, timeouts, signal and callbacks.
 * @returns Requests made and bytes received; on return `writer.bytesDone === sizeBytes`.
 * @throws {ChecksumMismatchError} When the server's size disagrees with the lockfile (never retried).
 * @throws {DownloadError} For a non-retryable status, or when retries are exhausted.
 * @throws {InsufficientSpaceError} On ENOSPC (never retried).
 * @throws {DOMException} The signal's reason when aborted (the partial is checkpointed for resume).
 * @example
 * ```ts
 * import { httpDownload } from "./http_download.ts";
 * import { PartialWriter } from "./partial.ts";
 * import { DEFAULT_RETRY } from "./retry.ts";
 * const body = new TextEncoder().encode("twelve bytes");
 * await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => new Response(body));
 * const url = `http://127.0.0.1:${server.addr.port}/m.gguf`;
 * const dir = await Deno.makeTempDir();
 * const sha256 = "00".repeat(32); // the caller compares the writer's hash with the pin afterwards
 * using writer = await PartialWriter.open(`${dir}/model.gguf.partial`, {
 *   sidecar: { sha256, size_bytes: body.length, url, validator: {} },
 * });
 * const r = await httpDownload(writer, {
 *   ...{ model: "m", url, sizeBytes: body.length, sha256, validator: {}, retry: DEFAULT_RETRY },
 *   ...{ stallMs: 30_000, requestTimeoutMs: 30_000 },
 * });
 * console.log(r.requests, writer.bytesDone); // 1 12
 * ```
 */
export async function httpDownload(writer: PartialWriter, options: HttpDownloadOptions): Promise<HttpDownloadResult> {
  const { url, sizeBytes, retry, signal } = options;
  let validator = options.validator;
  let requests = 0;
  let received = 0;
  let finalUrl: string | null = null;
  let failures = 0;
  let doneAtLastFailure = writer.bytesDone;
  const sizeError = (actual: number) =>
    new ChecksumMismatchError({
      model: options.model,
      url,
      expectedSha256: options.sha256,
      expectedSize: sizeBytes,
      actualSize: actual,
    });

  while (writer.bytesDone < sizeBytes) {
    signal?.throwIfAborted();
    requests++;
    const ctl = new AbortController();
    const both = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    let timer = setTimeout(
      () => ctl.abort(new DOMException(`no response headers after ${options.requestTimeoutMs} ms`, "TimeoutError")),
      options.requestTimeoutMs,
    );
    try {
      const from = writer.bytesDone;
      const headers = new Headers({ "accept-encoding": "identity", "user-agent": `${TOOL.name}/${TOOL.version}` });
      if (from > 0) {
        headers.set("range", `bytes=${from}-`);
        const ifRange = validator.etag && !validator.etag.startsWith("W/") ? validator.etag : validator.last_modified;
        if (ifRange) headers.set("if-range", ifRange);
      }
      let res: Response;
      let at = new URL(url);
      for (let hop = 0;; hop++) {
        try {
          res = await fetch(at, { headers, signal: both, redirect: "manual" });
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          throw new Retryable(`request failed: ${networkReason(e)}`, undefined, { cause: e });
        }
        if (!REDIRECT_STATUSES.has(res.status)) break;
        await res.body?.cancel().catch(() => {});
        if (hop >= MAX_REDIRECTS) {
          throw new DownloadError(
            `Cannot download model "${options.model}" from ${url}: more than ${MAX_REDIRECTS} redirects (last ` +
              `${recordableUrl(at)}). Fix: point the lockfile url at where the file really is.`,
            { url, status: res.status, attempts: requests },
          );
        }
        at = redirectTarget(at, res.headers.get("location"), { model: options.model, hop: hop + 1 });
      }
      finalUrl = recordableUrl(at);
      const body = res.body;
      const cancel = () => body?.cancel().catch(() => {});
      if (res.status === 416) {
        await cancel();
        const cr = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
        if (cr && Number(cr[1]) !== sizeBytes) throw sizeError(Number(cr[1]));
        options.onRestart?.({ reason: `server answered 416 to a resume at byte ${from}`, discardedBytes: from });
        await writer.restart();
        throw new Retryable(`416 Range Not Satisfiable at byte ${from}`);
      }
      if (isRetryableStatus(res.status)) {
        await cancel();
        throw new Retryable(
          `HTTP ${res.status} ${res.statusText}`.trim(),
          parseRetryAfter(res.headers.get("retry-after")),
        );
      }
      if (res.status !== 200 && res.status !== 206) {
        await cancel();
        throw new DownloadError(
          `Cannot download model "${options.model}" from ${url}: HTTP ${res.status} ${res.statusText}. ` +
            `Fix: ${fixFor(res.status)}.`,
          { url, status: res.status, attempts: requests },
        );
      }
      const length = res.headers.get("content-length");
      if (res.status === 200) {
        if (length !== null && Number(length) !== sizeBytes) {
          await cancel();
          throw sizeError(Number(length));
        }
        if (from > 0) {
          const why = headers.has("if-range")
            ? "the server ignored Range or the file changed (If-Range)"
            : "the server ignored Range";
          options.onRestart?.({ reason: `${why}: restarting from byte 0`, discardedBytes: from });
          await writer.restart();
        }
        validator = {
          ...(res.headers.get("etag") ? { etag: res.headers.get("etag")! } : {}),
          ...(res.headers.get("last-modified") ? { last_modified: res.headers.get("last-modified")! } : {}),
        };
        writer.setValidator(validator);
      } else {
        const cr = parseContentRange(res.headers.get("content-range"));
        if (cr?.total !== undefined && cr.total !== sizeBytes) {
          await cancel();
          throw sizeError(cr.total);
        }
        if (!cr || cr.first !== from) {
          await cancel();
          options.onRestart?.({
            reason: `206 with Content-Range "${res.headers.get("content-range")}" does not continue at byte ${from}`,
            discardedBytes: from,
          });
          await writer.restart();
          throw new Retryable("misaligned Content-Range");
        }
      }
      if (!body) throw new Retryable(`HTTP ${res.status} without a body`);
      // From here on the timer is the stall detector, re-armed by every chunk.
      const reader = body.getReader();
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => ctl.abort(new DOMException(`stalled: no data for ${options.stallMs} ms`, "TimeoutError")),
          options.stallMs,
        );
      };
      arm();
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (signal?.aborted) throw signal.reason;
            const why = ctl.signal.aborted ? (ctl.signal.reason as Error).message : networkReason(e);
            throw new Retryable(`connection lost at byte ${writer.bytesDone}: ${why}`, undefined, { cause: e });
          }
          if (chunk.done) break;
          arm();
          received += chunk.value.length;
          if (writer.bytesDone + chunk.value.length > sizeBytes) {
            throw sizeError(writer.bytesDone + chunk.value.length);
          }
          await writer.write(chunk.value);
        }
      } finally {
        reader.releaseLock();
        await body.cancel().catch(() => {});
      }
      if (writer.bytesDone < sizeBytes) {
        throw new Retryable(`response ended early at byte ${writer.bytesDone} of ${sizeBytes}`);
      }
    } catch (e) {
      if (!(e instanceof Retryable)) {
        await writer.checkpoint().catch(() => {});
        throw e;
      }
      if (writer.bytesDone > doneAtLastFailure) failures = 0; // progress: like huggingface_hub http_get
      doneAtLastFailure = writer.bytesDone;
      failures++;
      await writer.checkpoint();
      if (failures >= retry.maxAttempts) {
        throw new DownloadError(
          `Cannot download model "${options.model}" from ${url}: ${e.message} (${failures} attempts in a row ` +
            `without progress). ${writer.bytesDone} of ${sizeBytes} bytes are kept for resume. Fix: check the ` +
            `network or the server, then run the fetch again.`,
          { url, attempts: requests },
          { cause: e },
        );
      }
      if (e.retryAfterMs !== undefined && e.retryAfterMs > retry.maxRetryAfterMs) {
        throw new DownloadError(
          `Cannot download model "${options.model}" from ${url}: ${e.message}, and the server asks to retry after ` +
            `${Math.round(e.retryAfterMs / 1000)} s (more than ${retry.maxRetryAfterMs / 1000} s). Fix: run the ` +
            `fetch again later.`,
          { url, attempts: requests },
          { cause: e },
        );
      }
      const delayMs = e.retryAfterMs ?? backoffDelay(failures, retry);
      options.onRetry?.({ attempt: failures, maxAttempts: retry.maxAttempts, delayMs, reason: e.message });
      await abortableSleep(delayMs, signal);
    } finally {
      clearTimeout(timer);
    }
  }
  return { requests, received, finalUrl };
}
