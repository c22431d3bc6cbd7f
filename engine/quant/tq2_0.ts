/**
 * TQ2_0 (type 35): 256 ternary weights per block of `TQ2_0_BLOCK_BYTES` bytes, `qs[64]` (2 bits each, value + 1) then f16 `d`
 * (ggml-common.h:283-288). Reference quantize/dequantize, bit-exact with `quantize_row_tq2_0_ref` and
 * `dequantize_row_tq2_0` (ggml-quants.c:2382-2412, 2467-2484).
 *
 * @module
 */

import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { absMax, checkLength, checkWholeBlocks, QK_K, roundAway } from "./_private.ts";
import { blockBytes, GgmlType } from "./ggml_type.ts";

/** Bytes per 256-weight TQ2_0 block. */
export const TQ2_0_BLOCK_BYTES: number = blockBytes(GgmlType.TQ2_0);

/**
 * Quantize f32 weights to TQ2_0 (ggml `quantize_row_tq2_0_ref`): per block `d = max|x|`, codes
 * `lroundf(x * (1/d)) + 1` (C `lroundf`: half away from zero), `d` stored as f16.
 *
 * @param src Weights; length a multiple of 256.
 * @param dst Destination, at least `src.length / 256 * TQ2_0_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeTq2_0, TQ2_0_BLOCK_BYTES } from "./tq2_0.ts";
 * const dst = new Uint8Array(TQ2_0_BLOCK_BYTES);
 * quantizeTq2_0(new Float32Array(256).fill(-3), dst);
 * console.log(dst[0], dst[64], dst[65].toString(16)); // 0 0 42   (all codes 0 = -1; d = 3 = 0x4200)
 * ```
 */
export function quantizeTq2_0(src: Float32Array, dst: Uint8Array): void {
  checkWholeBlocks("quantizeTq2_0", "values", src.length, QK_K);
  const nb = src.length / QK_K;
  checkLength("quantizeTq2_0", "destination bytes", dst.length, nb * TQ2_0_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const x = b * QK_K;
    const o = b * TQ2_0_BLOCK_BYTES;
    const amax = absMax(src, x, QK_K);
    const id = amax !== 0 ? Math.fround(1 / amax) : 0;
    const h = f32ToF16(amax);
    for (let half = 0; half < 2; half++) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) {
          const c = roundAway(Math.fround(src[x + half * 128 + n * 32 + m] * id)) + 1;
          q += (c & 3) << (2 * n);
        }
        dst[o + half * 32 + m] = q;
      }
    }
    dst[o + 64] = h & 0xff;
    dst[o + 65] = h >>> 8;
  }
}

/**
 * Dequantize TQ2_0 blocks to f32 (ggml `dequantize_row_tq2_0`): `(code - 1) * d`.
 *
 * @param src TQ2_0 bytes, whole blocks.
 * @param dst Destination; its length (a multiple of 256) is the number of weights.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeTq2_0, TQ2_0_BLOCK_BYTES } from "./tq2_0.ts";
 * const blk = new Uint8Array(TQ2_0_BLOCK_BYTES).fill(0x55); // all codes 1 (zero)
 * blk[0] = 0x56; blk[64] = 0x00; blk[65] = 0x3c; // element 0 code 2 (+1), d = 1.0
 * const out = new Float32Array(256);
 * dequantizeTq2_0(blk, out);
 * console.log(out[0], out[1]); // 1 0
 * ```
 */
export function dequantizeTq2_0(src: Uint8Array, dst: Float32Array): void {
  checkWholeBlocks("dequantizeTq2_0", "values", dst.length, QK_K);
  const nb = dst.length / QK_K;
  checkLength("dequantizeTq2_0", "source bytes", src.length, nb * TQ2_0_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const o = b * TQ2_0_BLOCK_BYTES;
    const d = f16ToF32(src[o + 64] | (src[o + 65] << 8));
    // (code - 1) * d for the four codes: exact products, so no f32 rounding step is needed. A table lookup,
    // because random codes make a compare chain mispredict.
    const lut = [-d, 0 * d, d, 2 * d];
    const y = b * QK_K;
    for (let half = 0; half < 2; half++) {
      for (let m = 0; m < 32; m++) {
        const q = src[o + half * 32 + m];
        const e = y + half * 128 + m;
        dst[e] = lut[q & 3];
        dst[e + 32] = lut[(q >>> 2) & 3];
        dst[e + 64] = lut[(q >>> 4) & 3];
        dst[e + 96] = lut[q >>> 6];
      }
    }
  }
}
