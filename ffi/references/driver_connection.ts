/**
 * The smallest client of the reference protocol (ffi/PROTOCOL.md, sections 1-3): enough to check a freshly compiled
 * driver (`hello`) before it is renamed into the cache, and for the driver's own tests. The supervised client with
 * timeouts, memory limits and crash reports is `ffi/ref_process.ts`; this one only frames. Internal to
 * `ffi/references/`.
 *
 * @module
 */

const ENC = new TextEncoder();
const DEC = new TextDecoder();

/** One frame. */
export interface RawFrame {
  /** Decoded header fields. */
  readonly header: Record<string, string>;
  /** Payload bytes. */
  readonly payload: Uint8Array;
}

/** Encode a request frame. */
export function encodeFrame(
  fields: Record<string, string | number | boolean>,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  let h = "";
  for (const [k, v] of Object.entries(fields)) {
    const s = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
    h += `${k}=${s.replace(/[%\n\r\0]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`)}\n`;
  }
  const hb = ENC.encode(h);
  const out = new Uint8Array(12 + hb.length + payload.length);
  const dv = new DataView(out.buffer);
  out.set(ENC.encode("RFP1"), 0);
  dv.setUint32(4, hb.length, true);
  out.set(hb, 8);
  dv.setUint32(8 + hb.length, payload.length, true);
  out.set(payload, 12 + hb.length);
  return out;
}

function decodeHeader(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line) continue;
    const eq = line.indexOf("=");
    out[line.slice(0, eq)] = line.slice(eq + 1).replace(
      /%([0-9A-Fa-f]{2})/g,
      (_, x) => String.fromCharCode(parseInt(x, 16)),
    );
  }
  return out;
}

/** Reads frames from a byte stream. */
export class FrameReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);

  /** Wrap a stream (the child's stdout). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #need(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      const next = new Uint8Array(this.#buf.length + value.length);
      next.set(this.#buf);
      next.set(value, this.#buf.length);
      this.#buf = next;
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /**
   * The next frame, or null at the end of the stream.
   *
   * @throws {Error} On bad magic or a truncated frame.
   */
  async next(): Promise<RawFrame | null> {
    if (!(await this.#need(8))) {
      if (this.#buf.length) throw new Error(`Truncated frame: ${this.#buf.length} bytes then end of stream`);
      return null;
    }
    const head = this.#take(8);
    const magic = DEC.decode(head.subarray(0, 4));
    if (magic !== "RFP1") throw new Error(`Bad frame magic ${JSON.stringify(magic)} (expected RFP1)`);
    const h = new DataView(head.buffer).getUint32(4, true);
    if (!(await this.#need(h + 4))) throw new Error("Truncated frame header");
    const header = decodeHeader(DEC.decode(this.#take(h)));
    const p = new DataView(this.#take(4).buffer).getUint32(0, true);
    if (!(await this.#need(p))) throw new Error("Truncated frame payload");
    return { header, payload: this.#take(p) };
  }

  /** Release the stream. */
  release(): void {
    this.#reader.releaseLock();
  }
}

/** A driver child process spoken to one request at a time. */
export class DriverConnection implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: FrameReader;
  readonly #stderr: Promise<string>;
  #seq = 0;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reader = new FrameReader(child.stdout);
    this.#stderr = new Response(child.stderr).text();
  }

  /**
   * Start a driver executable.
   *
   * @param path The executable.
   * @param env Extra environment.
   * @returns The connection (no request sent yet).
   */
  static start(path: string, env: Record<string, string> = {}): DriverConnection {
    const child = new Deno.Command(path, {
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { GGML_NO_BACKTRACE: "1", ...env },
    }).spawn();
    return new DriverConnection(child);
  }

  /** The child's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Send a request and wait for its reply.
   *
   * @param op Operation.
   * @param fields Other header fields.
   * @param payload Payload bytes.
   * @returns The reply frame.
   * @throws {Error} When the driver ends without replying (the message has its stderr tail).
   */
  async request(
    op: string,
    fields: Record<string, string | number | boolean> = {},
    payload?: Uint8Array,
  ): Promise<RawFrame> {
    const seq = ++this.#seq;
    await this.#writer.write(encodeFrame({ op, seq, ...fields }, payload));
    const reply = await this.#reader.next();
    if (!reply) {
      const status = await this.#child.status;
      const err = (await this.#stderr).trim().split("\n").slice(-30).join("\n");
      throw new Error(
        `The driver ended without answering ${op} (${status.signal ?? `exit ${status.code}`}). Its stderr:\n${err}`,
      );
    }
    if (reply.header.seq !== String(seq)) throw new Error(`Reply seq ${reply.header.seq} does not match ${seq}`);
    return reply;
  }

  /**
   * Close stdin and wait for the exit.
   *
   * @returns Exit status and stderr.
   */
  async close(): Promise<{ status: Deno.CommandStatus; stderr: string }> {
    await this.#writer.close().catch(() => {});
    this.#reader.release();
    await this.#child.stdout.cancel().catch(() => {});
    const status = await this.#child.status;
    return { status, stderr: await this.#stderr };
  }

  /** Kill the child (SIGKILL) if still running, and wait. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.close().catch(() => {});
  }
}
