/**
 * TQ1_0 (`GgmlType.TQ1_0`): 256 ternary weights per block of `TQ1_0_BLOCK_BYTES` bytes, `qs[48]` (5 trits per byte), `qh[4]` (4 trits per byte)
 * and f16 `d` (ggml-common.h:274-280). Reference quantize/dequantize, bit-exact with `quantize_row_tq1_0_ref`
 * and `dequantize_row_tq1_0` (ggml-quants.c:2316-2380, 2428-2465).
 *
 * @module
 */

import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { absMax, checkLength, checkWholeBlocks, QK_K, roundAway } from "./_private.ts";
import { blockBytes, GgmlType } from "./ggml_type.ts";

/** Bytes per 256-weight TQ1_0 block. */
export const TQ1_0_BLOCK_BYTES: number = blockBytes(GgmlType.TQ1_0);

// Trit n of a packed byte: `((uint8_t)(byte * 3^n) * 3) >> 8` (ggml-quants.c:2441-2443).
const POW3 = [1, 3, 9, 27, 81];

// -1, 0, +1 -> 0, 1, 2: `lroundf(x[i] * id) + 1` with the product rounded to f32 first.
function trit(src: Float32Array, i: number, id: number): number {
  return roundAway(Math.fround(src[i] * id)) + 1;
}

/**
 * Quantize f32 weights to TQ1_0 (ggml `quantize_row_tq1_0_ref`): per block `d = max|x|`, trits
 * `lroundf(x * (1/d)) + 1`, five per byte (first element most significant), stored as `ceil(q * 256 / 243)`.
 *
 * @param src Weights; length a multiple of 256.
 * @param dst Destination, at least `src.length / 256 * TQ1_0_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeTq1_0, TQ1_0_BLOCK_BYTES } from "./tq1_0.ts";
 * const dst = new Uint8Array(TQ1_0_BLOCK_BYTES);
 * quantizeTq1_0(new Float32Array(256).fill(1), dst);
 * console.log(dst[0], dst[48]); // 255 253  (qs: q = 242 -> 255; qh: q = 80 * 3 = 240 -> 253)
 * ```
 */
export function quantizeTq1_0(src: Float32Array, dst: Uint8Array): void {
  checkWholeBlocks("quantizeTq1_0", "values", src.length, QK_K);
  const nb = src.length / QK_K;
  checkLength("quantizeTq1_0", "destination bytes", dst.length, nb * TQ1_0_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const x = b * QK_K;
    const o = b * TQ1_0_BLOCK_BYTES;
    const amax = absMax(src, x, QK_K);
    const id = amax !== 0 ? Math.fround(1 / amax) : 0;
    const h = f32ToF16(amax);
    // The C code keeps q in a uint8_t: `q *= 3; q += xi` wraps mod 256, then `(uint16_t)q * 256 + 242) / 243`.
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = (q * 3 + trit(src, x + m + n * 32, id)) & 0xff;
      dst[o + m] = Math.floor((q * 256 + 242) / 243);
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = (q * 3 + trit(src, x + 160 + m + n * 16, id)) & 0xff;
      dst[o + 32 + m] = Math.floor((q * 256 + 242) / 243);
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let m = 0; m < 4; m++) q = (q * 3 + trit(src, x + 240 + j + m * 4, id)) & 0xff;
      q = (q * 3) & 0xff;
      dst[o + 48 + j] = Math.floor((q * 256 + 242) / 243);
    }
    dst[o + 52] = h & 0xff;
    dst[o + 53] = h >>> 8;
  }
}

/**
 * Dequantize TQ1_0 blocks to f32 (ggml `dequantize_row_tq1_0`): `(trit - 1) * d`.
 *
 * @param src TQ1_0 bytes, whole blocks.
 * @param dst Destination; its length (a multiple of 256) is the number of weights.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeTq1_0, TQ1_0_BLOCK_BYTES } from "./tq1_0.ts";
 * const blk = new Uint8Array(TQ1_0_BLOCK_BYTES).fill(255); // every trit 2 (+1)
 * blk[52] = 0x00; blk[53] = 0x40; // d = 2.0
 * const out = new Float32Array(256);
 * dequantizeTq1_0(blk, out);
 * console.log(out[0], out[255]); // 2 2
 * ```
 */
export function dequantizeTq1_0(src: Uint8Array, dst: Float32Array): void {
  checkWholeBlocks("dequantizeTq1_0", "values", dst.length, QK_K);
  const nb = dst.length / QK_K;
  checkLength("dequantizeTq1_0", "source bytes", src.length, nb * TQ1_0_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const o = b * TQ1_0_BLOCK_BYTES;
    const d = f16ToF32(src[o + 52] | (src[o + 53] << 8));
    const lut = [-d, 0 * d, d]; // trits are 0..2 for every byte value: (255 * 3) >> 8 = 2
    const y = b * QK_K;
    for (let n = 0; n < 5; n++) {
      const p = POW3[n];
      for (let m = 0; m < 32; m++) {
        const t = (((src[o + m] * p) & 0xff) * 3) >>> 8;
        dst[y + n * 32 + m] = lut[t];
      }
      for (let m = 0; m < 16; m++) {
        const t = (((src[o + 32 + m] * p) & 0xff) * 3) >>> 8;
        dst[y + 160 + n * 16 + m] = lut[t];
      }
    }
    for (let n = 0; n < 4; n++) {
      const p = POW3[n];
      for (let j = 0; j < 4; j++) {
        const t = (((src[o + 48 + j] * p) & 0xff) * 3) >>> 8;
        dst[y + 240 + n * 4 + j] = lut[t];
      }
    }
  }
}
