/**
 * Q8_K (type 15): the intermediate activation type of K-quant and ternary matmuls. 256 values per block of `Q8_K_BLOCK_BYTES` bytes:
 * f32 `d`, `int8 qs[256]`, `int16 bsums[16]` (sums of 16 consecutive `qs`) (ggml-common.h:371-376).
 * Bit-exact with `quantize_row_q8_K_ref` / `dequantize_row_q8_K` (ggml-quants.c:2768-2816); the x86 CPU backend
 * calls the ref directly for activations (ggml-cpu/arch/x86/quants.c:505-507).
 *
 * @module
 */

import { checkLength, checkWholeBlocks, nearestInt, QK_K, viewOf } from "./_private.ts";
import { blockBytes, GgmlType } from "./ggml_type.ts";

/** Bytes per Q8_K block. */
export const Q8_K_BLOCK_BYTES: number = blockBytes(GgmlType.Q8_K);

/**
 * Quantize to Q8_K (ggml `quantize_row_q8_K_ref`): `max` = the signed value of largest magnitude (first
 * occurrence), `iscale = -127 / max`, `q = min(127, nearest_int(iscale * x))` (ties to even), `d = 1 / iscale`
 * (negative when `max > 0`), `bsums` = sums of 16 `q`. An all-zero block gets `d = 0` and zero `qs`; ggml leaves
 * that block's `bsums` unwritten, this writes them as 0 (their true value).
 *
 * @param x Values; length a multiple of 256 (any number of rows whose length is a multiple of 256).
 * @param dst Destination, at least `x.length / 256 * Q8_K_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeQ8K, Q8_K_BLOCK_BYTES } from "./q8_k.ts";
 * const x = new Float32Array(256).fill(0.5);
 * x[3] = 2;
 * const dst = new Uint8Array(Q8_K_BLOCK_BYTES);
 * quantizeQ8K(x, dst);
 * const v = new DataView(dst.buffer);
 * console.log(v.getFloat32(0, true), v.getInt8(4 + 3), v.getInt16(260, true)); // -0.015748031437397003 -127 -607
 * ```
 */
export function quantizeQ8K(x: Float32Array, dst: Uint8Array): void {
  checkWholeBlocks("quantizeQ8K", "values", x.length, QK_K);
  const nb = x.length / QK_K;
  checkLength("quantizeQ8K", "destination bytes", dst.length, nb * Q8_K_BLOCK_BYTES);
  const view = viewOf(dst);
  for (let b = 0; b < nb; b++) {
    const xo = b * QK_K;
    const o = b * Q8_K_BLOCK_BYTES;
    let max = 0;
    let amax = 0;
    for (let j = 0; j < QK_K; j++) {
      const v = x[xo + j];
      const a = Math.abs(v);
      if (a > amax) {
        amax = a;
        max = v;
      }
    }
    if (amax === 0) {
      dst.fill(0, o, o + Q8_K_BLOCK_BYTES);
      continue;
    }
    const iscale = Math.fround(-127 / max);
    for (let g = 0; g < 16; g++) {
      let sum = 0;
      for (let k = 0; k < 16; k++) {
        const j = g * 16 + k;
        let q = nearestInt(Math.fround(iscale * x[xo + j]));
        if (q > 127) q = 127;
        dst[o + 4 + j] = q;
        sum += (q << 24) >> 24; // the C sum reads back the stored int8
      }
      view.setInt16(o + 260 + g * 2, sum, true);
    }
    view.setFloat32(o, Math.fround(1 / iscale), true);
  }
}

/**
 * Dequantize Q8_K blocks (ggml `dequantize_row_q8_K`): `d * q`.
 *
 * @param src Q8_K bytes, whole blocks.
 * @param dst Destination; its length (a multiple of 256) is the number of values.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeQ8K, Q8_K_BLOCK_BYTES } from "./q8_k.ts";
 * const blk = new Uint8Array(Q8_K_BLOCK_BYTES);
 * new DataView(blk.buffer).setFloat32(0, 0.25, true);
 * blk[4] = 8;
 * const out = new Float32Array(256);
 * dequantizeQ8K(blk, out);
 * console.log(out[0], out[1]); // 2 0
 * ```
 */
export function dequantizeQ8K(src: Uint8Array, dst: Float32Array): void {
  checkWholeBlocks("dequantizeQ8K", "values", dst.length, QK_K);
  const nb = dst.length / QK_K;
  checkLength("dequantizeQ8K", "source bytes", src.length, nb * Q8_K_BLOCK_BYTES);
  const view = viewOf(src);
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_K_BLOCK_BYTES;
    const d = view.getFloat32(o, true);
    const y = b * QK_K;
    for (let j = 0; j < QK_K; j++) dst[y + j] = d * ((src[o + 4 + j] << 24) >> 24);
  }
}
