/**
 * The quant format table: for each supported GGML type id, its row of the type table (`ggml_type.ts`: geometry and
 * the activation format of its dot product) with the reference
 * `quantize` / `dequantize`, bit-exact with ggml (llama.cpp v0.5.0) or, for I2_S, with bitnet.cpp. Fast kernels
 * per backend are separate tables keyed by the same id (see `kernels-wasm/ABI.md`).
 *
 * @module
 */

import { type ActivationFormat, GgmlType, type GgmlTypeId, ggmlTypeInfo, ggmlTypeName } from "./ggml_type.ts";
import { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from "./float_rows.ts";
import { dequantizeQ8_0, quantizeQ8_0 } from "./q8_0.ts";
import { dequantizeQ6K, quantizeQ6K } from "./q6_k.ts";
import { dequantizeQ8K, quantizeQ8K } from "./q8_k.ts";
import { dequantizeTq1_0, quantizeTq1_0 } from "./tq1_0.ts";
import { dequantizeTq2_0, quantizeTq2_0 } from "./tq2_0.ts";
import { dequantizeI2S, quantizeI2S } from "./i2_s.ts";

/** One tensor type with its reference conversions. */
export interface QuantFormat {
  /** GGML type id (as stored in GGUF tensor infos). */
  readonly id: GgmlTypeId;
  /** Upper-case name (`TQ2_0`). */
  readonly name: string;
  /** Elements per block (for I2_S the 128-weight packing block). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Bytes after the blocks of a whole tensor (I2_S's tail holds the f32 scale; else 0). */
  readonly tensorTailBytes: number;
  /** The activation format its dot product consumes (undefined for Q8_K, itself an activation format). */
  readonly activation: ActivationFormat | undefined;
  /**
   * Decode bytes to f32. `dst.length` (a multiple of `blockSize`) is the element count; `src` holds whole
   * blocks (for I2_S: the whole tensor including its tail).
   */
  dequantize(src: Uint8Array, dst: Float32Array): void;
  /**
   * Encode f32 to bytes with the reference quantizer (`quantize_row_*_ref`). `src.length` must be a multiple of
   * `blockSize`; for I2_S `src` is the whole tensor (the scale is per tensor).
   */
  quantize(src: Float32Array, dst: Uint8Array): void;
}

type Codec = Pick<QuantFormat, "dequantize" | "quantize">;

const CODECS: ReadonlyArray<readonly [GgmlTypeId, Codec]> = [
  [GgmlType.F32, { dequantize: dequantizeF32, quantize: quantizeF32 }],
  [GgmlType.F16, { dequantize: dequantizeF16, quantize: quantizeF16 }],
  [GgmlType.BF16, { dequantize: dequantizeBF16, quantize: quantizeBF16 }],
  [GgmlType.Q8_0, { dequantize: dequantizeQ8_0, quantize: quantizeQ8_0 }],
  [GgmlType.Q6_K, { dequantize: dequantizeQ6K, quantize: quantizeQ6K }],
  [GgmlType.Q8_K, { dequantize: dequantizeQ8K, quantize: quantizeQ8K }],
  [GgmlType.TQ1_0, { dequantize: dequantizeTq1_0, quantize: quantizeTq1_0 }],
  [GgmlType.TQ2_0, { dequantize: dequantizeTq2_0, quantize: quantizeTq2_0 }],
  [GgmlType.I2_S, { dequantize: dequantizeI2S, quantize: quantizeI2S }],
];

/** Every supported format, keyed by GGML type id. */
export const QUANT_FORMATS: ReadonlyMap<GgmlTypeId, QuantFormat> = new Map(
  CODECS.map(([id, codec]) => {
    const info = ggmlTypeInfo(id)!;
    const format: QuantFormat = Object.freeze({
      id,
      name: info.name,
      blockSize: info.blockSize,
      typeSize: info.typeSize,
      tensorTailBytes: info.tensorTailBytes,
      activation: info.activation,
      dequantize: codec.dequantize,
      quantize: codec.quantize,
    });
    return [id, format] as const;
  }),
);

/**
 * The format of a GGML type id.
 *
 * @param id GGML type id.
 * @returns The format with its reference quantize/dequantize.
 * @throws {RangeError} When the type has no quantize/dequantize here; the message names it and lists the supported ones.
 * @example
 * ```ts
 * import { quantFormat } from "./formats.ts";
 * import { GgmlType } from "./ggml_type.ts";
 * const f = quantFormat(GgmlType.TQ2_0);
 * const bytes = new Uint8Array(f.typeSize);
 * f.quantize(new Float32Array(256).fill(1), bytes);
 * const back = new Float32Array(256);
 * f.dequantize(bytes, back);
 * console.log(f.name, f.blockSize, back[0]); // TQ2_0 256 1
 * ```
 */
export function quantFormat(id: GgmlTypeId): QuantFormat {
  const f = QUANT_FORMATS.get(id);
  if (f) return f;
  const supported = [...QUANT_FORMATS.values()].map((q) => `${q.name} (${q.id})`).join(", ");
  throw new RangeError(
    `No quant format for type ${ggmlTypeName(id)} (id ${id}): only ${supported} are implemented. ` +
      `Convert the tensor to one of these types.`,
  );
}
