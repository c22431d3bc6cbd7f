/**
 * The GGML tensor type table: ids, names and block geometry, as in ggml's `type_traits` table
 * (`ggml/src/ggml.c`, llama.cpp v0.5.0). Reference quantize/dequantize live in `formats.ts`;
 * fast kernels per backend are separate tables keyed by the same id.
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
}

const QK_K = 256;

function info(
  name: string,
  blockSize: number,
  typeSize: number,
  quantized: boolean,
  tensorTailBytes = 0,
): Omit<GgmlTypeInfo, "id"> {
  return { name, blockSize, typeSize, quantized, tensorTailBytes };
}

// Sizes from ggml-common.h (block_* structs) and ggml.c type_traits; I2_S from bitnet.cpp
// (Eddie-Wang1120/llama.cpp merge-dev ggml.c: blck_size 1, type_size 1, nbytes = n/4 + 32).
const TABLE: Record<number, Omit<GgmlTypeInfo, "id">> = {
  [GgmlType.F32]: info("F32", 1, 4, false),
  [GgmlType.F16]: info("F16", 1, 2, false),
  [GgmlType.Q4_0]: info("Q4_0", 32, 18, true),
  [GgmlType.Q4_1]: info("Q4_1", 32, 20, true),
  [GgmlType.Q5_0]: info("Q5_0", 32, 22, true),
  [GgmlType.Q5_1]: info("Q5_1", 32, 24, true),
  [GgmlType.Q8_0]: info("Q8_0", 32, 34, true),
  [GgmlType.Q8_1]: info("Q8_1", 32, 36, true),
  [GgmlType.Q2_K]: info("Q2_K", QK_K, 84, true),
  [GgmlType.Q3_K]: info("Q3_K", QK_K, 110, true),
  [GgmlType.Q4_K]: info("Q4_K", QK_K, 144, true),
  [GgmlType.Q5_K]: info("Q5_K", QK_K, 176, true),
  [GgmlType.Q6_K]: info("Q6_K", QK_K, 210, true),
  [GgmlType.Q8_K]: info("Q8_K", QK_K, 292, true),
  [GgmlType.I8]: info("I8", 1, 1, false),
  [GgmlType.I16]: info("I16", 1, 2, false),
  [GgmlType.I32]: info("I32", 1, 4, false),
  [GgmlType.I64]: info("I64", 1, 8, false),
  [GgmlType.F64]: info("F64", 1, 8, false),
  [GgmlType.BF16]: info("BF16", 1, 2, false),
  [GgmlType.TQ1_0]: info("TQ1_0", QK_K, 54, true),
  [GgmlType.TQ2_0]: info("TQ2_0", QK_K, 66, true),
  // I2_S packs 4 weights per byte in 128-weight blocks of 32 bytes; blockSize/typeSize describe that
  // packing, and the per-tensor 32-byte tail holds the f32 scale.
  [GgmlType.I2_S]: info("I2_S", 128, 32, true, 32),
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
