/**
 * I2_S (bitnet.cpp type 36): ternary weights of a whole tensor, 2 bits each, in 128-weight blocks of 32 bytes,
 * followed by a 32-byte tail whose first 4 bytes are the f32 per-tensor scale. Codes: 0 = -1, 1 = 0, 2 = +1.
 * Byte `g` of a block holds elements `g, 32+g, 64+g, 96+g` in bits 7:6, 5:4, 3:2, 1:0.
 *
 * Sources: bitnet.cpp `quantize_i2_s` (microsoft/BitNet `src/ggml-bitnet-mad.cpp`, x86 `ACT_PARALLEL` layout,
 * the one the official 2B4T GGUF uses) and docs/formats.md section 2. The C quantizer writes only
 * the first 4 tail bytes; this one writes the other 28 as zeros. bitnet.cpp's other packings of type 36 are in
 * `i2_s_packing.ts`.
 *
 * @module
 */

import { I2S_TAIL_BYTES } from "./ternary.ts";
import { checkLength, checkWholeBlocks, viewOf } from "./_private.ts";

/** Weights per I2_S block (`QK_I2_S` on x86). */
export const QK_I2_S = 128;

/**
 * Quantize a whole tensor to I2_S (bitnet.cpp `quantize_i2_s`): `scale = max|x|` (f64, stored as f32); each
 * weight becomes code 1 when `|x| < 1e-6`, else 2 when `x * scale > 0`, else 0. The weights are expected to be
 * ternary already (`t * scale`); other values keep only their sign.
 *
 * @param src All weights of the tensor; length a multiple of 128.
 * @param dst Destination, at least `src.length / 4 + 32` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { quantizeI2S } from "./i2_s.ts";
 * const w = new Float32Array(128).fill(0);
 * w[0] = 1.5; w[32] = -1.5;
 * const dst = new Uint8Array(64);
 * quantizeI2S(w, dst);
 * console.log(dst[0].toString(2), new DataView(dst.buffer).getFloat32(32, true)); // "10000101" 1.5
 * ```
 */
export function quantizeI2S(src: Float32Array, dst: Uint8Array): void {
  const n = src.length;
  checkWholeBlocks("quantizeI2S", "values", n, QK_I2_S);
  checkLength("quantizeI2S", "destination bytes", dst.length, n / 4 + I2S_TAIL_BYTES);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(src[i]);
    if (a > max) max = a; // C fmax(max, fabs(x)): NaN is ignored
  }
  for (let b = 0; b < n / QK_I2_S; b++) {
    for (let g = 0; g < 32; g++) {
      let byte = 0;
      for (let grp = 0; grp < 4; grp++) {
        const x = src[b * QK_I2_S + grp * 32 + g];
        // 1 when |x| < 1e-6, else 2 when x * max > 0, else 0 (a NaN gives 0, as in C); branch-free because
        // the signs of random weights defeat branch prediction.
        const nz = +!(Math.abs(x) < 1e-6);
        const code = 1 + nz * (2 * +(x * max > 0) - 1);
        byte |= code << (6 - 2 * grp);
      }
      dst[b * 32 + g] = byte;
    }
  }
  const at = n / 4;
  dst.fill(0, at, at + I2S_TAIL_BYTES);
  viewOf(dst).setFloat32(at, max, true);
}

/**
 * Dequantize an I2_S tensor: `(code - 1) * scale` in f32.
 *
 * @param src The tensor's bytes: `n / 4` packed bytes, then the 32-byte tail holding the f32 scale.
 * @param dst Destination; its length (a multiple of 128) is the number of weights `n`.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeI2S } from "./i2_s.ts";
 * const t = new Uint8Array(64).fill(0x55); // all codes 1 (zero)
 * t[0] = 0x95; // element 0 code 2 (+1)
 * new DataView(t.buffer).setFloat32(32, 2.25, true);
 * const out = new Float32Array(128);
 * dequantizeI2S(t, out);
 * console.log(out[0], out[1]); // 2.25 0
 * ```
 */
export function dequantizeI2S(src: Uint8Array, dst: Float32Array): void {
  const n = dst.length;
  checkWholeBlocks("dequantizeI2S", "values", n, QK_I2_S);
  checkLength("dequantizeI2S", "source bytes (packed codes and the 32-byte tail)", src.length, n / 4 + I2S_TAIL_BYTES);
  const s = viewOf(src).getFloat32(n / 4, true);
  // (code - 1) * s for the four codes (a table lookup: random codes make a compare chain mispredict).
  const lut = [-s, 0 * s, s, 2 * s];
  for (let i = 0; i < n / 4; i++) {
    const byte = src[i];
    const e = (i >>> 5) * QK_I2_S + (i & 31);
    dst[e] = lut[byte >>> 6];
    dst[e + 32] = lut[(byte >>> 4) & 3];
    dst[e + 64] = lut[(byte >>> 2) & 3];
    dst[e + 96] = lut[byte & 3];
  }
}
