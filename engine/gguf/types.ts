/**
 * GGUF data model: metadata value types, key/value entries and tensor infos.
 * Format reference: `ggml/src/gguf.cpp` and `gguf-py/gguf/constants.py` (llama.cpp v0.5.0).
 *
 * @module
 */

/** Metadata value type tags (`enum gguf_type`). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** A metadata value type tag. */
export type GgufValueTypeId = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Scalar metadata values: 64-bit integers are `bigint`, other numbers `number`. */
export type GgufScalar = number | bigint | boolean | string;

/**
 * An array value. Numeric arrays are kept as typed arrays (token scores, token types) so a 128k-entry
 * vocabulary costs one allocation; strings and nested arrays are plain arrays.
 */
export interface GgufArray {
  /** Element type tag. */
  readonly itemType: GgufValueTypeId;
  /** The elements. */
  readonly items:
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array
    | BigUint64Array
    | BigInt64Array
    | boolean[]
    | string[]
    | GgufArray[];
}

/** One metadata entry with its stored type, so files round-trip exactly. */
export interface GgufKv {
  /** Value type tag. */
  readonly type: GgufValueTypeId;
  /** The value: scalar, or {@link GgufArray} when `type` is ARRAY. */
  readonly value: GgufScalar | GgufArray;
}

/** A tensor as described in the GGUF header. */
export interface GgufTensorInfo {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Dimensions in GGML order: `shape[0]` (ne0) is the contiguous, innermost dimension. */
  readonly shape: readonly number[];
  /** GGML type id. */
  readonly type: number;
  /** Offset of the data relative to the start of the tensor-data section. */
  readonly offset: number;
  /** Data size in bytes. */
  readonly byteLength: number;
  /** Element count. */
  readonly nElements: number;
}

/** Parsed GGUF header. */
export interface GgufHeader {
  /** Format version (2 or 3). */
  readonly version: number;
  /** Metadata in file order. */
  readonly metadata: ReadonlyMap<string, GgufKv>;
  /** Tensor infos in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** Data alignment (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Absolute file offset of the tensor-data section. */
  readonly dataOffset: number;
  /** Total file size in bytes. */
  readonly fileSize: number;
}

/** The GGUF magic `"GGUF"` read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** Default data alignment when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Maximum tensor rank (GGML_MAX_DIMS). */
export const GGML_MAX_DIMS = 4;
