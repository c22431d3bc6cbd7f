/**
 * Q6_K (type 14): 256 values per block of `Q6_K_BLOCK_BYTES` bytes: `ql[128]` (low 4 bits), `qh[64]` (high 2 bits), `int8 scales[16]`,
 * f16 `d` (ggml-common.h:358-368); value = `d * scales[i/16] * (q - 32)`.
 * Bit-exact with `quantize_row_q6_K_ref` (ggml-quants.c:1869-1936, with `make_qx_quants` at :628-700) and
 * `dequantize_row_q6_K` (:1938-1966). Every f32 operation of the C code is replayed with `Math.fround`, in the
 * same order, because the RMSE search compares f32 sums.
 *
 * @module
 */

import { f16ToF32, f32ToF16 } from "./fp16.ts";
import { checkLength, checkWholeBlocks, nearestInt, QK_K } from "./_private.ts";
import { blockBytes, GgmlType } from "./ggml_type.ts";

/** Bytes per Q6_K block. */
export const Q6_K_BLOCK_BYTES: number = blockBytes(GgmlType.Q6_K);

// GROUP_MAX_EPS (ggml-quants.c:20) as the f32 the C code compares against.
const GROUP_MAX_EPS = Math.fround(1e-15);
const F_0_1 = Math.fround(0.1);

// Per sub-block scratch: x, w = f32(x*x) and f32(w*x). They do not depend on the candidate scale, so they are
// computed once instead of 19 times; the values are the same as the C code recomputes.
const XS = new Float64Array(16);
const W = new Float64Array(16);
const WX = new Float64Array(16);

// nearest_int(iscale * x) clamped to [-nmax, nmax - 1] for the 16 values, into LS (the in-range case inline).
const LS = new Float64Array(16);

function codes(iscale: number, nmax: number): void {
  for (let i = 0; i < 16; i++) {
    const p = Math.fround(iscale * XS[i]);
    const l = p <= 4194303 && p >= -4194303 ? Math.fround(p + 12582912) - 12582912 : nearestInt(p);
    LS[i] = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
  }
}

/**
 * `make_qx_quants(16, 32, x, L, rmse_type = 1, qw = NULL)`: the best scale of a 16-value sub-block, trying
 * 19 candidate inverse scales; fills `L[lo..lo+15]` with codes 0..63 and returns the scale.
 */
function makeQxQuants(x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const n = 16;
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    XS[i] = xi;
    const w = Math.fround(xi * xi);
    W[i] = w;
    WX[i] = Math.fround(w * xi);
    const ax = Math.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = Math.fround(-nmax / max);
  codes(iscale, nmax);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = LS[i];
    L[lo + i] = l + nmax;
    sumlx = Math.fround(sumlx + Math.fround(WX[i] * l));
    suml2 = Math.fround(suml2 + Math.fround(Math.fround(W[i] * l) * l));
  }
  let scale = suml2 !== 0 ? Math.fround(sumlx / suml2) : 0;
  let best = Math.fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = Math.fround(-Math.fround(nmax + Math.fround(F_0_1 * is)) / max);
    sumlx = suml2 = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.fround(iscale * XS[i]);
      let l = p <= 4194303 && p >= -4194303 ? Math.fround(p + 12582912) - 12582912 : nearestInt(p);
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      sumlx = Math.fround(sumlx + Math.fround(WX[i] * l));
      suml2 = Math.fround(suml2 + Math.fround(Math.fround(W[i] * l) * l));
    }
    if (suml2 > 0 && Math.fround(sumlx * sumlx) > Math.fround(best * suml2)) {
      codes(iscale, nmax);
      for (let i = 0; i < n; i++) L[lo + i] = nmax + LS[i];
      scale = Math.fround(sumlx / suml2);
      best = Math.fround(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Quantize to Q6_K like ggml's reference `quantize_row_q6_K_ref` (what `llama-quantize` writes without an
 * importance matrix).
 *
 * @param src Values; length a multiple of 256.
 * @param dst Destination, at least `src.length / 256 * Q6_K_BLOCK_BYTES` bytes.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeQ6K, quantizeQ6K, Q6_K_BLOCK_BYTES } from "./q6_k.ts";
 * const x = new Float32Array(256).map((_, i) => Math.sin(i));
 * const q = new Uint8Array(Q6_K_BLOCK_BYTES);
 * quantizeQ6K(x, q);
 * const y = new Float32Array(256);
 * dequantizeQ6K(q, y);
 * console.log(Math.abs(y[1] - x[1]) < 0.02); // true
 * ```
 */
export function quantizeQ6K(src: Float32Array, dst: Uint8Array): void {
  checkWholeBlocks("quantizeQ6K", "values", src.length, QK_K);
  const nb = src.length / QK_K;
  checkLength("quantizeQ6K", "destination bytes", dst.length, nb * Q6_K_BLOCK_BYTES);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const xo = b * QK_K;
    const o = b * Q6_K_BLOCK_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(src, xo + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, o, o + Q6_K_BLOCK_BYTES); // memset, and d = fp16(0) = 0
      continue;
    }
    const iscale = Math.fround(-128 / maxScale);
    const dh = f32ToF16(Math.fround(1 / iscale));
    dst[o + 208] = dh & 0xff;
    dst[o + 209] = dh >>> 8;
    const dBlock = f16ToF32(dh);
    for (let ib = 0; ib < 16; ib++) {
      const sc = Math.min(127, nearestInt(Math.fround(iscale * scales[ib])));
      dst[o + 192 + ib] = sc; // stored as int8_t (wraps mod 256 like the C assignment)
    }
    for (let j = 0; j < 16; j++) {
      const sc = (dst[o + 192 + j] << 24) >> 24;
      const d = Math.fround(dBlock * sc);
      if (d === 0) continue; // `if (!d)`: L keeps make_qx_quants' codes; a NaN d does not skip
      for (let ii = 0; ii < 16; ii++) {
        let l = nearestInt(Math.fround(src[xo + 16 * j + ii] / d));
        l = Math.max(-32, Math.min(31, l));
        L[16 * j + ii] = l + 32;
      }
    }
    for (let half = 0; half < 2; half++) {
      const j = half * 128;
      const ql = o + half * 64;
      const qh = o + 128 + half * 32;
      for (let l = 0; l < 32; l++) {
        const a = L[j + l], bq = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
        dst[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        dst[ql + l + 32] = (bq & 0xf) | ((e & 0xf) << 4);
        dst[qh + l] = (a >> 4) | ((bq >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}

/**
 * Dequantize Q6_K blocks (ggml `dequantize_row_q6_K`): `d * scale * (q - 32)`, multiplied in that order in f32.
 *
 * @param src Q6_K bytes, whole blocks.
 * @param dst Destination; its length (a multiple of 256) is the number of values.
 * @throws {RangeError} When the lengths do not fit.
 * @example
 * ```ts
 * import { dequantizeQ6K, Q6_K_BLOCK_BYTES } from "./q6_k.ts";
 * const blk = new Uint8Array(Q6_K_BLOCK_BYTES);
 * blk[0] = 0x01; // ql: element 0 low bits = 1 (q = 1 - 32 = -31 with qh = 0)
 * blk[192] = 2; // scales[0] = 2
 * blk[209] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeQ6K(blk, out);
 * console.log(out[0], out[1]); // -62 -64
 * ```
 */
export function dequantizeQ6K(src: Uint8Array, dst: Float32Array): void {
  checkWholeBlocks("dequantizeQ6K", "values", dst.length, QK_K);
  const nb = dst.length / QK_K;
  checkLength("dequantizeQ6K", "source bytes", src.length, nb * Q6_K_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const o = b * Q6_K_BLOCK_BYTES;
    const d = f16ToF32(src[o + 208] | (src[o + 209] << 8));
    for (let half = 0; half < 2; half++) {
      const ql = o + half * 64;
      const qh = o + 128 + half * 32;
      const sc = o + 192 + half * 8;
      const y = b * QK_K + half * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        // (d * sc) is exact in f32 (11 x 8 bits); the product with q is exact in double and rounded once on store.
        dst[y + l] = d * ((src[sc + is] << 24) >> 24) * q1;
        dst[y + l + 32] = d * ((src[sc + is + 2] << 24) >> 24) * q2;
        dst[y + l + 64] = d * ((src[sc + is + 4] << 24) >> 24) * q3;
        dst[y + l + 96] = d * ((src[sc + is + 6] << 24) >> 24) * q4;
      }
    }
  }
}
