/**
 * The GGML tensor type table: ids, names, block geometry (as in ggml's `type_traits` table, `ggml/src/ggml.c`,
 * llama.cpp v0.5.0) and the activation format each weight type's dot product consumes (ggml-cpu's
 * `type_traits_cpu[].vec_dot_type`; bitnet.cpp's for I2_S). This is the only place block byte sizes are written:
 * the quant codecs, the backends, the model, the benchmarks and the synthetic-model writer read them from here.
 * `formats.ts` attaches the reference quantize/dequantize to the same rows; the kernels per backend are
 * separate tables keyed by the same id (`engine/backends/type_kernels.ts`).
 *
 * @module
 */

/** GGML type ids (`enum ggml_type` in `ggml/include/ggml.h`; I2_S = 36 is bitnet.cpp's fork). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  I2_S: 36,
} as const;

/** A GGML type id. */
export type GgmlTypeId = number;

/**
 * An activation format: what a matmul quantizes its f32 input to before the dot product with a weight type
 * (`kernels-wasm/ABI.md` "Quantized activations"). Names are lower-case GGML type names, plus bitnet.cpp's
 * per-token `i8_s` (not a GGML type).
 */
export type ActivationFormat = "f32" | "f16" | "bf16" | "q8_0" | "q8_k" | "i8_s";

/** Geometry of one tensor type: `blockSize` elements are stored in `typeSize` bytes. */
export interface GgmlTypeInfo {
  /** Numeric id as stored in GGUF tensor infos. */
  readonly id: GgmlTypeId;
  /** Upper-case name, as llama.cpp prints it (`TQ2_0`). */
  readonly name: string;
  /** Elements per block (`blck_size`). */
  readonly blockSize: number;
  /** Bytes per block (`type_size`). */
  readonly typeSize: number;
  /** Extra bytes per tensor after the blocks (I2_S keeps a 32-byte tail holding its f32 scale). */
  readonly tensorTailBytes: number;
  /** True for types whose values are stored in blocks with scales. */
  readonly quantized: boolean;
  /** The activation format its dot product consumes, for the weight types the engine multiplies. */
  readonly activation?: ActivationFormat;
}

const QK_K = 256;

function info(
  name: string,
  blockSize: number,
  typeSize: number,
  quantized: boolean,
  activation?: ActivationFormat,
  tensorTailBytes = 0,
): Omit<GgmlTypeInfo, "id"> {
  return { name, blockSize, typeSize, quantized, tensorTailBytes, ...(activation ? { activation } : {}) };
}

// Sizes from ggml-common.h (block_* structs) and ggml.c type_traits; I2_S from bitnet.cpp
// (Eddie-Wang1120/llama.cpp merge-dev ggml.c: blck_size 1, type_size 1, nbytes = n/4 + 32). Activation formats
// from ggml-cpu.c type_traits_cpu (vec_dot_type: F16 -> F16, BF16 -> BF16, Q8_0 -> Q8_0, Q6_K/TQ1_0/TQ2_0 -> Q8_K;
// F32 multiplies f32) and bitnet.cpp's ggml-bitnet-mad.cpp for I2_S (per-token int8, I8_S).
const TABLE: Record<number, Omit<GgmlTypeInfo, "id">> = {
  [GgmlType.F32]: info("F32", 1, 4, false, "f32"),
  [GgmlType.F16]: info("F16", 1, 2, false, "f16"),
  [GgmlType.Q4_0]: info("Q4_0", 32, 18, true),
  [GgmlType.Q4_1]: info("Q4_1", 32, 20, true),
  [GgmlType.Q5_0]: info("Q5_0", 32, 22, true),
  [GgmlType.Q5_1]: info("Q5_1", 32, 24, true),
  [GgmlType.Q8_0]: info("Q8_0", 32, 34, true, "q8_0"),
  [GgmlType.Q8_1]: info("Q8_1", 32, 36, true),
  [GgmlType.Q2_K]: info("Q2_K", QK_K, 84, true),
  [GgmlType.Q3_K]: info("Q3_K", QK_K, 110, true),
  [GgmlType.Q4_K]: info("Q4_K", QK_K, 144, true),
  [GgmlType.Q5_K]: info("Q5_K", QK_K, 176, true),
  [GgmlType.Q6_K]: info("Q6_K", QK_K, 210, true, "q8_k"),
  [GgmlType.Q8_K]: info("Q8_K", QK_K, 292, true),
  [GgmlType.I8]: info("I8", 1, 1, false),
  [GgmlType.I16]: info("I16", 1, 2, false),
  [GgmlType.I32]: info("I32", 1, 4, false),
  [GgmlType.I64]: info("I64", 1, 8, false),
  [GgmlType.F64]: info("F64", 1, 8, false),
  [GgmlType.BF16]: info("BF16", 1, 2, false, "bf16"),
  [GgmlType.TQ1_0]: info("TQ1_0", QK_K, 54, true, "q8_k"),
  [GgmlType.TQ2_0]: info("TQ2_0", QK_K, 66, true, "q8_k"),
  // I2_S packs 4 weights per byte in 128-weight blocks of 32 bytes; blockSize/typeSize describe that
  // packing, and the per-tensor 32-byte tail holds the f32 scale.
  [GgmlType.I2_S]: info("I2_S", 128, 32, true, "i8_s", 32),
};

/**
 * Look up a type id.
 *
 * @param id GGML type id.
 * @returns The type's geometry, or `undefined` when the id is not one this tool knows.
 * @example
 * ```ts
 * import { ggmlTypeInfo, GgmlType } from "./ggml_type.ts";
 * console.log(ggmlTypeInfo(GgmlType.TQ2_0)?.typeSize); // 66
 * ```
 */
export function ggmlTypeInfo(id: GgmlTypeId): GgmlTypeInfo | undefined {
  const t = TABLE[id];
  return t ? { id, ...t } : undefined;
}

/**
 * Look up a type by name (case-insensitive: `tq2_0`, `TQ2_0`).
 *
 * @param name Type name.
 * @returns The type's geometry.
 * @throws {RangeError} When the name is unknown; the message lists the known names.
 */
export function ggmlTypeByName(name: string): GgmlTypeInfo {
  const upper = name.toUpperCase();
  for (const [id, t] of Object.entries(TABLE)) {
    if (t.name === upper) return { id: Number(id), ...t };
  }
  throw new RangeError(
    `Unknown tensor type "${name}": expected one of ${Object.values(TABLE).map((t) => t.name).join(", ")}`,
  );
}

/** Name of a type id, or `type<N>` for an unknown id. */
export function ggmlTypeName(id: GgmlTypeId): string {
  return TABLE[id]?.name ?? `type${id}`;
}

/**
 * Bytes taken by a tensor of `nElements` values of type `id`.
 *
 * @param id GGML type id.
 * @param nElements Total element count; the first dimension must be a multiple of the block size.
 * @returns Byte size including any per-tensor tail.
 * @throws {RangeError} When the type is unknown or `nElements` is not a whole number of blocks.
 */
export function ggmlTensorBytes(id: GgmlTypeId, nElements: number): number {
  const t = TABLE[id];
  if (!t) throw new RangeError(`Cannot size a tensor of unknown type id ${id}`);
  if (nElements % t.blockSize !== 0) {
    throw new RangeError(
      `Cannot size a ${t.name} tensor of ${nElements} elements: not a multiple of the block size ${t.blockSize}`,
    );
  }
  return (nElements / t.blockSize) * t.typeSize + t.tensorTailBytes;
}

/**
 * Bytes per block of a type (`type_size`).
 *
 * @param id GGML type id.
 * @returns Bytes of one block.
 * @throws {RangeError} For an unknown type id.
 * @example
 * ```ts
 * import { blockBytes, GgmlType } from "./ggml_type.ts";
 * console.log(blockBytes(GgmlType.Q8_0)); // 34
 * ```
 */
export function blockBytes(id: GgmlTypeId): number {
  const t = TABLE[id];
  if (!t) throw new RangeError(`Cannot size a block of unknown type id ${id}: add the type to ggml_type.ts`);
  return t.typeSize;
}

/** Bytes after each I8_S row's `K` int8 values: f32 scale, i32 sum, 8 bytes padding (bitnet.cpp, ABI.md). */
export const I8S_ROW_EXTRA_BYTES = 16;

/** The GGML type behind each activation format that is one (`i8_s` is bitnet.cpp's own layout). */
const ACTIVATION_TYPE: Readonly<Record<Exclude<ActivationFormat, "i8_s">, GgmlTypeId>> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  bf16: GgmlType.BF16,
  q8_0: GgmlType.Q8_0,
  q8_k: GgmlType.Q8_K,
};

/**
 * Bytes of one activation row of `k` values in a format (the layouts of `kernels-wasm/ABI.md`).
 *
 * @param format Activation format.
 * @param k Values per row (a multiple of the format's block size).
 * @returns Bytes per row.
 * @throws {RangeError} When `k` is not a whole number of blocks.
 * @example
 * ```ts
 * import { activationRowBytes } from "./ggml_type.ts";
 * console.log(activationRowBytes("q8_k", 512), activationRowBytes("i8_s", 512)); // 584 528
 * ```
 */
export function activationRowBytes(format: ActivationFormat, k: number): number {
  return format === "i8_s" ? k + I8S_ROW_EXTRA_BYTES : ggmlTensorBytes(ACTIVATION_TYPE[format], k);
}
