/**
 * One ternary weight tensor as the converter sees it, whatever its format: one code per weight (`value + 1` in
 * {0, 1, 2}, row-major) and its scales: the f16 `d` of every 256-weight block for TQ1_0 / TQ2_0, one f32 scale for
 * I2_S, and the value of the companion `{1}`-shaped `.scale` tensor that llama.cpp's bitnet graph multiplies after
 * the matmul (`src/models/bitnet.cpp`, `build_lora_mm` then `ggml_mul`). The weight a matmul uses for element `e` is
 * `(code - 1) * d(block of e) * tensorScale` (TQ) or `(code - 1) * scale * tensorScale` (I2_S): the converter keeps
 * that product exactly.
 *
 * Pure functions over bytes; `convert_gguf.ts` does the file I/O.
 *
 * @module
 */

import { GgmlType, type GgmlTypeId, ggmlTypeInfo, ggmlTypeName } from "../quant/ggml_type.ts";
import { type I2SPacking, packI2SCodes, unpackI2SCodes } from "../quant/i2_s_packing.ts";
import { packTq1_0, packTq2_0, unpackTernary } from "../quant/ternary.ts";

/** The ternary GGML types. */
export const TERNARY_TYPE_IDS: readonly GgmlTypeId[] = [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S];

/** True for TQ1_0, TQ2_0 and I2_S. */
export function isTernaryType(type: GgmlTypeId): boolean {
  return TERNARY_TYPE_IDS.includes(type);
}

/** The scales of one ternary tensor (no codes): what conversion decisions depend on. */
export interface TernaryScales {
  /** GGML type of the tensor. */
  readonly type: GgmlTypeId;
  /** Rows (`ne1` and above). */
  readonly rows: number;
  /** Weights per row (`ne0`). */
  readonly rowLength: number;
  /** TQ types: f16 bits of `d` per 256-weight block, in file order. */
  readonly blockD?: Uint16Array;
  /** TQ types: 1 for a block whose weights are all zero (its `d` does not matter), else 0. */
  readonly zeroBlock?: Uint8Array;
  /** I2_S: the f32 per-tensor scale. */
  readonly i2sScale?: number;
  /** Value of the companion `.scale` tensor, when the file has one. */
  readonly tensorScale?: number;
}

/** A decoded ternary tensor: codes and scales. */
export interface TernaryWeights extends TernaryScales {
  /** One code per weight, `value + 1`; 3 only in a corrupt tensor. */
  readonly codes: Uint8Array;
}

/** Options of {@link decodeTernary}. */
export interface DecodeTernaryOptions {
  /** How an I2_S tensor is packed (default `act-parallel`, what real files carry). */
  readonly i2sPacking?: I2SPacking;
  /** Value of the companion `.scale` tensor, if any. */
  readonly tensorScale?: number;
}

/**
 * Decode a TQ1_0, TQ2_0 or I2_S tensor.
 *
 * @param type Its GGML type.
 * @param bytes Its bytes, exactly as stored.
 * @param shape Its GGML shape (`ne0` first).
 * @param options I2_S packing and `.scale` value.
 * @returns Codes and scales.
 * @throws {RangeError} When the type is not ternary or the bytes do not fit the shape.
 * @example
 * ```ts
 * import { decodeTernary } from "./ternary_weights.ts";
 * import { GgmlType } from "../quant/ggml_type.ts";
 * const bytes = new Uint8Array(256 / 4 + 32).fill(0x55); // all codes 1 (zero)
 * new DataView(bytes.buffer).setFloat32(64, 0.25, true);
 * const w = decodeTernary(GgmlType.I2_S, bytes, [256, 1]);
 * console.log(w.codes[0], w.i2sScale); // 1 0.25
 * ```
 */
export function decodeTernary(
  type: GgmlTypeId,
  bytes: Uint8Array,
  shape: readonly number[],
  options: DecodeTernaryOptions = {},
): TernaryWeights {
  const rowLength = shape[0] ?? 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const rows = rowLength > 0 ? n / rowLength : 0;
  const codes = new Uint8Array(n);
  const base = { type, rows, rowLength, tensorScale: options.tensorScale };
  if (type === GgmlType.I2_S) {
    const i2sScale = unpackI2SCodes(bytes, options.i2sPacking ?? "act-parallel", { rows, rowLength }, codes);
    return { ...base, codes, i2sScale };
  }
  if (type !== GgmlType.TQ1_0 && type !== GgmlType.TQ2_0) {
    throw new RangeError(
      `Cannot decode a ${ggmlTypeName(type)} tensor as ternary weights: expected TQ1_0, TQ2_0 or I2_S`,
    );
  }
  unpackTernary(type, bytes, codes);
  const info = ggmlTypeInfo(type)!;
  const nb = n / info.blockSize;
  const blockD = new Uint16Array(nb);
  const zeroBlock = new Uint8Array(nb);
  for (let b = 0; b < nb; b++) {
    const at = b * info.typeSize + info.typeSize - 2; // d is the last field of block_tq1_0 / block_tq2_0
    blockD[b] = bytes[at] | (bytes[at + 1] << 8);
    let zero = 1;
    for (let e = b * info.blockSize; e < (b + 1) * info.blockSize; e++) {
      if (codes[e] !== 1) {
        zero = 0;
        break;
      }
    }
    zeroBlock[b] = zero;
  }
  return { ...base, codes, blockD, zeroBlock };
}

/** How a weight is written in the target format: the scales that go with its codes. */
export interface TernaryEncoding {
  /** Target GGML type. */
  readonly type: GgmlTypeId;
  /** TQ targets: f16 bits of `d` per 256-weight block. */
  readonly blockD?: Uint16Array;
  /** I2_S target: the f32 per-tensor scale. */
  readonly i2sScale?: number;
  /** The companion `.scale` tensor to write (its f32 value), or undefined to write none. */
  readonly tensorScale?: number;
}

/**
 * Encode codes with the scales of an {@link TernaryEncoding}. TQ blocks get exactly the `d` bits given (zero blocks
 * included); I2_S is written in the `act-parallel` packing, the one real files and the engine use.
 *
 * @param codes One code per weight in {0, 1, 2}.
 * @param shape GGML shape.
 * @param enc Target type and scales.
 * @returns The tensor's bytes.
 * @throws {RangeError} When a code is not 0, 1 or 2, or the shape does not fit the type's blocks.
 * @example
 * ```ts
 * import { encodeTernary } from "./ternary_weights.ts";
 * import { GgmlType } from "../quant/ggml_type.ts";
 * const bytes = encodeTernary(new Uint8Array(256).fill(2), [256, 1], {
 *   type: GgmlType.TQ2_0,
 *   blockD: new Uint16Array([0x3c00]),
 * });
 * console.log(bytes.length, bytes[64], bytes[65]); // 66 0 60
 * ```
 */
export function encodeTernary(codes: Uint8Array, shape: readonly number[], enc: TernaryEncoding): Uint8Array {
  const rowLength = shape[0] ?? 1;
  const rows = rowLength > 0 ? codes.length / rowLength : 0;
  if (enc.type === GgmlType.I2_S) {
    const out = new Uint8Array(codes.length / 4 + ggmlTypeInfo(GgmlType.I2_S)!.tensorTailBytes);
    packI2SCodes(codes, enc.i2sScale ?? 0, "act-parallel", { rows, rowLength }, out);
    return out;
  }
  const info = ggmlTypeInfo(enc.type);
  if (!info || (enc.type !== GgmlType.TQ1_0 && enc.type !== GgmlType.TQ2_0) || !enc.blockD) {
    throw new RangeError(`Cannot encode ternary weights as ${ggmlTypeName(enc.type)}: expected TQ1_0, TQ2_0 or I2_S`);
  }
  const nb = codes.length / info.blockSize;
  const out = new Uint8Array(nb * info.typeSize);
  // Pack with placeholder scales, then store the exact d bits of every block.
  const ones = new Float32Array(nb).fill(1);
  if (enc.type === GgmlType.TQ2_0) packTq2_0(codes, ones, out);
  else packTq1_0(codes, ones, out);
  for (let b = 0; b < nb; b++) {
    const at = b * info.typeSize + info.typeSize - 2;
    out[at] = enc.blockD[b] & 0xff;
    out[at + 1] = enc.blockD[b] >>> 8;
  }
  return out;
}
