/**
 * GGUF v2/v3 header parser. It reads through a {@link ByteSource} so a multi-gigabyte model is
 * described without loading its tensor data; every count and length is checked against the bytes that
 * remain before anything is allocated, so hostile files fail fast with a `SyntaxError`/`RangeError`
 * that names the field and its offset.
 *
 * @module
 */

import { ggmlTensorBytes, ggmlTypeInfo } from "../quant/ggml_type.ts";
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  type GgufArray,
  type GgufHeader,
  type GgufKv,
  type GgufScalar,
  type GgufTensorInfo,
  GgufValueType,
  type GgufValueTypeId,
} from "./types.ts";

/** Random-access bytes: a file or an in-memory buffer. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Read up to `dest.length` bytes at `offset` into `dest`; returns the count read (0 at EOF). */
  readAt(offset: number, dest: Uint8Array): number;
}

/** A {@link ByteSource} over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    readAt(offset, dest) {
      if (offset >= bytes.length) return 0;
      const n = Math.min(dest.length, bytes.length - offset);
      dest.set(bytes.subarray(offset, offset + n));
      return n;
    },
  };
}

/** Nested arrays deeper than this are rejected (real files use depth 1). */
const MAX_ARRAY_DEPTH = 8;
/** Longest key or tensor name accepted (llama.cpp names are < 64 bytes). */
const MAX_NAME_BYTES = 65536;
const CHUNK = 1 << 20;

const SCALAR_SIZE: Record<number, number> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** Minimum encoded size of one value of each type (strings and arrays: their 8-byte length). */
function minValueSize(type: number): number {
  return SCALAR_SIZE[type] ?? (type === GgufValueType.STRING ? 8 : 12);
}

/** Sequential little-endian reader with a sliding buffer over a {@link ByteSource}. */
class Cursor {
  #src: ByteSource;
  #buf = new Uint8Array(0);
  #view = new DataView(this.#buf.buffer);
  #bufStart = 0;
  #pos = 0;
  // ignoreBOM: a token may legitimately start with U+FEFF (llama-spm, gemma-4); the default would strip it.
  #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  constructor(src: ByteSource) {
    this.#src = src;
  }

  get pos(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#src.size - this.#pos;
  }

  /** Make `n` bytes at the current position available in the buffer. */
  #need(n: number, field: string): number {
    if (n > this.remaining) {
      throw new SyntaxError(
        `Cannot parse GGUF ${field} at offset ${this.#pos}: file is truncated (needs ${n} bytes, ${this.remaining} left)`,
      );
    }
    const rel = this.#pos - this.#bufStart;
    if (rel >= 0 && rel + n <= this.#buf.length) return rel;
    const size = Math.min(Math.max(n, CHUNK), this.#src.size - this.#pos);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const r = this.#src.readAt(this.#pos + got, buf.subarray(got));
      if (r <= 0) break;
      got += r;
    }
    if (got < n) {
      throw new SyntaxError(`Cannot parse GGUF ${field} at offset ${this.#pos}: file ended early`);
    }
    this.#buf = buf.subarray(0, got);
    this.#view = new DataView(buf.buffer, 0, got);
    this.#bufStart = this.#pos;
    return 0;
  }

  u8(field: string): number {
    const r = this.#need(1, field);
    this.#pos += 1;
    return this.#buf[r]!;
  }
  u32(field: string): number {
    const r = this.#need(4, field);
    this.#pos += 4;
    return this.#view.getUint32(r, true);
  }
  i32(field: string): number {
    const r = this.#need(4, field);
    this.#pos += 4;
    return this.#view.getInt32(r, true);
  }
  /** A u64 that must fit a JS number exactly (counts, lengths, offsets). */
  u64n(field: string): number {
    const at = this.#pos;
    const r = this.#need(8, field);
    this.#pos += 8;
    const v = this.#view.getBigUint64(r, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`Cannot parse GGUF ${field} at offset ${at}: value ${v} is out of range`);
    }
    return Number(v);
  }

  /** Read `n` bytes into a fresh copy. */
  bytes(n: number, field: string): Uint8Array {
    if (n <= CHUNK) {
      const r = this.#need(n, field);
      this.#pos += n;
      return this.#buf.slice(r, r + n);
    }
    if (n > this.remaining) this.#need(n, field); // throws with the truncation message
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = this.#src.readAt(this.#pos + got, out.subarray(got));
      if (r <= 0) throw new SyntaxError(`Cannot parse GGUF ${field} at offset ${this.#pos}: file ended early`);
      got += r;
    }
    this.#pos += n;
    return out;
  }

  string(field: string, maxBytes = Number.MAX_SAFE_INTEGER): string {
    const at = this.#pos;
    const len = this.u64n(`${field} length`);
    if (len > this.remaining) {
      throw new RangeError(
        `Cannot parse GGUF ${field} at offset ${at}: string length ${len} exceeds the ${this.remaining} bytes left in the file`,
      );
    }
    if (len > maxBytes) {
      throw new RangeError(`Cannot parse GGUF ${field} at offset ${at}: string length ${len} exceeds ${maxBytes}`);
    }
    if (len <= CHUNK) {
      const r = this.#need(len, field);
      this.#pos += len;
      return this.#decoder.decode(this.#buf.subarray(r, r + len));
    }
    return this.#decoder.decode(this.bytes(len, field));
  }

  scalar(type: number, field: string): GgufScalar {
    const size = SCALAR_SIZE[type];
    if (size === undefined) {
      if (type === GgufValueType.STRING) return this.string(field);
      throw new SyntaxError(`Cannot parse GGUF ${field} at offset ${this.#pos}: unknown value type ${type}`);
    }
    const r = this.#need(size, field);
    this.#pos += size;
    const v = this.#view;
    switch (type) {
      case GgufValueType.UINT8:
        return v.getUint8(r);
      case GgufValueType.INT8:
        return v.getInt8(r);
      case GgufValueType.UINT16:
        return v.getUint16(r, true);
      case GgufValueType.INT16:
        return v.getInt16(r, true);
      case GgufValueType.UINT32:
        return v.getUint32(r, true);
      case GgufValueType.INT32:
        return v.getInt32(r, true);
      case GgufValueType.FLOAT32:
        return v.getFloat32(r, true);
      case GgufValueType.BOOL: {
        const b = v.getUint8(r);
        if (b > 1) throw new SyntaxError(`Cannot parse GGUF ${field} at offset ${this.#pos - 1}: bool byte is ${b}`);
        return b === 1;
      }
      case GgufValueType.UINT64:
        return v.getBigUint64(r, true);
      case GgufValueType.INT64:
        return v.getBigInt64(r, true);
      default:
        return v.getFloat64(r, true);
    }
  }

  seek(pos: number): void {
    this.#pos = pos;
  }
}

function numericArray(type: number, bytes: Uint8Array, n: number): GgufArray["items"] {
  const buf = bytes.buffer as ArrayBuffer;
  // `bytes` is a fresh copy starting at offset 0, so aligned typed views are safe.
  switch (type) {
    case GgufValueType.UINT8:
      return new Uint8Array(buf, 0, n);
    case GgufValueType.INT8:
      return new Int8Array(buf, 0, n);
    case GgufValueType.UINT16:
      return new Uint16Array(buf, 0, n);
    case GgufValueType.INT16:
      return new Int16Array(buf, 0, n);
    case GgufValueType.UINT32:
      return new Uint32Array(buf, 0, n);
    case GgufValueType.INT32:
      return new Int32Array(buf, 0, n);
    case GgufValueType.FLOAT32:
      return new Float32Array(buf, 0, n);
    case GgufValueType.UINT64:
      return new BigUint64Array(buf, 0, n);
    case GgufValueType.INT64:
      return new BigInt64Array(buf, 0, n);
    default:
      return new Float64Array(buf, 0, n);
  }
}

function readArray(c: Cursor, field: string, depth: number): GgufArray {
  const at = c.pos;
  if (depth > MAX_ARRAY_DEPTH) {
    throw new RangeError(`Cannot parse GGUF ${field} at offset ${at}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  }
  const itemType = c.u32(`${field} item type`);
  if (itemType > GgufValueType.FLOAT64) {
    throw new SyntaxError(`Cannot parse GGUF ${field} at offset ${at}: unknown array item type ${itemType}`);
  }
  const n = c.u64n(`${field} length`);
  const min = minValueSize(itemType);
  if (n * min > c.remaining) {
    throw new RangeError(
      `Cannot parse GGUF ${field} at offset ${at}: array of ${n} items needs at least ${n * min} bytes, ` +
        `${c.remaining} left in the file`,
    );
  }
  const t = itemType as GgufValueTypeId;
  if (t === GgufValueType.STRING) {
    const items = new Array<string>(n);
    for (let i = 0; i < n; i++) items[i] = c.string(`${field}[${i}]`);
    return { itemType: t, items };
  }
  if (t === GgufValueType.ARRAY) {
    const items = new Array<GgufArray>(n);
    for (let i = 0; i < n; i++) items[i] = readArray(c, `${field}[${i}]`, depth + 1);
    return { itemType: t, items };
  }
  if (t === GgufValueType.BOOL) {
    const items = new Array<boolean>(n);
    for (let i = 0; i < n; i++) items[i] = c.scalar(t, `${field}[${i}]`) as boolean;
    return { itemType: t, items };
  }
  const size = SCALAR_SIZE[t]!;
  return { itemType: t, items: numericArray(t, c.bytes(n * size, field), n) };
}

/**
 * Parse a GGUF header (metadata and tensor infos) and validate the tensor layout against the file size.
 *
 * @param src Where the bytes come from.
 * @returns The header; tensor data is not read.
 * @throws {SyntaxError} Wrong magic, truncated header, unknown value type, malformed field.
 * @throws {RangeError} Unsupported version, absurd count or length, unknown tensor type, tensor outside the file,
 *   overlapping tensors, misaligned offsets.
 * @example
 * ```ts
 * import { bytesSource, parseGgufHeader } from "./reader.ts";
 * import { encodeGguf } from "./writer.ts";
 * const bytes = encodeGguf({ metadata: [["general.architecture", { type: 8, value: "bitnet" }]], tensors: [] });
 * console.log(parseGgufHeader(bytesSource(bytes)).metadata.get("general.architecture")?.value); // "bitnet"
 * ```
 */
export function parseGgufHeader(src: ByteSource): GgufHeader {
  const c = new Cursor(src);
  if (src.size < 4) {
    throw new SyntaxError(`Cannot parse GGUF header: file is ${src.size} bytes, too short for the magic`);
  }
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) {
    const got = new TextDecoder().decode(
      new Uint8Array([magic & 0xff, (magic >> 8) & 0xff, (magic >> 16) & 0xff, magic >>> 24]),
    );
    throw new SyntaxError(`Cannot parse GGUF header: expected magic "GGUF" at offset 0, got ${JSON.stringify(got)}`);
  }
  const version = c.u32("version");
  if (version === 1) {
    throw new RangeError(
      "Cannot parse GGUF header: version 1 is not supported (re-convert the model with a newer tool)",
    );
  }
  if (version !== 2 && version !== 3) {
    const hint = (version & 0xffff) === 0 ? " (a big-endian file?)" : "";
    throw new RangeError(
      `Cannot parse GGUF header: unsupported version ${version} at offset 4${hint}; expected 2 or 3`,
    );
  }
  const nTensorsAt = c.pos;
  const nTensors = c.u64n("tensor count");
  const nKvAt = c.pos;
  const nKv = c.u64n("metadata count");
  // Each tensor info takes >= 8 (name len) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes;
  // each kv >= 8 (key len) + 4 (type) + 1 byte.
  if (nTensors * 32 > c.remaining) {
    throw new RangeError(
      `Cannot parse GGUF tensor count at offset ${nTensorsAt}: ${nTensors} tensors cannot fit in the ${c.remaining} bytes left (file truncated or count corrupt)`,
    );
  }
  if (nKv * 13 > c.remaining) {
    throw new RangeError(
      `Cannot parse GGUF metadata count at offset ${nKvAt}: ${nKv} entries cannot fit in the ${c.remaining} bytes left (file truncated or count corrupt)`,
    );
  }

  const metadata = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.pos;
    const key = c.string(`metadata key #${i}`, MAX_NAME_BYTES);
    if (metadata.has(key)) {
      throw new SyntaxError(`Cannot parse GGUF metadata at offset ${keyAt}: duplicate key "${key}"`);
    }
    const typeAt = c.pos;
    const type = c.u32(`type of "${key}"`);
    if (type > GgufValueType.FLOAT64) {
      throw new SyntaxError(`Cannot parse GGUF metadata "${key}" at offset ${typeAt}: unknown value type ${type}`);
    }
    const t = type as GgufValueTypeId;
    const value = t === GgufValueType.ARRAY ? readArray(c, `"${key}"`, 1) : c.scalar(t, `"${key}"`);
    metadata.set(key, { type: t, value });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get("general.alignment");
  if (al) {
    if (al.type !== GgufValueType.UINT32) {
      throw new SyntaxError(`Cannot parse GGUF "general.alignment": expected a uint32, got type ${al.type}`);
    }
    alignment = al.value as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw new RangeError(`Cannot parse GGUF "general.alignment": ${alignment} is not a power of 2`);
    }
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const name = c.string(`tensor name #${i}`, MAX_NAME_BYTES);
    if (names.has(name)) {
      throw new SyntaxError(`Cannot parse GGUF tensor info at offset ${at}: duplicate tensor "${name}"`);
    }
    names.add(name);
    const nDims = c.u32(`rank of tensor "${name}"`);
    if (nDims > GGML_MAX_DIMS) {
      throw new RangeError(
        `Cannot parse GGUF tensor "${name}" at offset ${at}: rank ${nDims} exceeds ${GGML_MAX_DIMS}`,
      );
    }
    const shape: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = c.u64n(`dimension ${d} of tensor "${name}"`);
      shape.push(ne);
      nElements *= ne;
      if (nElements > Number.MAX_SAFE_INTEGER) {
        throw new RangeError(`Cannot parse GGUF tensor "${name}" at offset ${at}: element count overflows`);
      }
    }
    const typeAt = c.pos;
    const type = c.u32(`type of tensor "${name}"`);
    const ti = ggmlTypeInfo(type);
    if (!ti) {
      throw new RangeError(`Cannot parse GGUF tensor "${name}" at offset ${typeAt}: unknown tensor type id ${type}`);
    }
    if ((shape[0] ?? 1) % ti.blockSize !== 0) {
      throw new RangeError(
        `Cannot parse GGUF tensor "${name}": row length ${
          shape[0]
        } is not a multiple of the ${ti.name} block size ${ti.blockSize}`,
      );
    }
    const offset = c.u64n(`offset of tensor "${name}"`);
    if (offset % alignment !== 0) {
      throw new RangeError(`Cannot parse GGUF tensor "${name}": offset ${offset} is not aligned to ${alignment}`);
    }
    tensors.push({ name, shape, type, offset, byteLength: ggmlTensorBytes(type, nElements), nElements });
  }

  const headerEnd = c.pos;
  const dataOffset = nTensors > 0 ? Math.ceil(headerEnd / alignment) * alignment : headerEnd;
  const dataSize = src.size - dataOffset;
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let prev = "";
  for (const t of sorted) {
    if (t.offset < end) {
      throw new RangeError(`Cannot parse GGUF tensor "${t.name}": its data overlaps tensor "${prev}"`);
    }
    if (t.offset + t.byteLength > dataSize) {
      throw new RangeError(
        `Cannot parse GGUF tensor "${t.name}": data [${dataOffset + t.offset}, ${
          dataOffset + t.offset + t.byteLength
        }) ` +
          `extends past the end of the file (${src.size} bytes); the file is truncated`,
      );
    }
    end = t.offset + t.byteLength;
    prev = t.name;
  }
  return { version, metadata, tensors, alignment, dataOffset, fileSize: src.size };
}
