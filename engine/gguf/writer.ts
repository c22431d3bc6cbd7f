/**
 * GGUF v3 writer. The header is encoded in memory; tensor data is produced one tensor at a time by the
 * caller and streamed to a sink, so a multi-gigabyte model is written without holding it in memory.
 * Layout follows `gguf_write_to_buf` in llama.cpp's `ggml/src/gguf.cpp`: tensors in order, each padded to
 * the alignment, offsets relative to the aligned start of the data section.
 *
 * @module
 */

import { ggmlTensorBytes, ggmlTypeInfo } from "../quant/ggml_type.ts";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgufArray, type GgufKv, GgufValueType } from "./types.ts";

/** A tensor to write: its data is given directly or produced on demand (called once, in order). */
export interface GgufTensorSpec {
  /** Tensor name. */
  readonly name: string;
  /** Dimensions in GGML order (ne0 first). */
  readonly shape: readonly number[];
  /** GGML type id. */
  readonly type: number;
  /** Encoded tensor bytes, or a function producing them. */
  readonly data: Uint8Array | (() => Uint8Array);
}

/** Everything a GGUF file holds. */
export interface GgufSpec {
  /** Metadata in the order it is written. */
  readonly metadata: Iterable<readonly [string, GgufKv]>;
  /** Tensors in the order their data is written. */
  readonly tensors: readonly GgufTensorSpec[];
}

class ByteWriter {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  #enc = new TextEncoder();

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  get length(): number {
    return this.#len;
  }
  u8(v: number): void {
    this.#grow(1);
    this.#view.setUint8(this.#len, v);
    this.#len += 1;
  }
  u32(v: number): void {
    this.#grow(4);
    this.#view.setUint32(this.#len, v, true);
    this.#len += 4;
  }
  u64(v: number | bigint): void {
    this.#grow(8);
    this.#view.setBigUint64(this.#len, BigInt(v), true);
    this.#len += 8;
  }
  bytes(b: Uint8Array): void {
    this.#grow(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }
  string(s: string): void {
    const b = this.#enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.#len % alignment)) % alignment;
    this.#grow(n);
    this.#buf.fill(0, this.#len, this.#len + n);
    this.#len += n;
  }
  scalar(type: number, v: unknown, key: string): void {
    this.#grow(8);
    const d = this.#view;
    const at = this.#len;
    switch (type) {
      case GgufValueType.UINT8:
        d.setUint8(at, v as number), this.#len += 1;
        return;
      case GgufValueType.INT8:
        d.setInt8(at, v as number), this.#len += 1;
        return;
      case GgufValueType.UINT16:
        d.setUint16(at, v as number, true), this.#len += 2;
        return;
      case GgufValueType.INT16:
        d.setInt16(at, v as number, true), this.#len += 2;
        return;
      case GgufValueType.UINT32:
        d.setUint32(at, v as number, true), this.#len += 4;
        return;
      case GgufValueType.INT32:
        d.setInt32(at, v as number, true), this.#len += 4;
        return;
      case GgufValueType.FLOAT32:
        d.setFloat32(at, v as number, true), this.#len += 4;
        return;
      case GgufValueType.BOOL:
        d.setUint8(at, v ? 1 : 0), this.#len += 1;
        return;
      case GgufValueType.UINT64:
        d.setBigUint64(at, BigInt(v as number | bigint), true), this.#len += 8;
        return;
      case GgufValueType.INT64:
        d.setBigInt64(at, BigInt(v as number | bigint), true), this.#len += 8;
        return;
      case GgufValueType.FLOAT64:
        d.setFloat64(at, v as number, true), this.#len += 8;
        return;
      case GgufValueType.STRING:
        this.string(String(v));
        return;
      default:
        throw new TypeError(`Cannot write GGUF metadata "${key}": unknown value type ${type}`);
    }
  }
  array(a: GgufArray, key: string): void {
    this.u32(a.itemType);
    this.u64(a.items.length);
    if (a.itemType === GgufValueType.ARRAY) {
      for (const item of a.items as GgufArray[]) this.array(item, key);
    } else if (ArrayBuffer.isView(a.items) && (a.items as Uint8Array).BYTES_PER_ELEMENT > 0) {
      const v = a.items as Uint8Array;
      this.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    } else {
      for (const item of a.items as unknown[]) this.scalar(a.itemType, item, key);
    }
  }
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

/** Where tensor offsets land and how many bytes the whole file takes, before anything is written. */
export interface GgufLayout {
  /** The encoded header, padded to the alignment. */
  readonly header: Uint8Array;
  /** Data-section offset of each tensor, in spec order. */
  readonly offsets: readonly number[];
  /** Byte size of each tensor. */
  readonly sizes: readonly number[];
  /** Total file size. */
  readonly fileSize: number;
  /** Alignment in effect. */
  readonly alignment: number;
}

/**
 * Encode the header and compute the layout of a GGUF file.
 *
 * @param spec Metadata and tensor descriptions (tensor data is not touched).
 * @returns The header bytes and the offsets of each tensor.
 * @throws {RangeError} When a tensor shape does not fit its type's block size, or a type is unknown.
 */
export function layoutGguf(spec: GgufSpec): GgufLayout {
  const w = new ByteWriter();
  const metadata = [...spec.metadata];
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [k, kv] of metadata) if (k === "general.alignment") alignment = kv.value as number;
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(spec.tensors.length);
  w.u64(metadata.length);
  for (const [key, kv] of metadata) {
    w.string(key);
    w.u32(kv.type);
    if (kv.type === GgufValueType.ARRAY) w.array(kv.value as GgufArray, key);
    else w.scalar(kv.type, kv.value, key);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let off = 0;
  for (const t of spec.tensors) {
    const info = ggmlTypeInfo(t.type);
    if (!info) throw new RangeError(`Cannot write tensor "${t.name}": unknown type id ${t.type}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if ((t.shape[0] ?? 1) % info.blockSize !== 0) {
      throw new RangeError(
        `Cannot write tensor "${t.name}": row length ${
          t.shape[0]
        } is not a multiple of the ${info.name} block size ${info.blockSize}`,
      );
    }
    const size = ggmlTensorBytes(t.type, n);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(d);
    w.u32(t.type);
    w.u64(off);
    offsets.push(off);
    sizes.push(size);
    off += Math.ceil(size / alignment) * alignment;
  }
  w.pad(alignment);
  const header = w.view().slice();
  return { header, offsets, sizes, fileSize: header.length + off, alignment };
}

function tensorBytes(t: GgufTensorSpec, expected: number): Uint8Array {
  const data = typeof t.data === "function" ? t.data() : t.data;
  if (data.length !== expected) {
    throw new RangeError(`Cannot write tensor "${t.name}": expected ${expected} data bytes, got ${data.length}`);
  }
  return data;
}

/**
 * Encode a whole GGUF file in memory (small files and tests).
 *
 * @param spec Metadata and tensors.
 * @returns The file bytes.
 * @example
 * ```ts
 * import { encodeGguf } from "./writer.ts";
 * const bytes = encodeGguf({ metadata: [["general.name", { type: 8, value: "x" }]], tensors: [] });
 * console.log(new TextDecoder().decode(bytes.subarray(0, 4))); // "GGUF"
 * ```
 */
export function encodeGguf(spec: GgufSpec): Uint8Array {
  const layout = layoutGguf(spec);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header);
  spec.tensors.forEach((t, i) => out.set(tensorBytes(t, layout.sizes[i]!), layout.header.length + layout.offsets[i]!));
  return out;
}

/** A sink for streamed bytes (a file, a hash, a socket). */
export interface ByteSink {
  /** Write all of `chunk`. */
  write(chunk: Uint8Array): Promise<void> | void;
}

/**
 * Stream a GGUF file to a sink: header first, then each tensor's data (produced lazily) with padding.
 *
 * @param spec Metadata and tensors.
 * @param sink Destination.
 * @returns The layout that was written.
 */
export async function writeGguf(spec: GgufSpec, sink: ByteSink): Promise<GgufLayout> {
  const layout = layoutGguf(spec);
  await sink.write(layout.header);
  let pos = 0;
  for (let i = 0; i < spec.tensors.length; i++) {
    const off = layout.offsets[i]!;
    if (off > pos) await sink.write(new Uint8Array(off - pos));
    const data = tensorBytes(spec.tensors[i]!, layout.sizes[i]!);
    await sink.write(data);
    pos = off + data.length;
  }
  const end = layout.fileSize - layout.header.length;
  if (end > pos) await sink.write(new Uint8Array(end - pos));
  return layout;
}
