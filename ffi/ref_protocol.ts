/**
 * The framing of the reference child-process protocol (`ffi/PROTOCOL.md`, sections 1 and 3): `RFP1`, a u32 header
 * length, `key=value` lines, a u32 payload length, raw payload bytes. Pure encoding and decoding plus one buffered
 * frame reader over a byte stream; both the supervisor (`ref_process.ts`) and the Deno driver (`ref_child.ts`) use
 * it, and the C driver implements the same bytes.
 *
 * @module
 */

/** Protocol major version (PROTOCOL.md section 7). */
export const PROTOCOL_MAJOR = 1;
/** Protocol minor version this side implements. */
export const PROTOCOL_MINOR = 1;
/** The four bytes every frame starts with. */
export const FRAME_MAGIC: Uint8Array = new TextEncoder().encode("RFP1");
/** Largest header accepted (1 MiB). */
export const MAX_HEADER_BYTES = 1 << 20;
/** Largest payload a u32 length can describe. */
export const MAX_PAYLOAD_BYTES = 2 ** 32 - 1;

/** Header fields: flat string values (numbers and booleans are written as text). */
export type Header = Readonly<Record<string, string>>;

/** One frame: its header and payload. */
export interface Frame {
  /** Decoded `key=value` fields. */
  readonly header: Header;
  /** Raw payload bytes (may be empty). */
  readonly payload: Uint8Array;
}

/** A frame that breaks the framing rules (bad magic, oversized or malformed header, truncated stream). */
export class ProtocolError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const ENC = new TextEncoder();
const DEC = new TextDecoder("utf-8", { fatal: false });

/** Escape the four bytes PROTOCOL.md reserves: `%`, LF, CR, NUL. */
export function escapeValue(v: string): string {
  return v.replace(/[%\n\r\0]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

/**
 * Decode `%XX` escapes.
 *
 * @throws {ProtocolError} On a `%` not followed by two hex digits.
 */
export function unescapeValue(v: string): string {
  if (!v.includes("%")) return v;
  return v.replace(/%(..)?/gs, (_, hex: string | undefined) => {
    if (!hex || !/^[0-9A-Fa-f]{2}$/.test(hex)) {
      throw new ProtocolError(`Malformed header value ${JSON.stringify(v)}: "%" must be followed by two hex digits`);
    }
    return String.fromCharCode(parseInt(hex, 16));
  });
}

/**
 * Encode header fields as `key=value\n` lines. Undefined values are left out.
 *
 * @param fields Values: strings, numbers (`nan`, `inf`, `-inf` for non-finite), booleans (`0`/`1`), int arrays.
 * @returns UTF-8 header bytes.
 * @throws {TypeError} For a key outside `[a-z0-9_.]+`.
 * @example
 * ```ts
 * import { encodeHeader } from "./ref_protocol.ts";
 * new TextDecoder().decode(encodeHeader({ op: "tokenize", seq: 3, add_special: false })); // "op=tokenize\nseq=3\nadd_special=0\n"
 * ```
 */
export function encodeHeader(
  fields: Readonly<Record<string, string | number | boolean | readonly number[] | undefined>>,
): Uint8Array {
  let s = "";
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (!/^[a-z0-9_.]+$/.test(k)) throw new TypeError(`Invalid protocol header key ${JSON.stringify(k)}`);
    s += `${k}=${escapeValue(formatValue(v))}\n`;
  }
  return ENC.encode(s);
}

function formatValue(v: string | number | boolean | readonly number[]): string {
  if (typeof v === "boolean") return v ? "1" : "0";
  if (typeof v === "number") {
    return Number.isNaN(v) ? "nan" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : `${v}`;
  }
  if (typeof v === "string") return v;
  return v.join(",");
}

/**
 * Decode header bytes.
 *
 * @throws {ProtocolError} For a line without `=`, an invalid key, a missing final LF, or a repeated key.
 */
export function decodeHeader(bytes: Uint8Array): Header {
  const text = DEC.decode(bytes);
  const out: Record<string, string> = {};
  if (text === "") return out;
  if (!text.endsWith("\n")) throw new ProtocolError(`Malformed header: it must end with a line feed`);
  for (const line of text.slice(0, -1).split("\n")) {
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    if (eq < 0 || !/^[a-z0-9_.]+$/.test(key)) {
      throw new ProtocolError(`Malformed header line ${JSON.stringify(line.slice(0, 80))}: expected key=value`);
    }
    if (Object.hasOwn(out, key)) throw new ProtocolError(`Malformed header: key "${key}" appears twice`);
    out[key] = unescapeValue(line.slice(eq + 1));
  }
  return out;
}

/**
 * The bytes of one frame, as a list of parts to write in order (the payload is not copied).
 *
 * @param header Encoded header (see {@link encodeHeader}).
 * @param payload Payload bytes.
 * @returns `[prefix, payload]`: magic, lengths and header in the first part.
 * @throws {RangeError} When the header or the payload is too large for the protocol.
 */
export function frameParts(header: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  if (header.length > MAX_HEADER_BYTES) {
    throw new RangeError(`Protocol header of ${header.length} bytes exceeds ${MAX_HEADER_BYTES}`);
  }
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`Protocol payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  }
  const prefix = new Uint8Array(12 + header.length);
  const dv = new DataView(prefix.buffer);
  prefix.set(FRAME_MAGIC, 0);
  dv.setUint32(4, header.length, true);
  prefix.set(header, 8);
  dv.setUint32(8 + header.length, payload.length, true);
  return payload.length ? [prefix, payload] : [prefix];
}

/** Little-endian views and builders for the payload types of PROTOCOL.md section 1. */
export const payloads = {
  /** `ids`: an i32 array as bytes (no copy when already aligned). */
  ids(ids: ArrayLike<number>): Uint8Array {
    const a = ids instanceof Int32Array ? ids : Int32Array.from(ids);
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  },
  /** `f32`: a float32 array as bytes. */
  f32(a: Float32Array): Uint8Array {
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  },
  /**
   * Read an `ids` payload (copied into aligned memory when needed).
   *
   * @throws {ProtocolError} When the length is not a multiple of 4.
   */
  readIds(p: Uint8Array): Int32Array {
    if (p.length % 4) throw new ProtocolError(`An ids payload of ${p.length} bytes is not a multiple of 4`);
    return p.byteOffset % 4 === 0
      ? new Int32Array(p.buffer, p.byteOffset, p.length / 4)
      : new Int32Array(p.slice().buffer);
  },
  /**
   * Read `count` float32 values at byte `offset` of a payload (a view when aligned, else a copy).
   *
   * @throws {ProtocolError} When the payload is shorter than that.
   */
  readF32(p: Uint8Array, offset: number, count: number): Float32Array {
    if (offset + count * 4 > p.length) {
      throw new ProtocolError(`Payload of ${p.length} bytes is too short for ${count} floats at byte ${offset}`);
    }
    const start = p.byteOffset + offset;
    return start % 4 === 0
      ? new Float32Array(p.buffer, start, count)
      : new Float32Array(p.slice(offset, offset + count * 4).buffer);
  },
  /** `pieces` / length-prefixed items: each as u32 length then bytes. */
  items(items: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(items.reduce((n, b) => n + 4 + b.length, 0));
    const dv = new DataView(out.buffer);
    let o = 0;
    for (const b of items) {
      dv.setUint32(o, b.length, true);
      out.set(b, o + 4);
      o += 4 + b.length;
    }
    return out;
  },
  /**
   * Read length-prefixed items.
   *
   * @throws {ProtocolError} When an item runs past the end.
   */
  readItems(p: Uint8Array): Uint8Array[] {
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const out: Uint8Array[] = [];
    for (let o = 0; o < p.length;) {
      if (o + 4 > p.length) throw new ProtocolError(`Truncated item length at byte ${o} of ${p.length}`);
      const n = dv.getUint32(o, true);
      if (o + 4 + n > p.length) throw new ProtocolError(`Item of ${n} bytes at byte ${o} runs past ${p.length}`);
      out.push(p.subarray(o + 4, o + 4 + n));
      o += 4 + n;
    }
    return out;
  },
};

/**
 * Reads frames from a byte stream (a child's stdout, or the driver's stdin), buffering chunks and copying each
 * payload once into its own buffer.
 */
export class FrameReader {
  readonly #read: () => Promise<Uint8Array | null>;
  readonly #cancel: () => Promise<void>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #done = false;
  /** Bytes read so far (for messages about stray output). */
  #total = 0;

  /**
   * Wrap a byte source.
   *
   * @param source A stream (the reader takes its lock), or a file read synchronously (the Deno driver reads its
   *   stdin so: it has nothing else to do while it waits, and a blocking read wakes up sooner than an async one).
   */
  constructor(source: ReadableStream<Uint8Array> | { readSync(p: Uint8Array): number | null }) {
    if (source instanceof ReadableStream) {
      const reader = source.getReader();
      this.#read = async () => {
        const r = await reader.read();
        return r.done ? null : r.value;
      };
      this.#cancel = () => reader.cancel();
    } else {
      this.#read = () => {
        const buf = new Uint8Array(1 << 16);
        const n = source.readSync(buf);
        return Promise.resolve(n === null || n === 0 ? null : buf.subarray(0, n));
      };
      this.#cancel = () => Promise.resolve();
    }
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n && !this.#done) {
      const chunk = await this.#read();
      if (chunk === null) this.#done = true;
      else if (chunk.length) {
        this.#chunks.push(chunk);
        this.#buffered += chunk.length;
      }
    }
    return this.#buffered >= n;
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      this.#total += n;
      return out;
    }
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    this.#total += n;
    return out;
  }

  /**
   * Read the next frame.
   *
   * @returns The frame, or null at a clean end of stream (between frames).
   * @throws {ProtocolError} On bad magic, an oversized header, a malformed header or a stream that ends mid-frame.
   */
  async next(): Promise<Frame | null> {
    if (!(await this.#fill(1))) return null;
    const at = this.#total;
    if (!(await this.#fill(8))) {
      const seen = DEC.decode(new Uint8Array(this.#chunks.flatMap((c) => [...c.subarray(0, 120)])).subarray(0, 120));
      throw new ProtocolError(
        `The stream ended after ${this.#buffered} byte(s) that are not a frame (${
          JSON.stringify(seen)
        }), at byte ${at}`,
      );
    }
    const prefix = this.#take(8);
    if (prefix[0] !== 0x52 || prefix[1] !== 0x46 || prefix[2] !== 0x50 || prefix[3] !== 0x31) {
      // Show what arrived instead: usually text some native code printed to stdout.
      await this.#fill(112);
      const more = this.#take(Math.min(112, this.#buffered));
      const seen = DEC.decode(new Uint8Array([...prefix, ...more]));
      throw new ProtocolError(
        `Expected a frame (magic "RFP1") at byte ${at}, got ${JSON.stringify(seen)}: something other than ` +
          `the driver's frames was written to its stdout`,
      );
    }
    const h = new DataView(prefix.buffer, prefix.byteOffset, 8).getUint32(4, true);
    if (h > MAX_HEADER_BYTES) throw new ProtocolError(`Frame header of ${h} bytes exceeds ${MAX_HEADER_BYTES}`);
    if (!(await this.#fill(h + 4))) throw this.#truncated("frame header", at);
    const header = decodeHeader(this.#take(h));
    const lp = this.#take(4);
    const p = new DataView(lp.buffer, lp.byteOffset, 4).getUint32(0, true);
    if (!(await this.#fill(p))) throw this.#truncated(`payload of ${p} bytes`, at);
    const payload = p === 0 ? new Uint8Array(0) : this.#copyOut(p);
    return { header, payload };
  }

  /** A payload in its own buffer (aligned for typed-array views; never a view of a chunk shared with the next). */
  #copyOut(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    this.#total += n;
    return out;
  }

  #truncated(what: string, at: number): ProtocolError {
    return new ProtocolError(`The stream ended inside a frame (${what}, frame at byte ${at})`);
  }

  /** Release the stream. */
  async cancel(): Promise<void> {
    try {
      await this.#cancel();
    } catch {
      // already closed
    }
  }
}

/** Header helpers that turn text fields into typed values, with a `bad_request`-style message naming the field. */
export class Fields {
  readonly #h: Header;
  readonly #what: string;

  /**
   * Wrap a header.
   *
   * @param h The header.
   * @param what Context for messages (`request "eval"`, `reply to "load"`).
   */
  constructor(h: Header, what: string) {
    this.#h = h;
    this.#what = what;
  }

  /** The raw header. */
  get header(): Header {
    return this.#h;
  }

  /** A string field (or `def` when absent; throws when absent without a default). */
  str(k: string, def?: string): string {
    const v = this.#h[k];
    if (v !== undefined) return v;
    if (def !== undefined) return def;
    throw new FieldError(k, `${this.#what}: field "${k}" is missing`);
  }

  /** An optional string field. */
  opt(k: string): string | undefined {
    return this.#h[k];
  }

  /** An integer field. */
  int(k: string, def?: number): number {
    const v = this.#h[k];
    if (v === undefined) {
      if (def !== undefined) return def;
      throw new FieldError(k, `${this.#what}: field "${k}" is missing`);
    }
    if (!/^-?[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new FieldError(k, `${this.#what}: field "${k}" must be an integer, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  }

  /** A float field (`nan`, `inf`, `-inf` allowed). */
  float(k: string, def?: number): number {
    const v = this.#h[k];
    if (v === undefined) {
      if (def !== undefined) return def;
      throw new FieldError(k, `${this.#what}: field "${k}" is missing`);
    }
    const x = v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : Number(v);
    if (v === "" || (Number.isNaN(x) && v !== "nan")) {
      throw new FieldError(k, `${this.#what}: field "${k}" must be a number, got ${JSON.stringify(v)}`);
    }
    return x;
  }

  /** A boolean field (`0`/`1`). */
  bool(k: string, def?: boolean): boolean {
    const v = this.#h[k];
    if (v === undefined) {
      if (def !== undefined) return def;
      throw new FieldError(k, `${this.#what}: field "${k}" is missing`);
    }
    if (v !== "0" && v !== "1") {
      throw new FieldError(k, `${this.#what}: field "${k}" must be 0 or 1, got ${JSON.stringify(v)}`);
    }
    return v === "1";
  }

  /** One of the listed words. */
  oneOf<T extends string>(k: string, allowed: readonly T[], def?: T): T {
    const v = this.str(k, def);
    if (!(allowed as readonly string[]).includes(v)) {
      throw new FieldError(
        k,
        `${this.#what}: field "${k}" must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`,
      );
    }
    return v as T;
  }

  /** Comma-separated integers. */
  ints(k: string): number[] {
    const v = this.str(k);
    if (v === "") return [];
    const out = v.split(",").map(Number);
    if (out.some((x) => !Number.isSafeInteger(x))) {
      throw new FieldError(k, `${this.#what}: field "${k}" must be comma-separated integers, got ${JSON.stringify(v)}`);
    }
    return out;
  }
}

/** A missing or malformed header field (the driver answers it with `error=bad_request`, `field=<key>`). */
export class FieldError extends Error {
  /**
   * Creates the error.
   *
   * @param field The key.
   * @param message What is wrong.
   */
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = "FieldError";
  }
}
