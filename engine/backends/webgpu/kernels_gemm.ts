/**
 * WGSL matmuls `y[t][o] = W[o] . x[t]` for every weight type of the kernel table, in the lane order of ggml's x86
 * kernels that the reference backend follows (`kernels-wasm/ABI.md` "Precise semantics"): weights are read in their
 * GGUF layout as u32 words (WGSL has no u8; block sizes that are not multiples of 4 make fields unaligned, so loads funnel two
 * words), activations in the quantized layout of their `quantize.*` kernel.
 *
 * Work split (one workgroup of 64 invocations):
 * - TQ2_0, TQ1_0, Q6_K, Q8_0 (ggml's 8 float lanes): 8 rows x 8 lanes; invocation `p` computes lane `p` of its row
 *   for 4 tokens (a token tile, so a prefill decodes each weight block once per 4 tokens): the integer lane sum with
 *   `dot4I8Packed`, then `acc_p = fma(f32(lane), d, acc_p)` over the blocks in order, `hsum8` at the end.
 * - I2_S (integer only until the end): 8 rows x 8 invocations, each one word of every 32-byte block.
 * - F16, F32, BF16: one row per workgroup with 64 lanes (`ggml_vec_dot_*`, one token), or 4 rows x 16 lanes for 4
 *   tokens (tinyBLAS, batches llamafile_sgemm takes) — the invocation of a lane is the lane, so the reduction tree
 *   is ggml's.
 *
 * A call whose weights exceed one binding is split into row ranges (one dispatch each).
 *
 * Dimension letters: N = output rows, K = inner size, T = tokens, B = blocks per row.
 *
 * @module
 */

import type { KernelId } from "../kernel_table.ts";
import { type DispatchPlan, type GpuKernel, type PlanContext, reject, requireAligned } from "./kernel_plan.ts";
import { arg, bindings, entry } from "./kernels_ops.ts";
import { byteAccess } from "./wgsl_math.ts";
import { blockBytes, GgmlType, ggmlTypeInfo } from "../../quant/ggml_type.ts";

const TT = 4;

/** Split rows [0, nOut) into ranges whose weights fit one binding; each range is one dispatch. */
function rowRanges(id: KernelId, nOut: number, rowBytes: number, ctx: PlanContext): [number, number][] {
  const per = Math.floor(ctx.maxRegionBytes / rowBytes);
  if (per < 1) {
    reject(id, `one weight row (${rowBytes} bytes) exceeds the adapter's binding limit`, "Use --backend wasm");
  }
  const out: [number, number][] = [];
  for (let o = 0; o < nOut; o += per) out.push([o, Math.min(nOut, o + per)]);
  return out;
}

/** Arguments shared by the lane kernels: n_out, K, n_tok, o_lo, o_count, nb. */
const GEMM_ARGS = /* wgsl */ `
  let n_out = ${arg(0)};
  let n_tok = ${arg(2)};
  let o_lo = ${arg(3)};
  let o_count = ${arg(4)};
  let nb = ${arg(5)};
`;

const SEXT16 = "fn sext16(v: u32) -> i32 { return bitcast<i32>(v << 16u) >> 16u; }\n";
const TRITS = /* wgsl */ `
fn pow3(l: u32) -> u32 { var r = 1u; for (var i = 0u; i < l; i++) { r *= 3u; } return r; }
// Trit l of each byte of w as a byte (ggml quants.c tq1_0: q = (u8)(byte * 3^l); trit = (q * 3) >> 8).
fn trits4(w: u32, l: u32) -> u32 {
  let m = pow3(l);
  var r = 0u;
  for (var i = 0u; i < 4u; i++) {
    let b = (w >> (8u * i)) & 0xffu;
    r |= ((((b * m) & 0xffu) * 3u) >> 8u) << (8u * i);
  }
  return r;
}
`;

interface LaneSpec {
  /** Bytes per weight block. */
  readonly blockBytes: number;
  /** Elements per block. */
  readonly block: number;
  /** Bytes per activation block. */
  readonly xBlockBytes: number;
  /** Helpers. */
  readonly helpers: string;
  /** WGSL: decode the weight block at `blk` for lane `p` into `cw[8]` (code words), `qi[8]` (word index), `sc[8]`. */
  readonly decode: string;
  /** WGSL: the weight scale of the block at `blk`. */
  readonly dw: string;
  /** WGSL: lane integer `li` and activation scale `xd` of the activation block at byte `xb`. */
  readonly lane: string;
}

// Q8_K activation block: f32 d @0 (word 0), i8 qs[256] @4 (words 1..64), i16 bsums[16] @260 (words 65..72).
const Q8K_LANE = /* wgsl */ `
      let xw = xb >> 2u;
      xd = bitcast<f32>(x[xw]);
      for (var i = 0u; i < 8u; i++) { li += sc[i] * dot4(cw[i], x[xw + 1u + qi[i]]); }
`;

const TERNARY_BSUMS = /* wgsl */ `
      let bs = x[xw + 65u + p];
      li -= sext16(bs & 0xffffu) + sext16(bs >> 16u);
`;

const LANE_SPECS: Readonly<Record<string, LaneSpec>> = {
  // block_tq2_0 {u8 qs[64]; f16 d}: byte m of half h holds elements h*128 + 32s + m in bits 2s..2s+1.
  "gemm.tq2_0_q8_k": {
    blockBytes: blockBytes(GgmlType.TQ2_0),
    block: ggmlTypeInfo(GgmlType.TQ2_0)!.blockSize,
    xBlockBytes: blockBytes(GgmlType.Q8_K),
    helpers: SEXT16,
    decode: /* wgsl */ `
      for (var h = 0u; h < 2u; h++) {
        let wd = ld32_w(blk + 32u * h + 4u * p);
        for (var s = 0u; s < 4u; s++) {
          cw[4u * h + s] = (wd >> (2u * s)) & 0x03030303u;
          qi[4u * h + s] = 32u * h + 8u * s + p;
          sc[4u * h + s] = 1;
        }
      }
`,
    dw: "f16_to_f32(ld16_w(blk + 64u))",
    lane: Q8K_LANE + TERNARY_BSUMS,
  },
  // block_tq1_0 {u8 qs[48]; u8 qh[4]; f16 d}: 5 trits per byte of qs[0..32) (elements 32l + m), of qs[32..48)
  // (160 + 16l + m) and 4 of qh (240 + 4l + j). Lane p's 32 elements are always 8 words of trits.
  "gemm.tq1_0_q8_k": {
    blockBytes: blockBytes(GgmlType.TQ1_0),
    block: ggmlTypeInfo(GgmlType.TQ1_0)!.blockSize,
    xBlockBytes: blockBytes(GgmlType.Q8_K),
    helpers: SEXT16 + TRITS,
    decode: /* wgsl */ `
      let w0 = ld32_w(blk + 4u * p);
      for (var l = 0u; l < 5u; l++) { cw[l] = trits4(w0, l); qi[l] = 8u * l + p; sc[l] = 1; }
      let w1 = ld32_w(blk + 32u + 4u * (p & 3u));
      var n = 5u;
      for (var l = p >> 2u; l < 5u; l += 2u) { cw[n] = trits4(w1, l); qi[n] = 40u + 4u * l + (p & 3u); sc[n] = 1; n++; }
      if (p >= 4u) { cw[7] = trits4(ld32_w(blk + 48u), p - 4u); qi[7] = 60u + (p - 4u); sc[7] = 1; }
`,
    dw: "f16_to_f32(ld16_w(blk + 52u))",
    lane: Q8K_LANE + TERNARY_BSUMS,
  },
  // block_q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: element hf*128 + 32s + l is the nibble of
  // ql[hf*64 + l + 32(s&1)] (low for s < 2) with bits 2s of qh[hf*32 + l] on top.
  "gemm.q6_k_q8_k": {
    blockBytes: blockBytes(GgmlType.Q6_K),
    block: ggmlTypeInfo(GgmlType.Q6_K)!.blockSize,
    xBlockBytes: blockBytes(GgmlType.Q8_K),
    helpers: SEXT16,
    decode: /* wgsl */ `
      for (var hf = 0u; hf < 2u; hf++) {
        let ql0 = ld32_w(blk + 64u * hf + 4u * p);
        let ql1 = ld32_w(blk + 64u * hf + 32u + 4u * p);
        let qh = ld32_w(blk + 128u + 32u * hf + 4u * p);
        for (var s = 0u; s < 4u; s++) {
          let lw = select(ql0, ql1, (s & 1u) == 1u);
          let nib = select(lw & 0x0f0f0f0fu, (lw >> 4u) & 0x0f0f0f0fu, s >= 2u);
          cw[4u * hf + s] = nib | (((qh >> (2u * s)) & 0x03030303u) << 4u);
          qi[4u * hf + s] = 32u * hf + 8u * s + p;
          sc[4u * hf + s] = sbyte(ld8_w(blk + 192u + 8u * hf + 2u * s + (p >> 2u)), 0u);
        }
      }
      sc_lo = sbyte(ld8_w(blk + 192u + 2u * p), 0u);
      sc_hi = sbyte(ld8_w(blk + 193u + 2u * p), 0u);
`,
    dw: "f16_to_f32(ld16_w(blk + 208u))",
    lane: Q8K_LANE + /* wgsl */ `
      let bs = x[xw + 65u + p];
      li -= 32 * (sext16(bs & 0xffffu) * sc_lo + sext16(bs >> 16u) * sc_hi);
`,
  },
  // block_q8_0 {f16 d; i8 qs[32]} for both operands: lane p is the 4 products at bytes 4p..4p+3.
  "gemm.q8_0_q8_0": {
    blockBytes: blockBytes(GgmlType.Q8_0),
    block: ggmlTypeInfo(GgmlType.Q8_0)!.blockSize,
    xBlockBytes: blockBytes(GgmlType.Q8_0),
    helpers: "",
    decode: "      cw[0] = ld32_w(blk + 2u + 4u * p);\n",
    dw: "f16_to_f32(ld16_w(blk))",
    lane: /* wgsl */ `
      xd = f16_to_f32(ld16_x(xb));
      li = dot4(cw[0], ld32_x(xb + 2u + 4u * p));
`,
  },
};

function laneKernel(id: KernelId): GpuKernel {
  const s = LANE_SPECS[id];
  return {
    id,
    bindings: 3,
    source: () =>
      bindings([["w", "u32"], ["x", "u32"], ["y", "f32"]]) + byteAccess("w", false) + byteAccess("x", false) +
      s.helpers + `var<workgroup> red: array<f32, ${64 * TT}>;\n` + entry(64) + GEMM_ARGS + /* wgsl */ `
  let rl = lid >> 3u;
  let p = lid & 7u;
  let orow = g * 8u + rl;
  let live = orow < o_count;
  let t0 = wid.y * ${TT}u;
  var acc = array<f32, ${TT}>();
  if (live) {
    let wrow = pu(0u) + orow * nb * ${s.blockBytes}u;
    var cw = array<u32, 8>();
    var qi = array<u32, 8>();
    var sc = array<i32, 8>();
    var sc_lo = 0;
    var sc_hi = 0;
    for (var b = 0u; b < nb; b++) {
      let blk = wrow + b * ${s.blockBytes}u;
${s.decode}
      let dw = ${s.dw};
      for (var tt = 0u; tt < ${TT}u; tt++) {
        let t = t0 + tt;
        if (t >= n_tok) { break; }
        let xb = pu(1u) + (t * nb + b) * ${s.xBlockBytes}u;
        var li = 0;
        var xd = 0.0;
${s.lane}
        acc[tt] = fma_x(i32_to_f32_rn(li), rb(xd * dw), acc[tt]);
      }
    }
  }
  for (var tt = 0u; tt < ${TT}u; tt++) { red[lid * ${TT}u + tt] = acc[tt]; }
  workgroupBarrier();
  if (live && p == 0u) {
    for (var tt = 0u; tt < ${TT}u; tt++) {
      let t = t0 + tt;
      if (t >= n_tok) { break; }
      var l8 = array<f32, 8>();
      for (var q = 0u; q < 8u; q++) { l8[q] = red[((rl * 8u) + q) * ${TT}u + tt]; }
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = hsum8(&l8);
    }
  }
}`,
    plan: ([w, xq, y, nOut, K, nTok], ctx): DispatchPlan[] => {
      if (K % s.block !== 0) reject(id, `K = ${K} is not a multiple of the block size ${s.block}`, "Pass whole blocks");
      requireAligned(id, ["y"], [y]);
      if (s.xBlockBytes === blockBytes(GgmlType.Q8_K)) requireAligned(id, ["xq"], [xq]);
      const nb = K / s.block, rowBytes = nb * s.blockBytes;
      if (nOut === 0 || nTok === 0) return [];
      return rowRanges(id, nOut, rowBytes, ctx).map(([o0, o1]) => ({
        regions: [{ ptr: w + o0 * rowBytes, bytes: (o1 - o0) * rowBytes }, {
          ptr: xq,
          bytes: nTok * nb * s.xBlockBytes,
        }, { ptr: y, bytes: 4 * nTok * nOut }],
        args: [nOut, K, nTok, o0, o1 - o0, nb],
        groups: Math.ceil((o1 - o0) / 8),
        groupsY: Math.ceil(nTok / TT),
        variant: "",
      }));
    },
  };
}

/** TQ2_0 x Q8_K. */
export const GEMM_TQ2_0: GpuKernel = laneKernel("gemm.tq2_0_q8_k");
/** TQ1_0 x Q8_K. */
export const GEMM_TQ1_0: GpuKernel = laneKernel("gemm.tq1_0_q8_k");
/** Q6_K x Q8_K. */
export const GEMM_Q6_K: GpuKernel = laneKernel("gemm.q6_k_q8_k");
/** Q8_0 x Q8_0. */
export const GEMM_Q8_0: GpuKernel = laneKernel("gemm.q8_0_q8_0");

/**
 * I2_S x I8_S (bitnet.cpp): `y = (f32)(sum code*q - sum q) / act_scale * w_scale`. Byte g of a 32-byte block holds
 * elements g, 32+g, 64+g, 96+g in bits 7:6, 5:4, 3:2, 1:0; the per-tensor scale follows the packed rows.
 */
export const GEMM_I2_S: GpuKernel = {
  id: "gemm.i2_s_i8_s",
  bindings: 4,
  source: () =>
    bindings([["w", "u32"], ["x", "u32"], ["y", "f32"], ["ws", "u32"]]) +
    `var<workgroup> red: array<i32, ${64 * TT}>;\n` + entry(64) + GEMM_ARGS + /* wgsl */ `
  let K = ${arg(1)};
  let rl = lid >> 3u;
  let j = lid & 7u;
  let orow = g * 8u + rl;
  let live = orow < o_count;
  let t0 = wid.y * ${TT}u;
  var acc = array<i32, ${TT}>();
  if (live) {
    let wrow = (pu(0u) >> 2u) + orow * (K >> 4u);
    for (var b = 0u; b < nb; b++) {
      let wd = w[wrow + 8u * b + j];
      let c0 = (wd >> 6u) & 0x03030303u;
      let c1 = (wd >> 4u) & 0x03030303u;
      let c2 = (wd >> 2u) & 0x03030303u;
      let c3 = wd & 0x03030303u;
      for (var tt = 0u; tt < ${TT}u; tt++) {
        let t = t0 + tt;
        if (t >= n_tok) { break; }
        let xw = (pu(1u) >> 2u) + t * ((K + 16u) >> 2u) + 32u * b + j;
        acc[tt] += dot4(c0, x[xw]) + dot4(c1, x[xw + 8u]) + dot4(c2, x[xw + 16u]) + dot4(c3, x[xw + 24u]);
      }
    }
  }
  for (var tt = 0u; tt < ${TT}u; tt++) { red[lid * ${TT}u + tt] = acc[tt]; }
  workgroupBarrier();
  if (live && j == 0u) {
    let w_scale = bitcast<f32>(ws[pu(3u) >> 2u]);
    for (var tt = 0u; tt < ${TT}u; tt++) {
      let t = t0 + tt;
      if (t >= n_tok) { break; }
      var sumi = 0;
      for (var q = 0u; q < 8u; q++) { sumi += red[((rl * 8u) + q) * ${TT}u + tt]; }
      let xr = (pu(1u) >> 2u) + t * ((K + 16u) >> 2u) + (K >> 2u);
      let act_scale = bitcast<f32>(x[xr]);
      let act_sum = bitcast<i32>(x[xr + 1u]);
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = rb(div_rn(i32_to_f32_rn(sumi - act_sum), act_scale)) * w_scale;
    }
  }
}`,
  plan: ([w, xq, y, nOut, K, nTok], ctx): DispatchPlan[] => {
    const id = "gemm.i2_s_i8_s";
    if (K % 128 !== 0) reject(id, `K = ${K} is not a multiple of 128`, "Pass whole I2_S blocks");
    requireAligned(id, ["w", "xq", "y"], [w, xq, y]);
    if (nOut === 0 || nTok === 0) return [];
    const rowBytes = K / 4;
    return rowRanges(id, nOut, rowBytes, ctx).map(([o0, o1]) => ({
      regions: [
        { ptr: w + o0 * rowBytes, bytes: (o1 - o0) * rowBytes },
        { ptr: xq, bytes: nTok * (K + 16) },
        { ptr: y, bytes: 4 * nTok * nOut },
        { ptr: w + nOut * rowBytes, bytes: 4 },
      ],
      args: [nOut, K, nTok, o0, o1 - o0, K / 128],
      groups: Math.ceil((o1 - o0) / 8),
      groupsY: Math.ceil(nTok / TT),
      variant: "",
    }));
  },
};

interface FloatSpec {
  /** Bytes per weight element. */
  readonly wBytes: number;
  /** WGSL: weight element `i` of the row at byte `wrow`. */
  readonly w: string;
  /** WGSL: activation element `i` of token `t` (row length K). */
  readonly x: string;
  /** x binding type. */
  readonly xType: "f32" | "u32";
  /** WGSL: `acc` after adding `wv * xv` (ggml: fused for f32, exact products for f16/bf16). */
  readonly step: string;
  /** Whether ggml's batch path is tinyBLAS for these args (n_tok >= 2 and its shape rules). */
  readonly tiny: (nOut: number, K: number, nTok: number) => boolean;
}

const FLOAT_SPECS: Readonly<Record<string, FloatSpec>> = {
  "gemm.f16_f16": {
    wBytes: 2,
    w: "f16_to_f32(ld16a_w(wrow + 2u * i))",
    x: "f16_to_f32(ld16a_x(pu(1u) + 2u * (t * K + i)))",
    xType: "u32",
    // f16 x f16 products are exact in f32: the multiply-add equals the FMA.
    step: "acc + wv * xv",
    tiny: (n, k, t) => t >= 2 && k % 16 === 0 && n % 4 === 0,
  },
  "gemm.f32_f32": {
    wBytes: 4,
    w: "bitcast<f32>(w[(wrow >> 2u) + i])",
    x: "xf[(pu(1u) >> 2u) + t * K + i]",
    xType: "f32",
    step: "fma_x(wv, xv, acc)",
    tiny: (n, k, t) => t >= 2 && k % 16 === 0 && n % 4 === 0,
  },
};

/**
 * F16 x F16 and F32 x F32: `vec` = `ggml_vec_dot_*` (64 lanes over floor(K/64)*64 elements, reduce64, then the tail one
 * rounded product at a time), `tiny` = tinyBLAS (16 lanes chaining over all of K, then reduce16).
 */
function floatKernel(id: KernelId): GpuKernel {
  const s = FLOAT_SPECS[id];
  const xName = s.xType === "f32" ? "xf" : "x";
  const head = bindings([["w", "u32"], [xName, s.xType], ["y", "f32"]]) + byteAccess("w", false) +
    (s.xType === "u32" ? byteAccess("x", false) : "");
  // 4 rows per workgroup, 16 invocations per row; invocation j holds ggml's lanes j, j+16, j+32, j+48, so the first
  // step of reduce64, (a[j] + a[32+j]) + (a[16+j] + a[48+j]), stays in registers.
  const vec = head + "var<workgroup> quads: array<f32, 64>;\n" + entry(64) + GEMM_ARGS + /* wgsl */ `
  let K = ${arg(1)};
  let rl = lid >> 4u;
  let j = lid & 15u;
  let orow = g * 4u + rl;
  let live = orow < o_count;
  let wrow = pu(0u) + orow * K * ${s.wBytes}u;
  let np = K & ~63u;
  for (var t = 0u; t < n_tok; t++) {
    var a = array<f32, 4>();
    if (live) {
      for (var c = 0u; c < np; c += 64u) {
        for (var q = 0u; q < 4u; q++) {
          let i = c + 16u * q + j;
          let wv = ${s.w};
          let xv = ${s.x};
          let acc = a[q];
          a[q] = ${s.step};
        }
      }
    }
    quads[lid] = (a[0] + a[2]) + (a[1] + a[3]);
    workgroupBarrier();
    if (live && j == 0u) {
      var r16 = array<f32, 16>();
      for (var l = 0u; l < 16u; l++) { r16[l] = quads[rl * 16u + l]; }
      var sum = reduce16(&r16);
      for (var i = np; i < K; i++) {
        let wv = ${s.w};
        let xv = ${s.x};
        sum = rb(wv * xv) + sum;
      }
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = sum;
    }
    workgroupBarrier();
  }
}`;
  const tiny = head + `var<workgroup> red: array<f32, ${64 * TT}>;\n` + entry(64) + GEMM_ARGS + /* wgsl */ `
  let K = ${arg(1)};
  let rl = lid >> 4u;
  let l = lid & 15u;
  let orow = g * 4u + rl;
  let live = orow < o_count;
  let t0 = wid.y * ${TT}u;
  var accs = array<f32, ${TT}>();
  if (live) {
    let wrow = pu(0u) + orow * K * ${s.wBytes}u;
    for (var i = l; i < K; i += 16u) {
      let wv = ${s.w};
      for (var tt = 0u; tt < ${TT}u; tt++) {
        let t = t0 + tt;
        if (t >= n_tok) { break; }
        let xv = ${s.x};
        let acc = accs[tt];
        accs[tt] = ${s.step};
      }
    }
  }
  for (var tt = 0u; tt < ${TT}u; tt++) { red[lid * ${TT}u + tt] = accs[tt]; }
  workgroupBarrier();
  if (live && l == 0u) {
    for (var tt = 0u; tt < ${TT}u; tt++) {
      let t = t0 + tt;
      if (t >= n_tok) { break; }
      var r16 = array<f32, 16>();
      for (var q = 0u; q < 16u; q++) { r16[q] = red[((rl * 16u) + q) * ${TT}u + tt]; }
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = reduce16(&r16);
    }
  }
}`;
  return {
    id,
    bindings: 3,
    source: (variant) => variant === "tiny" ? tiny : vec,
    plan: ([w, xq, y, nOut, K, nTok], ctx): DispatchPlan[] => {
      requireAligned(id, ["y"], [y]);
      if (s.wBytes === 4) requireAligned(id, ["w", "x"], [w, xq]);
      else requireAligned(id, ["w", "xq"], [w, xq], 2);
      if (nOut === 0 || nTok === 0) return [];
      const rowBytes = K * s.wBytes, useTiny = s.tiny(nOut, K, nTok);
      return rowRanges(id, nOut, rowBytes, ctx).map(([o0, o1]) => ({
        regions: [{ ptr: w + o0 * rowBytes, bytes: (o1 - o0) * rowBytes }, {
          ptr: xq,
          bytes: nTok * K * (s.xType === "f32" ? 4 : 2),
        }, { ptr: y, bytes: 4 * nTok * nOut }],
        args: [nOut, K, nTok, o0, o1 - o0, 0],
        groups: Math.ceil((o1 - o0) / 4),
        groupsY: useTiny ? Math.ceil(nTok / TT) : 1,
        variant: useTiny ? "tiny" : "vec",
      }));
    },
  };
}

/** F16 x F16. */
export const GEMM_F16: GpuKernel = floatKernel("gemm.f16_f16");
/** F32 x F32. */
export const GEMM_F32: GpuKernel = floatKernel("gemm.f32_f32");

/**
 * BF16 x BF16 (ggml's AVX512-BF16 `vdpbf16ps` steps: lane l adds the product of pair element 2l+1, then of 2l; the
 * products are exact in f32). `vec`: per 64-element chunk two 16-lane accumulators (invocations 0..15 and 16..31),
 * their reduce16 results summed as f64, the tail likewise; `tiny`: one 16-lane accumulator over 32-element chunks.
 */
export const GEMM_BF16: GpuKernel = (() => {
  const id: KernelId = "gemm.bf16_bf16";
  const head = bindings([["w", "u32"], ["x", "u32"], ["y", "f32"]]) + byteAccess("w", false) +
    byteAccess("x", false) + /* wgsl */ `
fn wv(wrow: u32, i: u32) -> f32 { return bf16_to_f32(ld16a_w(wrow + 2u * i)); }
fn xv(t: u32, K: u32, i: u32) -> f32 { return bf16_to_f32(ld16a_x(pu(1u) + 2u * (t * K + i))); }
`;
  // 4 rows per workgroup, 16 invocations per row: invocation l holds lane l of both accumulators.
  const vec = head + "var<workgroup> lanes: array<f32, 128>;\n" + entry(64) + GEMM_ARGS + /* wgsl */ `
  let K = ${arg(1)};
  let rl = lid >> 4u;
  let l = lid & 15u;
  let orow = g * 4u + rl;
  let live = orow < o_count;
  let wrow = pu(0u) + orow * K * 2u;
  let np = K & ~63u;
  for (var t = 0u; t < n_tok; t++) {
    var c1 = 0.0;
    var c2 = 0.0;
    if (live) {
      for (var i = 0u; i < np; i += 64u) {
        let a = i + 2u * l;
        let b = a + 32u;
        c1 = (c1 + wv(wrow, a + 1u) * xv(t, K, a + 1u)) + wv(wrow, a) * xv(t, K, a);
        c2 = (c2 + wv(wrow, b + 1u) * xv(t, K, b + 1u)) + wv(wrow, b) * xv(t, K, b);
      }
    }
    lanes[rl * 32u + l] = c1;
    lanes[rl * 32u + 16u + l] = c2;
    workgroupBarrier();
    if (live && l == 0u) {
      var r1 = array<f32, 16>();
      var r2 = array<f32, 16>();
      for (var q = 0u; q < 16u; q++) { r1[q] = lanes[rl * 32u + q]; r2[q] = lanes[rl * 32u + 16u + q]; }
      var s = two_sum(reduce16(&r1), reduce16(&r2));
      for (var i = np; i < K; i++) { s = dd_add(s, wv(wrow, i) * xv(t, K, i)); }
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = s.x + s.y;
    }
    workgroupBarrier();
  }
}`;
  const tiny = head + `var<workgroup> red: array<f32, ${64 * TT}>;\n` + entry(64) + GEMM_ARGS + /* wgsl */ `
  let K = ${arg(1)};
  let rl = lid >> 4u;
  let l = lid & 15u;
  let orow = g * 4u + rl;
  let live = orow < o_count;
  let t0 = wid.y * ${TT}u;
  var accs = array<f32, ${TT}>();
  if (live) {
    let wrow = pu(0u) + orow * K * 2u;
    for (var i = 0u; i < K; i += 32u) {
      let a = i + 2u * l;
      let w1 = wv(wrow, a + 1u);
      let w0 = wv(wrow, a);
      for (var tt = 0u; tt < ${TT}u; tt++) {
        let t = t0 + tt;
        if (t >= n_tok) { break; }
        accs[tt] = (accs[tt] + w1 * xv(t, K, a + 1u)) + w0 * xv(t, K, a);
      }
    }
  }
  for (var tt = 0u; tt < ${TT}u; tt++) { red[lid * ${TT}u + tt] = accs[tt]; }
  workgroupBarrier();
  if (live && l == 0u) {
    for (var tt = 0u; tt < ${TT}u; tt++) {
      let t = t0 + tt;
      if (t >= n_tok) { break; }
      var r16 = array<f32, 16>();
      for (var q = 0u; q < 16u; q++) { r16[q] = red[((rl * 16u) + q) * ${TT}u + tt]; }
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = reduce16(&r16);
    }
  }
}`;
  return {
    id,
    bindings: 3,
    source: (variant) => variant === "tiny" ? tiny : vec,
    plan: ([w, xq, y, nOut, K, nTok], ctx): DispatchPlan[] => {
      requireAligned(id, ["y"], [y]);
      requireAligned(id, ["w", "xq"], [w, xq], 2);
      if (nOut === 0 || nTok === 0) return [];
      const useTiny = nTok >= 2 && K % 32 === 0 && nOut % 4 === 0;
      return rowRanges(id, nOut, 2 * K, ctx).map(([o0, o1]) => ({
        regions: [{ ptr: w + o0 * 2 * K, bytes: (o1 - o0) * 2 * K }, { ptr: xq, bytes: 2 * nTok * K }, {
          ptr: y,
          bytes: 4 * nTok * nOut,
        }],
        args: [nOut, K, nTok, o0, o1 - o0, 0],
        groups: Math.ceil((o1 - o0) / 4),
        groupsY: useTiny ? Math.ceil(nTok / TT) : 1,
        variant: useTiny ? "tiny" : "vec",
      }));
    },
  };
})();
