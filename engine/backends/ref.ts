/**
 * {@link RefBackend}: every kernel of `kernels-wasm/ABI.md` in plain TypeScript over one resizable ArrayBuffer
 * arena. It is the scalar twin the WASM kernels and the forward pass are checked against: slow and simple, and
 * computing every float operation in the order of llama.cpp's x86 AVX-512 CPU build (`ggml_order.ts`: lane
 * layouts, FMA contractions, reduction trees, ggml's `expf` approximation), so that a forward pass on this backend
 * gives bit-identical logits to llama.cpp v0.5.0 in parity mode on this project's machines
 * (`tests/engine_vs_llama_test.ts`). Where ggml picks a kernel by batch size (llamafile's tinyBLAS for batches of
 * two or more, `ggml_vec_dot_*` for one), so does this backend, keyed on `n_tok`.
 *
 * Threads: `run` calls each kernel once per `ith` in `0..nth-1`, one after the other, so a kernel that splits its
 * work wrongly shows up as a difference between `threads: 1` and `threads: 3` results.
 *
 * Dimension letters: K = inner (reduction) size, N = output rows (`n_out`), T = tokens, H / Hk = heads / KV heads,
 * D = head dim, R = rotated dims.
 *
 * @module
 */

import type { KernelBackend } from "./backend.ts";
import { resolveThreads } from "./create.ts";
import { checkKernelCall, cpuScratchBytes, type KernelId, type ScratchShape } from "./kernel_table.ts";
import { KernelRecorder } from "./recorder.ts";
import { fma32, hsum8, reduce16, tinyBlasDotF32, vecDotF32, vecDotF32Padded, vExpf, vSilu } from "./ggml_order.ts";
import { bf16ToF32Row, f16ToF32, f16ToF32Row, f32ToBf16Row, f32ToF16Row } from "../quant/fp16.ts";
import { dequantizeQ6K, dequantizeQ8_0, quantizeRowI8S, quantizeRowQ8_0, quantizeRowQ8K } from "../quant/mod.ts";
import { activationRowBytes, blockBytes, GgmlType } from "../quant/ggml_type.ts";
import { FAST_KERNELS } from "./ref_fast.ts";

const fr = Math.fround;
const QK_K = 256;
const Q8_K_BYTES = blockBytes(GgmlType.Q8_K);
const Q8_0_BYTES = blockBytes(GgmlType.Q8_0);
const TQ2_0_BYTES = blockBytes(GgmlType.TQ2_0);
const TQ1_0_BYTES = blockBytes(GgmlType.TQ1_0);
const Q6_K_BYTES = blockBytes(GgmlType.Q6_K);
const MAX_ARENA = 2 ** 32 - 65536;

/** Typed views over the whole arena (length-tracking, so they follow `resize`). */
interface Views {
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  /** Per-thread decode scratch (256 codes). */
  readonly codes: Int8Array;
}

type Kernel = (v: Views, args: number[], ith: number, nth: number) => void;

/** Options of {@link RefBackend.create}. */
export interface RefBackendOptions {
  /** Logical threads (kernels are split into `threads` shares run one after the other). Default 1. */
  readonly threads?: number;
  /** Initial arena size in bytes (it grows on demand). Default 1 MiB. */
  readonly initialBytes?: number;
}

/** `[start, end)` of share `ith` of `n` items split into `nth` contiguous chunks. */
function share(n: number, ith: number, nth: number): [number, number] {
  const per = Math.ceil(n / nth);
  const a = Math.min(n, per * ith);
  return [a, Math.min(n, a + per)];
}

function f16At(v: Views, byte: number): number {
  return f16ToF32(v.u8[byte] | (v.u8[byte + 1] << 8));
}

// ---------------------------------------------------------------------------------------------------------------
// Activation quantizers (layouts in ABI.md "Quantized activations"; math in engine/quant).

function quantizeRows(
  rowBytes: (k: number) => number,
  fn: (src: Float32Array, dst: Uint8Array) => void,
): Kernel {
  return (v, [x, y, k, nRows], ith, nth) => {
    const [r0, r1] = share(nRows, ith, nth);
    const rb = rowBytes(k);
    for (let r = r0; r < r1; r++) {
      const src = v.f32.subarray((x >>> 2) + r * k, (x >>> 2) + (r + 1) * k);
      fn(src, v.u8.subarray(y + r * rb, y + (r + 1) * rb));
    }
  };
}

function convertRows(fn: (src: Float32Array, dst: Uint16Array) => void): Kernel {
  return (v, [x, y, k, nRows], ith, nth) => {
    const [r0, r1] = share(nRows, ith, nth);
    for (let r = r0; r < r1; r++) {
      fn(
        v.f32.subarray((x >>> 2) + r * k, (x >>> 2) + (r + 1) * k),
        v.u16.subarray((y >>> 1) + r * k, (y >>> 1) + (r + 1) * k),
      );
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Matmuls: w [N][K] (GGUF rows), activations [T][K] quantized, y [T][N] f32. Split over output rows N.

/** Decode one TQ2_0 block's 256 weights to their codes `value + 1` in {0, 1, 2} (ggml-common.h:283-288). */
function decodeTq2_0(v: Views, blk: number, out: Int8Array): void {
  const u8 = v.u8;
  for (let half = 0; half < 2; half++) {
    for (let m = 0; m < 32; m++) {
      const q = u8[blk + half * 32 + m];
      const e = half * 128 + m;
      out[e] = q & 3;
      out[e + 32] = (q >>> 2) & 3;
      out[e + 64] = (q >>> 4) & 3;
      out[e + 96] = (q >>> 6) & 3;
    }
  }
}

const POW3 = [1, 3, 9, 27, 81, 243];

function trit(byte: number, l: number): number {
  // ggml-cpu/quants.c ggml_vec_dot_tq1_0_q8_K_generic: q = (u8)(byte * 3^l); trit = (q * 3) >> 8.
  return (((byte * POW3[l]) & 0xff) * 3) >>> 8;
}

/** Decode one TQ1_0 block to its trits (codes `value + 1`) in element order (ggml-common.h:274-280, quants.c:481-531). */
function decodeTq1_0(v: Views, blk: number, out: Int8Array): void {
  const u8 = v.u8;
  for (let l = 0; l < 5; l++) {
    for (let m = 0; m < 32; m++) out[l * 32 + m] = trit(u8[blk + m], l);
    for (let m = 0; m < 16; m++) out[160 + l * 16 + m] = trit(u8[blk + 32 + m], l);
  }
  for (let l = 0; l < 4; l++) {
    for (let j = 0; j < 4; j++) out[240 + l * 4 + j] = trit(u8[blk + 48 + j], l);
  }
}

/**
 * Ternary x Q8_K (TQ2_0 / TQ1_0) in the order of ggml's x86 AVX2 kernels (`arch/x86/quants.c`
 * `ggml_vec_dot_tq{1,2}_0_q8_K`, which the AVX-512 builds use too): per block, integer lane `p` (0..7) holds
 * `sum code*q` over the elements `e` with `(e % 32) >> 2 == p` minus the Q8_K `bsums` of elements `32p..32p+31`;
 * float lane `p` accumulates `fma(lane_p, d_x * d_w, acc_p)` over blocks; `hsum_float_8` at the end. The integer
 * part is exact; the float order makes the result bit-identical to llama.cpp's.
 */
function gemmTernaryQ8K(
  blockBytes: number,
  dOffset: number,
  decode: (v: Views, blk: number, out: Int8Array) => void,
): Kernel {
  return (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
    const nb = k / QK_K;
    const [o0, o1] = share(nOut, ith, nth);
    const { i8, i16, f32, codes } = v;
    const acc = new Float32Array(8 * nTok);
    for (let o = o0; o < o1; o++) {
      acc.fill(0);
      for (let b = 0; b < nb; b++) {
        const blk = w + (o * nb + b) * blockBytes;
        decode(v, blk, codes); // codes c = value + 1 in {0, 1, 2}
        const dw = f16At(v, blk + dOffset);
        for (let t = 0; t < nTok; t++) {
          const xb = xq + (t * nb + b) * Q8_K_BYTES, q = xb + 4, bs = (xb + 260) >>> 1;
          const d = fr(f32[xb >>> 2] * dw);
          // Lane p: sum c*q over elements e with (e % 32) >> 2 == p, minus bsums of elements 32p..32p+31 (the AVX2
          // kernel multiplies the unsigned codes, then subtracts the Q8_K bsums).
          for (let p = 0; p < 8; p++) {
            let s = -i16[bs + 2 * p] - i16[bs + 2 * p + 1];
            for (let e = 4 * p; e < QK_K; e += 32) {
              s += codes[e] * i8[q + e] + codes[e + 1] * i8[q + e + 1] + codes[e + 2] * i8[q + e + 2] +
                codes[e + 3] * i8[q + e + 3];
            }
            acc[t * 8 + p] = fma32(s, d, acc[t * 8 + p]);
          }
        }
      }
      for (let t = 0; t < nTok; t++) f32[(y >>> 2) + t * nOut + o] = hsum8(acc.subarray(t * 8, t * 8 + 8));
    }
  };
}

/**
 * Q6_K x Q8_K in the order of ggml's x86 AVX2 kernel (`arch/x86/quants.c` `ggml_vec_dot_q6_K_q8_K`): per block,
 * integer lane `p` (0..7) = sum of `scale[e/16] * q6(e) * q8(e)` over elements with `(e % 32) >> 2 == p` (`q6` the
 * unsigned 6-bit value) minus `32 * (bsums[2p]*scale[2p] + bsums[2p+1]*scale[2p+1])`; float lane
 * `p` = `fma(d, lane_p, acc_p)` with `d = d_x * d_w`; `hsum_float_8` at the end.
 */
const gemmQ6KQ8K: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const nb = k / QK_K;
  const [o0, o1] = share(nOut, ith, nth);
  const { u8, i8, i16, f32 } = v;
  const q6 = new Uint8Array(QK_K), acc = new Float32Array(8);
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      acc.fill(0);
      for (let b = 0; b < nb; b++) {
        const blk = w + (o * nb + b) * Q6_K_BYTES, xb = xq + (t * nb + b) * Q8_K_BYTES;
        // block_q6_K: ql[128] @0, qh[64] @128, scales[16] (i8) @192, d (f16) @208.
        for (let half = 0; half < 2; half++) {
          const ql = blk + half * 64, qh = blk + 128 + half * 32, ao = half * 128;
          for (let l = 0; l < 32; l++) {
            const h = u8[qh + l];
            q6[ao + l] = (u8[ql + l] & 0xf) | ((h & 3) << 4);
            q6[ao + l + 32] = (u8[ql + l + 32] & 0xf) | (((h >>> 2) & 3) << 4);
            q6[ao + l + 64] = (u8[ql + l] >>> 4) | (((h >>> 4) & 3) << 4);
            q6[ao + l + 96] = (u8[ql + l + 32] >>> 4) | (((h >>> 6) & 3) << 4);
          }
        }
        const q8 = xb + 4, bs = (xb + 260) >>> 1, sc = blk + 192;
        const d = fr(f32[xb >>> 2] * f16At(v, blk + 208));
        for (let p = 0; p < 8; p++) {
          let s = -32 * (i16[bs + 2 * p] * i8[sc + 2 * p] + i16[bs + 2 * p + 1] * i8[sc + 2 * p + 1]);
          for (let e = 4 * p; e < QK_K; e += 32) {
            const g = i8[sc + (e >> 4)];
            s += g *
              (q6[e] * i8[q8 + e] + q6[e + 1] * i8[q8 + e + 1] + q6[e + 2] * i8[q8 + e + 2] +
                q6[e + 3] * i8[q8 + e + 3]);
          }
          acc[p] = fma32(d, fr(s), acc[p]); // _mm256_cvtepi32_ps rounds lanes beyond 2^24
        }
      }
      f32[(y >>> 2) + t * nOut + o] = hsum8(acc);
    }
  }
};

/**
 * Q8_0 x Q8_0 in the order of ggml's x86 AVX2 kernel (`ggml_vec_dot_q8_0_q8_0`): per 32-block, integer lane `p` =
 * the 4 products at bytes `4p..4p+3`, float lane `p` = `fma(d_w * d_x, lane_p, acc_p)`; `hsum_float_8`.
 */
const gemmQ80Q80: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const nb = k / 32;
  const [o0, o1] = share(nOut, ith, nth);
  const { i8, f32 } = v;
  const acc = new Float32Array(8);
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      acc.fill(0);
      for (let b = 0; b < nb; b++) {
        const wb = w + (o * nb + b) * Q8_0_BYTES + 2, xb = xq + (t * nb + b) * Q8_0_BYTES + 2;
        const d = fr(f16At(v, wb - 2) * f16At(v, xb - 2));
        for (let p = 0; p < 8; p++) {
          const j = 4 * p;
          const s = i8[wb + j] * i8[xb + j] + i8[wb + j + 1] * i8[xb + j + 1] + i8[wb + j + 2] * i8[xb + j + 2] +
            i8[wb + j + 3] * i8[xb + j + 3];
          acc[p] = fma32(d, s, acc[p]);
        }
      }
      f32[(y >>> 2) + t * nOut + o] = hsum8(acc);
    }
  }
};

/**
 * F16 x F16 in ggml's x86 order: one token is `ggml_vec_dot_f16` (4 x 16 f32 lanes on the converted values); a
 * batch of two or more goes through tinyBLAS (one 16-lane accumulator) when K % 16 == 0 and N % 4 == 0, as
 * llamafile_sgemm takes it. Products of two f16 values are exact in f32.
 */
const gemmF16: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const [o0, o1] = share(nOut, ith, nth);
  const wRow = new Float32Array(k), xRows = new Float32Array(k * nTok), acc = new Float32Array(64);
  f16ToF32Row(v.u16.subarray(xq >>> 1, (xq >>> 1) + k * nTok), xRows);
  const dot = nTok >= 2 && k % 16 === 0 && nOut % 4 === 0 ? tinyBlasDotF32 : vecDotF32;
  for (let o = o0; o < o1; o++) {
    f16ToF32Row(v.u16.subarray((w >>> 1) + o * k, (w >>> 1) + (o + 1) * k), wRow);
    for (let t = 0; t < nTok; t++) v.f32[(y >>> 2) + t * nOut + o] = dot(k, wRow, 0, 1, xRows, t * k, 1, acc);
  }
};

/**
 * BF16 x BF16 in the order of ggml's AVX512-BF16 kernels. One token: `ggml_vec_dot_bf16`, per 64-element chunk two
 * 16-lane accumulators (elements 0..31 and 32..63) take `vdpbf16ps` steps (lane `l` adds the product of pair
 * element `2l+1`, then of `2l`, each rounded; the products are exact in f32); the two accumulators are reduced and
 * summed in f64, the tail in f64 one product at a time. A batch llamafile_sgemm takes (two or more tokens,
 * K % 32 == 0, N % 4 == 0): tinyBLAS with `_mm512_dpbf16_ps`, one 16-lane accumulator taking the same steps over
 * 32-element chunks, then `reduce16`.
 */
const gemmBf16: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const [o0, o1] = share(nOut, ith, nth);
  const wRow = new Float32Array(k), xRow = new Float32Array(k), c1 = new Float32Array(16), c2 = new Float32Array(16);
  const tinyBlas = nTok >= 2 && k % 32 === 0 && nOut % 4 === 0;
  for (let o = o0; o < o1; o++) {
    bf16ToF32Row(v.u16.subarray((w >>> 1) + o * k, (w >>> 1) + (o + 1) * k), wRow);
    for (let t = 0; t < nTok; t++) {
      bf16ToF32Row(v.u16.subarray((xq >>> 1) + t * k, (xq >>> 1) + (t + 1) * k), xRow);
      c1.fill(0);
      c2.fill(0);
      if (tinyBlas) {
        for (let i = 0; i < k; i += 32) {
          for (let l = 0; l < 16; l++) {
            const a = i + 2 * l;
            c1[l] = fr(fr(c1[l] + wRow[a + 1] * xRow[a + 1]) + wRow[a] * xRow[a]);
          }
        }
        v.f32[(y >>> 2) + t * nOut + o] = reduce16(c1);
        continue;
      }
      let i = 0;
      for (; i + 64 <= k; i += 64) {
        for (let l = 0; l < 16; l++) {
          const a = i + 2 * l, b = i + 32 + 2 * l;
          c1[l] = fr(fr(c1[l] + wRow[a + 1] * xRow[a + 1]) + wRow[a] * xRow[a]);
          c2[l] = fr(fr(c2[l] + wRow[b + 1] * xRow[b + 1]) + wRow[b] * xRow[b]);
        }
      }
      let sum = reduce16(c1) + reduce16(c2);
      for (; i < k; i++) sum += wRow[i] * xRow[i];
      v.f32[(y >>> 2) + t * nOut + o] = sum;
    }
  }
};

/** F32 x F32 in ggml's x86 order: `ggml_vec_dot_f32` for one token, tinyBLAS for a batch llamafile_sgemm takes. */
const gemmF32: Kernel = (v, [w, x, y, nOut, k, nTok], ith, nth) => {
  const [o0, o1] = share(nOut, ith, nth);
  const f32 = v.f32, acc = new Float32Array(64);
  const dot = nTok >= 2 && k % 16 === 0 && nOut % 4 === 0 ? tinyBlasDotF32 : vecDotF32;
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      f32[(y >>> 2) + t * nOut + o] = dot(k, f32, (w >>> 2) + o * k, 1, f32, (x >>> 2) + t * k, 1, acc);
    }
  }
};

/**
 * I2_S x I8_S (bitnet.cpp): `(sum code*q - sum q) / act_scale * w_scale`, codes 0/1/2 = -1/0/+1 in 128-element
 * blocks of 32 bytes; byte g holds elements g, 32+g, 64+g, 96+g in bits 7:6, 5:4, 3:2, 1:0.
 */
const gemmI2SI8S: Kernel = (v, [w, xq, y, nOut, k, nTok], ith, nth) => {
  const [o0, o1] = share(nOut, ith, nth);
  const { u8, i8, i32, f32 } = v;
  const rowBytes = k / 4;
  const wScale = f32[(w + nOut * rowBytes) >>> 2];
  const stride = activationRowBytes("i8_s", k);
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      const xr = xq + t * stride;
      let sumi = 0;
      for (let b = 0; b < k / 128; b++) {
        const wb = w + o * rowBytes + b * 32, xb = xr + b * 128;
        for (let g = 0; g < 32; g++) {
          const byte = u8[wb + g];
          sumi += (byte >>> 6) * i8[xb + g] + ((byte >>> 4) & 3) * i8[xb + 32 + g] +
            ((byte >>> 2) & 3) * i8[xb + 64 + g] + (byte & 3) * i8[xb + 96 + g];
        }
      }
      const actScale = f32[(xr + k) >>> 2], actSum = i32[(xr + k + 4) >>> 2];
      f32[(y >>> 2) + t * nOut + o] = fr(fr((sumi - actSum) / actScale) * wScale);
    }
  }
};

/**
 * I2_S x F32 (float activations, no quantization): `y = S * w_scale` with `S` the sum of `(code - 1) * x[k]` over
 * the row in a fixed order (ABI.md "gemm.i2_s_f32"): 16 f32 lanes, lane `k % 16` accumulating its elements in
 * increasing `k`, then the lanes as four 4-lane vectors `A0..A3` added `(A0 + A1) + (A2 + A3)` and the 4 lanes
 * `(v0 + v1) + (v2 + v3)`. Each product is exact (a ternary weight times an f32), so a fused multiply-add gives the
 * same bits. Not llama.cpp's order: no reference computes this kernel's exact float order.
 */
const gemmI2SF32: Kernel = (v, [w, x, y, nOut, k, nTok], ith, nth) => {
  const [o0, o1] = share(nOut, ith, nth);
  const { u8, f32 } = v;
  const rowBytes = k / 4;
  const wScale = f32[(w + nOut * rowBytes) >>> 2];
  const acc = new Float32Array(16);
  for (let o = o0; o < o1; o++) {
    for (let t = 0; t < nTok; t++) {
      const xr = (x >>> 2) + t * k;
      acc.fill(0);
      for (let b = 0; b < k / 128; b++) {
        const wb = w + o * rowBytes + b * 32;
        for (let e = 0; e < 128; e++) {
          // Byte e % 32 of the block holds element e in bits 7:6, 5:4, 3:2, 1:0 for e / 32 = 0, 1, 2, 3.
          const code = (u8[wb + (e & 31)] >>> (6 - 2 * (e >>> 5))) & 3;
          acc[e & 15] = fr(acc[e & 15] + (code - 1) * f32[xr + b * 128 + e]);
        }
      }
      const l = [0, 1, 2, 3].map((i) => fr(fr(acc[i] + acc[4 + i]) + fr(acc[8 + i] + acc[12 + i])));
      f32[(y >>> 2) + t * nOut + o] = fr(fr(fr(l[0] + l[1]) + fr(l[2] + l[3])) * wScale);
    }
  }
};

// ---------------------------------------------------------------------------------------------------------------
// Embedding rows: w [V][K], ids [n] i32, y [n][K] f32.

function getRows(
  rowBytes: (k: number) => number,
  deq: (v: Views, src: number, dst: Float32Array, k: number) => void,
): Kernel {
  return (v, [w, ids, y, k, nIds], ith, nth) => {
    const [r0, r1] = share(nIds, ith, nth);
    for (let r = r0; r < r1; r++) {
      const id = v.i32[(ids >>> 2) + r];
      deq(v, w + id * rowBytes(k), v.f32.subarray((y >>> 2) + r * k, (y >>> 2) + (r + 1) * k), k);
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Norm, RoPE, attention, element-wise.

/** `y = (x * (1/sqrtf(mean(x^2) + eps))) * w`, sum of squares in f64 (ggml-cpu/ops.cpp rms_norm_f32). */
const rmsNorm: Kernel = (v, [x, w, y, k, nRows, eps], ith, nth) => {
  const [r0, r1] = share(nRows, ith, nth);
  const f32 = v.f32, w4 = w >>> 2, epsF = fr(eps);
  for (let r = r0; r < r1; r++) {
    const xo = (x >>> 2) + r * k, yo = (y >>> 2) + r * k;
    let sum = 0;
    for (let j = 0; j < k; j++) sum += fr(f32[xo + j] * f32[xo + j]);
    const mean = fr(sum / k);
    const scale = fr(1 / fr(Math.sqrt(fr(mean + epsF))));
    for (let j = 0; j < k; j++) f32[yo + j] = fr(fr(f32[xo + j] * scale) * f32[w4 + j]);
  }
};

/**
 * NEOX RoPE in place: pairs `(i, i + R/2)` of each head; `cs` holds R/2 cosines then R/2 sines per token. The
 * products are fused as the library's build computes them (`x0*cos - x1*sin` = `fma(x0, cos, -(x1*sin))`).
 */
const ropeNeox: Kernel = (v, [x, cs, nTok, nHead, headDim, nRot], ith, nth) => {
  const [r0, r1] = share(nTok * nHead, ith, nth);
  const f32 = v.f32, half = nRot / 2;
  for (let r = r0; r < r1; r++) {
    const t = Math.floor(r / nHead);
    const base = (x >>> 2) + r * headDim, c = (cs >>> 2) + t * nRot;
    for (let j = 0; j < half; j++) {
      const cos = f32[c + j], sin = f32[c + half + j];
      const x0 = f32[base + j], x1 = f32[base + j + half];
      // ggml-cpu/ops.cpp rotate_pairs, as GCC contracts it: x0*cos - x1*sin -> fma(x0, cos, -(x1*sin)).
      f32[base + j] = fr(x0 * cos - fr(x1 * sin));
      f32[base + j + half] = fr(x0 * sin + fr(x1 * cos));
    }
  }
};

/**
 * NORMAL RoPE in place (`llama`): pairs `(2j, 2j + 1)` of each head rotated by angle `j`, same table as
 * {@link ropeNeox} (ggml-cpu/ops.cpp `rotate_pairs(n_dims, 1, cache, src, dst, 1)`), with the same contractions.
 */
const ropeNorm: Kernel = (v, [x, cs, nTok, nHead, headDim, nRot], ith, nth) => {
  const [r0, r1] = share(nTok * nHead, ith, nth);
  const f32 = v.f32, half = nRot / 2;
  for (let r = r0; r < r1; r++) {
    const t = Math.floor(r / nHead);
    const base = (x >>> 2) + r * headDim, c = (cs >>> 2) + t * nRot;
    for (let j = 0; j < half; j++) {
      const cos = f32[c + j], sin = f32[c + half + j];
      const x0 = f32[base + 2 * j], x1 = f32[base + 2 * j + 1];
      f32[base + 2 * j] = fr(x0 * cos - fr(x1 * sin));
      f32[base + 2 * j + 1] = fr(x0 * sin + fr(x1 * cos));
    }
  }
};

/** `y[0..n) = x[0..n)` bytes, split over threads (regions must not overlap). */
const copy: Kernel = (v, [x, y, n], ith, nth) => {
  if (n > 0 && x < y + n && y < x + n) {
    throw new RangeError(
      `Kernel copy: regions x = ${x} and y = ${y} of ${n} bytes overlap: copy through a scratch buffer`,
    );
  }
  const [i0, i1] = share(n, ith, nth);
  v.u8.copyWithin(y + i0, x + i0, x + i1);
};

/**
 * Causal GQA attention over the f32 KV cache, in the order of ggml's non-flash path (llama-graph.cpp
 * build_attn_mha): `kq = k.q` (`ggml_vec_dot_f32`), `kq * scale`, softmax (`ggml_vec_soft_max_f32`: `ggml_v_expf`
 * per 16-lane chunk, each chunk's `_mm512_reduce_add_ps` summed in f64, then every value times `f32(1/sum)`), then
 * `v^T p`: tinyBLAS order when the batch has two or more tokens, `ggml_vec_dot_f32` order for one token (as
 * llamafile_sgemm only takes batches). q/out: [T][H*D]; k/v: [n_ctx][Hk*D]; token t sits at position pos0 + t.
 */
const attention: Kernel = (v, [q, k, vv, out, scratch, nTok, pos0, nHead, nHeadKv, headDim, nCtx, scale], ith, nth) => {
  const [r0, r1] = share(nTok * nHead, ith, nth);
  const f32 = v.f32, sc = fr(scale);
  const p = f32.subarray((scratch >>> 2) + ith * nCtx, (scratch >>> 2) + (ith + 1) * nCtx);
  const group = nHead / nHeadKv, kvDim = nHeadKv * headDim, qDim = nHead * headDim;
  const acc = new Float32Array(64), chunk = new Float32Array(16);
  const kv4 = k >>> 2, v4 = vv >>> 2;
  for (let r = r0; r < r1; r++) {
    const t = Math.floor(r / nHead), h = r % nHead, hk = Math.floor(h / group);
    const nKv = pos0 + t + 1;
    const qo = (q >>> 2) + t * qDim + h * headDim;
    let max = -Infinity;
    for (let j = 0; j < nKv; j++) {
      const s = fr(vecDotF32(headDim, f32, kv4 + j * kvDim + hk * headDim, 1, f32, qo, 1, acc) * sc);
      p[j] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let c = 0; c < nKv; c += 16) {
      for (let l = 0; l < 16; l++) chunk[l] = c + l < nKv ? (p[c + l] = vExpf(fr(p[c + l] - max))) : 0;
      sum += reduce16(chunk);
    }
    const inv = fr(1 / sum);
    for (let j = 0; j < nKv; j++) p[j] = fr(p[j] * inv);
    const oo = (out >>> 2) + t * qDim + h * headDim;
    // ggml pads n_kv (to 256) and the padding has zero probability: it adds exact zeros, so only nKv terms run.
    const dot = nTok > 1 ? tinyBlasDotF32 : vecDotF32Padded;
    for (let d = 0; d < headDim; d++) f32[oo + d] = dot(nKv, f32, v4 + hk * headDim + d, kvDim, p, 0, 1, acc);
  }
};

function elementwise(op: (f32: Float32Array, a: number, b: number, y: number, i: number) => void): Kernel {
  return (v, [a, b, y, n], ith, nth) => {
    const [i0, i1] = share(n, ith, nth);
    const f32 = v.f32, a4 = a >>> 2, b4 = b >>> 2, y4 = y >>> 2;
    for (let i = i0; i < i1; i++) op(f32, a4, b4, y4, i);
  };
}

/**
 * `y = silu(g) * u` as `ggml_vec_swiglu_f32` on AVX-512: `ggml_v_silu` (x / (1 + ggml_v_expf(-x))) in 16-lane
 * chunks; a tail shorter than 16 would use libm `expf` there (FFN sizes are multiples of 256, so it never occurs).
 */
const swiglu = elementwise((f, g, u, y, i) => {
  f[y + i] = fr(vSilu(f[g + i]) * f[u + i]);
});

/** `y = relu(g)^2 * u` (llama.cpp LLM_FFN_RELU_SQR: relu, sqr, then the PAR gate multiply). */
const relu2Glu = elementwise((f, g, u, y, i) => {
  const r = Math.max(f[g + i], 0);
  f[y + i] = fr(fr(r * r) * f[u + i]);
});

const add = elementwise((f, a, b, y, i) => {
  f[y + i] = fr(f[a + i] + f[b + i]);
});

/** `y = x * s[0]` (the optional per-tensor `.scale`). */
const mulScalar = elementwise((f, x, s, y, i) => {
  f[y + i] = fr(f[x + i] * f[s]);
});

/** The kernel table, keyed by ABI id. */
const KERNELS: Record<KernelId, Kernel> = {
  "quantize.q8_k": quantizeRows((k) => activationRowBytes("q8_k", k), quantizeRowQ8K),
  "quantize.q8_0": quantizeRows((k) => activationRowBytes("q8_0", k), quantizeRowQ8_0),
  "quantize.f16": convertRows(f32ToF16Row),
  "quantize.bf16": convertRows(f32ToBf16Row),
  "quantize.i8_s": quantizeRows((k) => activationRowBytes("i8_s", k), quantizeRowI8S),
  "gemm.tq2_0_q8_k": gemmTernaryQ8K(TQ2_0_BYTES, 64, decodeTq2_0),
  "gemm.tq1_0_q8_k": gemmTernaryQ8K(TQ1_0_BYTES, 52, decodeTq1_0),
  "gemm.q6_k_q8_k": gemmQ6KQ8K,
  "gemm.q8_0_q8_0": gemmQ80Q80,
  "gemm.f16_f16": gemmF16,
  "gemm.bf16_bf16": gemmBf16,
  "gemm.f32_f32": gemmF32,
  "gemm.i2_s_i8_s": gemmI2SI8S,
  "gemm.i2_s_f32": gemmI2SF32,
  "get_rows.f32": getRows((k) => k * 4, (v, src, dst, k) => dst.set(v.f32.subarray(src >>> 2, (src >>> 2) + k))),
  "get_rows.f16": getRows(
    (k) => k * 2,
    (v, src, dst, k) => f16ToF32Row(v.u16.subarray(src >>> 1, (src >>> 1) + k), dst),
  ),
  "get_rows.bf16": getRows(
    (k) => k * 2,
    (v, src, dst, k) => bf16ToF32Row(v.u16.subarray(src >>> 1, (src >>> 1) + k), dst),
  ),
  "get_rows.q8_0": getRows(
    (k) => (k / 32) * Q8_0_BYTES,
    (v, src, dst, k) => dequantizeQ8_0(v.u8.subarray(src, src + (k / 32) * Q8_0_BYTES), dst),
  ),
  "get_rows.q6_k": getRows(
    (k) => (k / QK_K) * Q6_K_BYTES,
    (v, src, dst, k) => dequantizeQ6K(v.u8.subarray(src, src + (k / QK_K) * Q6_K_BYTES), dst),
  ),
  "rms_norm": rmsNorm,
  "rope.neox": ropeNeox,
  "rope.norm": ropeNorm,
  "attention": attention,
  "swiglu": swiglu,
  "relu2_glu": relu2Glu,
  "add": add,
  "mul_scalar": mulScalar,
  "copy": copy,
  ...FAST_KERNELS,
};

/**
 * The plain TypeScript kernel backend.
 *
 * @example
 * ```ts
 * import { RefBackend } from "./ref.ts";
 * using be = RefBackend.create({ threads: 2 });
 * const x = be.alloc(8), y = be.alloc(8);
 * be.write(x, new Uint8Array(Float32Array.of(1, 2).buffer));
 * be.run("add", x, x, y, 2);
 * console.log([...new Float32Array((await be.read(y, 8)).buffer)]); // [2, 4]
 * console.log(be.kernels()); // ["ref.add"]
 * ```
 */
export class RefBackend implements KernelBackend {
  /** Backend name. */
  readonly id = "ref";
  /** Logical threads. */
  readonly threads: number;
  #buffer: ArrayBuffer;
  #views: Views;
  #top = 64;
  #recorder = new KernelRecorder();
  #closed = false;

  private constructor(threads: number, initialBytes: number) {
    this.threads = threads;
    this.#buffer = new ArrayBuffer(initialBytes, { maxByteLength: MAX_ARENA });
    const b = this.#buffer;
    this.#views = {
      u8: new Uint8Array(b),
      i8: new Int8Array(b),
      u16: new Uint16Array(b),
      i16: new Int16Array(b),
      i32: new Int32Array(b),
      f32: new Float32Array(b),
      codes: new Int8Array(QK_K),
    };
  }

  /**
   * Create a backend.
   *
   * @param opts Thread count and initial arena size.
   * @returns The backend.
   * @throws {RangeError} When `threads` is out of range (`resolveThreads`).
   */
  static create(opts: RefBackendOptions = {}): RefBackend {
    return new RefBackend(resolveThreads("ref", opts.threads), Math.max(64, opts.initialBytes ?? 1 << 20));
  }

  /** The arena (a resizable ArrayBuffer; the same object for the backend's life). */
  get hostBuffer(): ArrayBuffer {
    return this.#buffer;
  }

  /**
   * Copy host bytes into the arena.
   *
   * @param ptr Byte offset.
   * @param bytes Data.
   */
  write(ptr: number, bytes: Uint8Array): void {
    this.#check("write");
    this.#views.u8.set(bytes, ptr);
  }

  /**
   * Copy arena bytes to the host (kernels have finished when `run` returns).
   *
   * @param ptr Byte offset.
   * @param bytes Byte count.
   * @param into Destination to reuse.
   * @returns The bytes.
   */
  read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array> {
    this.#check("read");
    const src = this.#views.u8.subarray(ptr, ptr + bytes);
    if (!into) return Promise.resolve(src.slice());
    into.set(src);
    return Promise.resolve(into.subarray(0, bytes));
  }

  /**
   * Scratch a kernel needs on this many logical threads.
   *
   * @param id Kernel id.
   * @param shape Largest sizes passed.
   * @returns Bytes.
   */
  scratchBytes(id: KernelId, shape: ScratchShape): number {
    return cpuScratchBytes(id, shape, this.threads);
  }

  /**
   * Bump-allocate zeroed bytes.
   *
   * @param bytes Size.
   * @param align Power-of-two alignment, default 64.
   * @returns Byte offset (never 0).
   * @throws {RangeError} When the arena would exceed 4 GiB (ABI pointers are u32).
   */
  alloc(bytes: number, align = 64): number {
    this.#check("alloc");
    const at = Math.ceil(this.#top / align) * align;
    const end = at + bytes;
    if (end > MAX_ARENA) {
      throw new RangeError(
        `Cannot allocate ${bytes} bytes in the ref arena: it would reach ${end} bytes, above the 4 GiB limit of ` +
          `32-bit kernel pointers. Use a smaller context (nCtx) or batch.`,
      );
    }
    if (end > this.#buffer.byteLength) {
      this.#buffer.resize(Math.min(MAX_ARENA, Math.max(end, Math.ceil(end / (1 << 20)) * (1 << 20))));
    }
    this.#top = end;
    return at;
  }

  /**
   * Run a kernel: each logical thread's share in turn.
   *
   * @param id Kernel id.
   * @param args ABI parameters without `(ith, nth)`.
   * @throws {RangeError} For an unknown kernel or a wrong argument count.
   */
  run(id: KernelId, ...args: number[]): void {
    this.#check("run");
    checkKernelCall("ref", id, args);
    const k = KERNELS[id];
    this.#recorder.record(`ref.${id}`);
    for (let ith = 0; ith < this.threads; ith++) k(this.#views, args, ith, this.threads);
  }

  /** Recorded kernel ids in first-run order. */
  kernels(): string[] {
    return this.#recorder.ids();
  }

  /** The recorder itself (ids with call counts). */
  get recorder(): KernelRecorder {
    return this.#recorder;
  }

  /** Release the arena (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer.resize(0);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #check(what: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${what} on a closed ref backend: create a new one`);
  }
}
