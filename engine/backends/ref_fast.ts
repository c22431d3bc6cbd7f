/**
 * The reference backend's twins of the `fast` numerics profile's kernels (kernel ids `fast.*`) and of the bandwidth
 * probe: the plain definition of each, one output element at a time, in the order `kernels-wasm/ABI.md` ("Fast
 * profile") defines. The ternary kernels and the repacks are exact integer work plus a fixed float order, so the
 * WASM kernels give these bytes exactly; the float kernels (`fast.gemm.f16_f32`, `fast.gemm.bf16_f32`,
 * `fast.attention`, `fast.swiglu`) are defined with a multiply then an add at every step, which the SIMD128 module
 * reproduces bit for bit and the relaxed-SIMD module (fused multiply-adds where the CPU has FMA) to a tolerance
 * (`engine/backends/tolerances.ts`).
 *
 * @module
 */

import { bf16ToF32, f16ToF32 } from "../quant/fp16.ts";

const fr = Math.fround;
const QK_K = 256;
const Q8_K_BYTES = 292;
const TQ2_0_BYTES = 66;
const TQ1_0_BYTES = 54;

/** The typed views over the arena that these kernels use (a subset of the reference backend's). */
export interface FastViews {
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
}

type Kernel = (v: FastViews, args: number[], ith: number, nth: number) => void;

/** `[start, end)` of share `ith` of `n` items split into `nth` contiguous chunks. */
function share(n: number, ith: number, nth: number): [number, number] {
  const per = Math.ceil(n / nth);
  const a = Math.min(n, per * ith);
  return [a, Math.min(n, a + per)];
}

/**
 * Byte offset of block `b` of row `o` in the pair layout TQ2_0x2: rows 2p and 2p+1 interleave their blocks
 * (`[row 2p block 0][row 2p+1 block 0][row 2p block 1]...`); the last row of an odd row count stays a plain row.
 */
export function x2Block(o: number, b: number, nOut: number, nb: number, bytes: number): number {
  return o % 2 === 1 || o + 1 < nOut ? (o - (o % 2)) * nb * bytes + (2 * b + (o % 2)) * bytes : (o * nb + b) * bytes;
}

/** The 256 codes (0..3) of the TQ2_0 block at byte `blk`, element order (ggml-common.h). */
function tq2Codes(u8: Uint8Array, blk: number, out: Uint8Array): void {
  for (let e = 0; e < QK_K; e++) out[e] = (u8[blk + (e >> 7) * 32 + (e & 31)] >> (2 * ((e & 127) >> 5))) & 3;
}

/** The 256 trits (0..2) of the TQ1_0 block at byte `blk`, element order (ggml-common.h, quants.c). */
function tq1Codes(u8: Uint8Array, blk: number, out: Uint8Array): void {
  const trit = (q: number, l: number) => (((q * [1, 3, 9, 27, 81][l]) & 0xff) * 3) >> 8;
  for (let l = 0; l < 5; l++) {
    for (let m = 0; m < 32; m++) out[l * 32 + m] = trit(u8[blk + m], l);
    for (let m = 0; m < 16; m++) out[160 + l * 16 + m] = trit(u8[blk + 32 + m], l);
  }
  for (let l = 0; l < 4; l++) for (let j = 0; j < 4; j++) out[240 + l * 4 + j] = trit(u8[blk + 48 + j], l);
}

/**
 * `fast.gemm.tq2_0x2_q8_k`: per block four integer lanes (lane g: elements with `(e % 16) / 4 == g`, codes 0..3 =
 * value + 1), lane 0 minus the block's sum of q; `d = f32(x.d * f16(w.d))`; `acc_g = acc_g + f32(lane_g) * d`
 * (multiply, then add) over the blocks in order; `y = (acc_0 + acc_1) + (acc_2 + acc_3)`.
 */
const gemmTq2x2: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const nb = k / QK_K;
  const [o0, o1] = share(nOut, ith, nth);
  const codes = new Uint8Array(QK_K), s = new Int32Array(4), acc = new Float32Array(4);
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      acc.fill(0);
      for (let b = 0; b < nb; b++) {
        const blk = w + x2Block(o, b, nOut, nb, TQ2_0_BYTES), xb = xq + (t * nb + b) * Q8_K_BYTES;
        tq2Codes(v.u8, blk, codes);
        s.fill(0);
        for (let e = 0; e < QK_K; e++) {
          const q = v.i8[xb + 4 + e];
          s[(e & 15) >> 2] += codes[e] * q;
          s[0] -= q;
        }
        const d = fr(v.f32[xb >>> 2] * f16ToF32(v.u8[blk + 64] | (v.u8[blk + 65] << 8)));
        for (let g = 0; g < 4; g++) acc[g] = fr(acc[g] + fr(s[g] * d));
      }
      v.f32[(y >>> 2) + t * nOut + o] = fr(fr(acc[0] + acc[1]) + fr(acc[2] + acc[3]));
    }
  }
};

/** `fast.repack.tq2_0x2`: TQ2_0 rows -> TQ2_0x2, in place (each thread a share of the row pairs). */
const repackTq2x2: Kernel = (v, [w, nOut, k], ith, nth) => {
  const nb = k / QK_K, rb = nb * TQ2_0_BYTES;
  const [p0, p1] = share(Math.floor(nOut / 2), ith, nth);
  for (let p = p0; p < p1; p++) {
    const base = w + 2 * p * rb;
    const tmp = v.u8.slice(base, base + 2 * rb);
    for (let b = 0; b < nb; b++) {
      for (let r = 0; r < 2; r++) {
        v.u8.set(
          tmp.subarray(r * rb + b * TQ2_0_BYTES, r * rb + (b + 1) * TQ2_0_BYTES),
          base + (2 * b + r) * TQ2_0_BYTES,
        );
      }
    }
  }
};

/** `fast.repack.tq1_0_tq2_0x2`: each TQ1_0 block becomes the TQ2_0 block with the same codes and scale, at its
 * TQ2_0x2 place in `dst` (lossless). */
const repackTq1: Kernel = (v, [src, dst, nOut, k], ith, nth) => {
  const nb = k / QK_K;
  const [r0, r1] = share(nOut, ith, nth);
  const codes = new Uint8Array(QK_K);
  for (let o = r0; o < r1; o++) {
    for (let b = 0; b < nb; b++) {
      const sb = src + (o * nb + b) * TQ1_0_BYTES, db = dst + x2Block(o, b, nOut, nb, TQ2_0_BYTES);
      tq1Codes(v.u8, sb, codes);
      for (let i = 0; i < 64; i++) {
        const h = i >> 5, m = i & 31;
        let q = 0;
        for (let n = 0; n < 4; n++) q |= codes[h * 128 + n * 32 + m] << (2 * n);
        v.u8[db + i] = q;
      }
      v.u8[db + 64] = v.u8[sb + 52];
      v.u8[db + 65] = v.u8[sb + 53];
    }
  }
};

/**
 * The power-of-two exponent the fast F16 GEMV scales activations by: 112, or less when max|x| * 2^112 would reach
 * 2^126 (then 125 - 1 - exponent(max|x|)).
 */
function xScale(f32: Float32Array, x4: number, k: number): number {
  let mx = 0;
  for (let i = 0; i < k; i++) mx = Math.max(mx, Math.abs(f32[x4 + i]));
  const bits = new Uint32Array(new Float32Array([mx]).buffer)[0];
  const e = ((bits >>> 23) & 0xff) - 127;
  return e + 112 < 125 ? 112 : 125 - e - 1;
}

/**
 * `fast.gemm.f16_f32` / `fast.gemm.bf16_f32`: activations scaled by 2^s (F16: s from {@link xScale}; BF16: 0), F16
 * weights as value * 2^-112; 32 lanes (`i % 32`) of multiply-then-add chains over `floor(K/32)*32` elements,
 * reduced `A_l = (C_l + C_{16+l}) + (C_{8+l} + C_{24+l})`, `B_l = (C_{4+l} + C_{20+l}) + (C_{12+l} + C_{28+l})`,
 * `V_l = A_l + B_l`, `(V_0 + V_2) + (V_1 + V_3)`; then the tail in order; times `2^(112 - s)` (F16).
 */
function gemmFloat(f16: boolean): Kernel {
  return (v, [w, x, y, nOut, k, nTok], ith, nth) => {
    const [o0, o1] = share(nOut, ith, nth);
    const xs = new Float32Array(k), c = new Float32Array(32), wr = new Float32Array(k);
    const k32 = Math.floor(k / 32) * 32;
    for (let t = 0; t < nTok; t++) {
      const x4 = (x >>> 2) + t * k;
      const sh = f16 ? xScale(v.f32, x4, k) : 0;
      for (let i = 0; i < k; i++) xs[i] = fr(v.f32[x4 + i] * 2 ** sh);
      const post = f16 ? fr(2 ** (112 - sh)) : 1;
      for (let o = o0; o < o1; o++) {
        const w2 = (w >>> 1) + o * k;
        for (let i = 0; i < k; i++) wr[i] = f16 ? fr(f16ToF32(v.u16[w2 + i]) * 2 ** -112) : bf16ToF32(v.u16[w2 + i]);
        c.fill(0);
        for (let i = 0; i < k32; i++) c[i & 31] = fr(c[i & 31] + fr(wr[i] * xs[i]));
        const V = [0, 1, 2, 3].map((l) =>
          fr(
            fr(fr(c[l] + c[16 + l]) + fr(c[8 + l] + c[24 + l])) +
              fr(fr(c[4 + l] + c[20 + l]) + fr(c[12 + l] + c[28 + l])),
          )
        );
        let s = fr(fr(V[0] + V[2]) + fr(V[1] + V[3]));
        for (let i = k32; i < k; i++) s = fr(s + fr(wr[i] * xs[i]));
        v.f32[(y >>> 2) + t * nOut + o] = fr(s * post);
      }
    }
  };
}

const bitsF32 = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];
// ggml_v_expf's constants (vec.h), as in kernels-wasm/src/ggml.rs.
const EXP_R = bitsF32(0x4b400000), EXP_LOG2E = bitsF32(0x3fb8aa3b), EXP_LN2_HI = bitsF32(0x3f317200);
const EXP_LN2_LO = bitsF32(0x35bfbe8e), EXP_C5 = bitsF32(0x3c072010), EXP_C4 = bitsF32(0x3d2b9f17);
const EXP_C3 = bitsF32(0x3e2aaf33), EXP_C2 = bitsF32(0x3efffedb), EXP_C1 = bitsF32(0x3f7ffff6);
const F1 = new Float32Array(1), U1 = new Uint32Array(F1.buffer);

/**
 * The fast profile's `exp`: x clamped to [-87, 88] (NaN stays NaN), ggml's `ggml_v_expf` polynomial (Arm
 * optimized-routines) with every fused step a multiply then an add, `2^n` from the exponent bits of
 * `z = x * log2(e) + 1.5 * 2^23`.
 *
 * @param x Argument (an f32 value).
 * @returns exp(x) as an f32 value (relative error about 2 ulp).
 * @example
 * ```ts
 * import { expFast } from "./ref_fast.ts";
 * console.log(Math.abs(expFast(1) - Math.E) < 1e-6); // true
 * ```
 */
export function expFast(x: number): number {
  x = x < -87 ? -87 : x;
  x = 88 < x ? 88 : x;
  const z = fr(fr(x * EXP_LOG2E) + EXP_R);
  const n = fr(z - EXP_R);
  let b = fr(fr(-n * EXP_LN2_HI) + x);
  b = fr(fr(-n * EXP_LN2_LO) + b);
  const u = fr(b * b);
  const t1 = fr(fr(EXP_C5 * b) + EXP_C4), t2 = fr(fr(EXP_C3 * b) + EXP_C2), t4 = fr(fr(EXP_C1 * b) + 1);
  const j = fr(fr(fr(fr(t1 * u) + t2) * u) + t4);
  F1[0] = z;
  U1[0] = ((U1[0] << 23) + 0x3f800000) >>> 0;
  return fr(j * F1[0]);
}

/**
 * `fast.attention`, per query head: `s_j = dot(k_j, q) * scale` with 16 lanes (`i % 16`) chained in i order,
 * reduced `l = (a_l + a_{4+l}) + (a_{8+l} + a_{12+l})`, then `(l0 + l1) + (l2 + l3)`; `e_j = expFast(s_j - max)`;
 * `sum` = 4 lanes (`j % 4`) over `j < floor(n/4)*4`, reduced likewise, plus the rest in order;
 * `out[d] = (sum_j e_j * v_j[d]) * (1 / sum)`, one chain per d in j order. Causal GQA as `attention`.
 */
const attentionFast: Kernel = (
  v,
  [q, k, vv, out, _scratch, nTok, pos0, nHead, nHeadKv, headDim, _nCtx, scale],
  ith,
  nth,
) => {
  const [r0, r1] = share(nTok * nHead, ith, nth);
  const f32 = v.f32, sc = fr(scale), group = nHead / nHeadKv, kvDim = nHeadKv * headDim, qDim = nHead * headDim;
  const a = new Float32Array(16);
  for (let r = r0; r < r1; r++) {
    const t = Math.floor(r / nHead), h = r % nHead, hk = Math.floor(h / group), n = pos0 + t + 1;
    const qo = (q >>> 2) + t * qDim + h * headDim, ko = (k >>> 2) + hk * headDim, vo = (vv >>> 2) + hk * headDim;
    const e = new Float32Array(n);
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      a.fill(0);
      for (let i = 0; i < headDim; i++) a[i & 15] = fr(a[i & 15] + fr(f32[ko + j * kvDim + i] * f32[qo + i]));
      const l = [0, 1, 2, 3].map((i) => fr(fr(a[i] + a[4 + i]) + fr(a[8 + i] + a[12 + i])));
      e[j] = fr(fr(fr(l[0] + l[1]) + fr(l[2] + l[3])) * sc);
      if (e[j] > mx) mx = e[j];
    }
    const n4 = Math.floor(n / 4) * 4, ls = new Float32Array(4);
    for (let j = 0; j < n; j++) {
      e[j] = expFast(fr(e[j] - mx));
      if (j < n4) ls[j & 3] = fr(ls[j & 3] + e[j]);
    }
    let sum = fr(fr(ls[0] + ls[1]) + fr(ls[2] + ls[3]));
    for (let j = n4; j < n; j++) sum = fr(sum + e[j]);
    const inv = fr(1 / sum), oo = (out >>> 2) + t * qDim + h * headDim;
    for (let d = 0; d < headDim; d++) {
      let s = 0;
      for (let j = 0; j < n; j++) s = fr(s + fr(e[j] * f32[vo + j * kvDim + d]));
      f32[oo + d] = fr(s * inv);
    }
  }
};

/** `fast.swiglu`: `y = (x / (1 + expFast(-x))) * u`. */
const swigluFast: Kernel = (v, [g, u, y, n], ith, nth) => {
  const [i0, i1] = share(n, ith, nth);
  const f = v.f32, g4 = g >>> 2, u4 = u >>> 2, y4 = y >>> 2;
  for (let i = i0; i < i1; i++) {
    const x = f[g4 + i];
    f[y4 + i] = fr(fr(x / fr(1 + expFast(-x))) * f[u4 + i]);
  }
};

/** `probe.read`: adds the wrapping sum of the u32 words of `n` bytes at `x` to the u32 at `out`. */
const probeRead: Kernel = (v, [x, n, out], ith, nth) => {
  const [c0, c1] = share(n / 64, ith, nth);
  let s = 0;
  for (let i = (x >>> 2) + c0 * 16; i < (x >>> 2) + c1 * 16; i++) s = (s + (v.i32[i] >>> 0)) >>> 0;
  v.i32[out >>> 2] = ((v.i32[out >>> 2] >>> 0) + s) | 0;
};

/** The fast profile's kernels and the probe, keyed by kernel id. */
export const FAST_KERNELS = {
  "fast.gemm.tq2_0x2_q8_k": gemmTq2x2,
  "fast.gemm.f16_f32": gemmFloat(true),
  "fast.gemm.bf16_f32": gemmFloat(false),
  "fast.attention": attentionFast,
  "fast.swiglu": swigluFast,
  "fast.repack.tq2_0x2": repackTq2x2,
  "fast.repack.tq1_0_tq2_0x2": repackTq1,
  "probe.read": probeRead,
} as const satisfies Record<string, Kernel>;
