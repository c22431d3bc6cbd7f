/**
 * A real HTTP server for the fetcher's tests: `Deno.serve` on 127.0.0.1, port 0, serving files with Range
 * support, a strong ETag and If-Range, plus a queue of faults per path, each used by one request:
 * HTTP statuses (with Retry-After), a connection dropped mid-body, a body truncated with a clean end,
 * a server ignoring Range, wrong bytes, a wrong Content-Length, a misaligned Content-Range, a slow trickle,
 * a stall (bytes, then silence), a redirect to any Location, a body longer than the file (chunked, no length), and
 * a Content-Length that lies. Not a mock: the fetcher talks to it through its real HTTP client.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** One request's misbehaviour. */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: string }
  | { kind: "drop"; afterBytes: number }
  | { kind: "truncate"; afterBytes: number }
  | { kind: "ignore-range" }
  | { kind: "wrong-bytes"; flipAt: number }
  | { kind: "wrong-length" }
  | { kind: "misaligned-range" }
  | { kind: "slow"; chunkBytes: number; delayMs: number }
  | { kind: "stall"; afterBytes: number }
  | { kind: "redirect"; location: string; status?: number }
  | { kind: "overlong"; extraBytes: number }
  | { kind: "content-length"; value: number };

/** What the server saw. */
export interface SeenRequest {
  path: string;
  range: string | null;
  ifRange: string | null;
  status: number;
  fault: Fault["kind"] | null;
  /** Body bytes the server sent (or tried to send) for this request. */
  bodyBytes: number;
}

/** Deterministic pseudo-random bytes (xorshift32), so fixtures need no stored data. */
export function fixtureBytes(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256 of bytes, lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A lockfile text for the given models (all fields but the URL computed from the bytes). */
export function lockfileText(
  models: { name: string; url: string; bytes: Uint8Array; tier?: string }[],
): string {
  return JSON.stringify({
    schema_version: "1.0.0",
    updated: "2026-11-26T00:00:00Z",
    models: models.map((m) => ({
      name: m.name,
      tier: m.tier ?? "integration",
      url: m.url,
      sha256: sha256Hex(m.bytes),
      size_bytes: m.bytes.length,
      description: `test model ${m.name}`,
    })),
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The server. Dispose it (`await using`) to stop it and end hanging responses. */
export class FaultServer implements AsyncDisposable {
  /** Requests in arrival order. */
  readonly requests: SeenRequest[] = [];
  /** Applied to every request once a path's queue is empty (e.g. a permanent trickle). */
  defaultFault: Fault | undefined;
  #files = new Map<string, Uint8Array<ArrayBuffer>>();
  #faults = new Map<string, Fault[]>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #closing = new AbortController();

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get origin(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /**
   * Serves bytes at a path.
   *
   * @returns The URL.
   */
  serve(path: string, bytes: Uint8Array<ArrayBuffer>): string {
    this.#files.set(path, bytes);
    return `${this.origin}${path}`;
  }

  /** Queues faults for the next requests to `path`, one per request. */
  fault(path: string, ...faults: Fault[]): void {
    this.#faults.set(path, [...(this.#faults.get(path) ?? []), ...faults]);
  }

  /** Total body bytes sent for a path. */
  bytesSent(path: string): number {
    return this.requests.filter((r) => r.path === path).reduce((n, r) => n + r.bodyBytes, 0);
  }

  #handle(req: Request): Response {
    const path = new URL(req.url).pathname;
    const data = this.#files.get(path);
    const fault = this.#faults.get(path)?.shift() ?? this.defaultFault;
    const seen: SeenRequest = {
      path,
      range: req.headers.get("range"),
      ifRange: req.headers.get("if-range"),
      status: 0,
      fault: fault?.kind ?? null,
      bodyBytes: 0,
    };
    this.requests.push(seen);
    if (fault?.kind === "redirect") {
      const headers: Record<string, string> = fault.location ? { location: fault.location } : {};
      return this.#respond(seen, new Response(null, { status: fault.status ?? 302, headers }));
    }
    if (!data) return this.#respond(seen, new Response("not found", { status: 404 }));
    if (fault?.kind === "status") {
      const headers: Record<string, string> = fault.retryAfter ? { "retry-after": fault.retryAfter } : {};
      return this.#respond(seen, new Response(`fault ${fault.status}`, { status: fault.status, headers }));
    }
    const etag = `"${sha256Hex(data).slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(seen.range ?? "");
    const rangeApplies = m && fault?.kind !== "ignore-range" && (seen.ifRange === null || seen.ifRange === etag);
    if (rangeApplies) start = Number(m[1]);
    if (start > data.length) {
      return this.#respond(
        seen,
        new Response(null, { status: 416, headers: { "content-range": `bytes */${data.length}` } }),
      );
    }
    let body = data.subarray(start);
    if (fault?.kind === "wrong-bytes") {
      body = body.slice();
      body[fault.flipAt - start] ^= 0xff;
    }
    const headers = new Headers({ etag, "accept-ranges": "bytes", "content-type": "application/octet-stream" });
    let status = 200;
    if (rangeApplies) {
      status = 206;
      const first = fault?.kind === "misaligned-range" ? Math.max(0, start - 1) : start;
      headers.set("content-range", `bytes ${first}-${data.length - 1}/${data.length}`);
    }
    if (fault?.kind === "overlong") {
      // Chunked, with no length to check: only counting the bytes tells that the body is longer than the file.
      const longer = new Uint8Array(body.length + fault.extraBytes);
      longer.set(body);
      longer.fill(0x41, body.length);
      body = longer;
    } else if (fault?.kind === "wrong-length") headers.set("content-length", String(body.length + 1));
    else if (fault?.kind === "content-length") headers.set("content-length", String(fault.value));
    else if (fault?.kind !== "truncate") headers.set("content-length", String(body.length));
    return this.#respond(seen, new Response(this.#stream(body, fault, seen), { status, headers }));
  }

  #respond(seen: SeenRequest, res: Response): Response {
    seen.status = res.status;
    return res;
  }

  #stream(body: Uint8Array<ArrayBuffer>, fault: Fault | undefined, seen: SeenRequest): ReadableStream<Uint8Array> {
    const closing = this.#closing.signal;
    let cancelled = false;
    return new ReadableStream<Uint8Array>({
      start: async (c) => {
        const send = (bytes: Uint8Array) => {
          seen.bodyBytes += bytes.length;
          c.enqueue(bytes);
        };
        switch (fault?.kind) {
          case "drop":
          case "truncate":
            // drop: Content-Length promises more, so the client sees the connection end early.
            // truncate: chunked encoding with a clean end, so only the byte count tells.
            send(body.subarray(0, fault.afterBytes));
            c.close();
            return;
          case "stall":
            send(body.subarray(0, fault.afterBytes));
            // Silence until the client gives up (cancel) or the server closes.
            while (!cancelled && !closing.aborted) await sleep(10);
            if (!cancelled) c.close();
            return;
          case "slow":
            for (let off = 0; off < body.length && !cancelled && !closing.aborted; off += fault.chunkBytes) {
              send(body.subarray(off, off + fault.chunkBytes));
              await sleep(fault.delayMs);
            }
            if (!cancelled) c.close();
            return;
          default:
            send(body);
            c.close();
        }
      },
      cancel: () => {
        cancelled = true;
      },
    });
  }

  /** Stops the server, ending any hanging response. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closing.abort();
    await this.#server.shutdown();
  }
}
