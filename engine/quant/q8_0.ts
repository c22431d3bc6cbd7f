/**
 * Q8_0 (type 8): 32 values per block of `Q8_0_BLOCK_BYTES` bytes, f16 `d` then `int8 qs[32]` (ggml-common.h:251-256).
 *
 * Two quantizers, because ggml has two that differ:
 * - {@link quantizeQ8_0} = `quantize_row_q8_0_ref` (ggml-quants.c:276-299), used to create model files:
 *   `d = amax / 127`, `id = 1 / d`, `q = roundf(x * id)` (half away from zero).
 * - {@link quantizeRowQ8_0} = what the x86 CPU backend runs on activations for Q8_0 weights
 *   (`quantize_row_q8_0`, ggml-cpu/arch/x86/quants.c:302-392, AVX/AVX2 path): same `d`, but
 *   `id = 127 / amax` (not `1 / d`, so it can differ by an ulp) and `_mm256_round_ps(_MM_ROUND_NEAREST)`
 *   (half to even), then saturating packs to int8. For some inputs the two give different bytes.
 *
 * @module
 */

import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { absMax, checkLength, checkWholeBlocks, nearestInt, roundAway } from "./_private.ts";
import { blockBytes, GgmlType } from "./ggml_type.ts";

/** Values per Q8_0 block (`QK8_0`). */
export const QK8_0 = 32;
/** Bytes per Q8_0 block. */
export const Q8_0_BLOCK_BYTES: number = blockBytes(GgmlType.Q8_0);

function check(fn: string, values: number, bytes: number, what: string): number {
  checkWholeBlocks(fn, "values", values, QK8_0);
  const nb = values / QK8_0;
  checkLength(fn, what, bytes, nb * Q8_0_BLOCK_BYTES);
  return nb;
}

/**
 * Quantize to Q8_0 like ggml's reference `quantize_row_q8_0_ref` (what `llama-quantize` writes).
 *
 * @param src Values; length a multiple of 32.
 * @param dst Destination, at least `src.length / 32 * Q8_0_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeQ8_0, Q8_0_BLOCK_BYTES } from "./q8_0.ts";
 * const x = new Float32Array(32).map((_, i) => i - 16);
 * const dst = new Uint8Array(Q8_0_BLOCK_BYTES);
 * quantizeQ8_0(x, dst);
 * console.log(new Int8Array(dst.buffer, 2, 32)[0]); // -127  (-16 is the absmax)
 * ```
 */
export function quantizeQ8_0(src: Float32Array, dst: Uint8Array): void {
  const nb = check("quantizeQ8_0", src.length, dst.length, "destination bytes");
  for (let b = 0; b < nb; b++) {
    const x = b * QK8_0;
    const o = b * Q8_0_BLOCK_BYTES;
    const amax = absMax(src, x, QK8_0);
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK8_0; j++) dst[o + 2 + j] = roundAway(Math.fround(src[x + j] * id));
  }
}

/**
 * Quantize activations to Q8_0 exactly like ggml's x86 CPU backend (`quantize_row_q8_0`, AVX/AVX2 path):
 * `id = 127 / amax`, ties to even, saturation to [-128, 127]. This is the `vec_dot_type` conversion applied to
 * activations before a Q8_0 matmul (ggml-cpu.c:273-276).
 *
 * @param x Activations; length a multiple of 32 (any number of rows whose length is a multiple of 32).
 * @param dst Destination, at least `x.length / 32 * Q8_0_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeRowQ8_0, Q8_0_BLOCK_BYTES } from "./q8_0.ts";
 * const x = new Float32Array(32);
 * x[0] = 127; x[1] = 0.5; x[2] = 2.5; // d = 1: exact ties, which go to even here (the _ref quantizer gives 1, 3)
 * const dst = new Uint8Array(Q8_0_BLOCK_BYTES);
 * quantizeRowQ8_0(x, dst);
 * console.log(dst[2], dst[3], dst[4]); // 127 0 2
 * ```
 */
export function quantizeRowQ8_0(x: Float32Array, dst: Uint8Array): void {
  const nb = check("quantizeRowQ8_0", x.length, dst.length, "destination bytes");
  for (let b = 0; b < nb; b++) {
    const xo = b * QK8_0;
    const o = b * Q8_0_BLOCK_BYTES;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) {
      const a = Math.abs(x[xo + j]);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = amax !== 0 ? Math.fround(127 / amax) : 0;
    const h = f32ToF16(d); // F16C `_cvtss_sh`: identical to ggml's software conversion for non-NaN values
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK8_0; j++) {
      const v = Math.fround(x[xo + j] * id);
      // round_ps(NEAREST) then cvtps_epi32; a NaN (inf * 0) becomes the "integer indefinite" 0x80000000,
      // which the saturating packs turn into -128.
      let q = v !== v ? -128 : nearestInt(v);
      if (q > 127) q = 127;
      else if (q < -128) q = -128;
      dst[o + 2 + j] = q;
    }
  }
}

/**
 * Dequantize Q8_0 blocks (ggml `dequantize_row_q8_0`): `q * d`.
 *
 * @param src Q8_0 bytes, whole blocks.
 * @param dst Destination; its length (a multiple of 32) is the number of values.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeQ8_0, Q8_0_BLOCK_BYTES } from "./q8_0.ts";
 * const blk = new Uint8Array(Q8_0_BLOCK_BYTES);
 * blk[1] = 0x3c; // d = 1.0
 * blk[2] = 0xfe; // q[0] = -2
 * const out = new Float32Array(32);
 * dequantizeQ8_0(blk, out);
 * console.log(out[0]); // -2
 * ```
 */
export function dequantizeQ8_0(src: Uint8Array, dst: Float32Array): void {
  const nb = check("dequantizeQ8_0", dst.length, src.length, "source bytes");
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16ToF32(src[o] | (src[o + 1] << 8));
    const y = b * QK8_0;
    for (let j = 0; j < QK8_0; j++) dst[y + j] = ((src[o + 2 + j] << 24) >> 24) * d;
  }
}
