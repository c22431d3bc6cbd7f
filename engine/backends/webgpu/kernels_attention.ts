/**
 * WGSL causal GQA attention over the f32 KV cache, in the order of ggml's non-flash path as the reference backend
 * computes it (`kernels-wasm/ABI.md` "attention"): scores `s_j = vec_dot_f32(k_j, q) * scale` (64 lanes), the max,
 * `e_j = v_expf(s_j - m)` in chunks of 16 whose `reduce16` sums are added in order to a (double-f32) f64 sum,
 * `p_j = e_j * f32(1 / sum)`, then `out[d] = sum_j p_j v_j[d]` in tinyBLAS order (16 lanes over j) for batches and in
 * the 64-lane `vec_dot_f32` order for one token.
 *
 * A workgroup of 64 handles one (token, head) pair at a time; {@link ATTENTION_GROUPS} workgroups loop over the
 * pairs, each with its own row of `n_ctx` f32 of scratch for the scores (so the scratch does not grow with the
 * batch). Within a pair, invocation `j` scores cache row `j` (and `j + 64`, ...), and invocation `d` computes output
 * dimension `d`.
 *
 * Dimension letters: T = tokens, H = heads, Hk = KV heads, D = head dim, C = context (cache rows).
 *
 * @module
 */

import { type DispatchPlan, f32Bits, type GpuKernel, reject, requireAligned } from "./kernel_plan.ts";
import { arg, bindings, entry } from "./kernels_ops.ts";

/** Workgroups of the attention grid, each with one scratch row of `n_ctx` f32. */
export const ATTENTION_GROUPS = 64;
/** Largest head dim (the query of the current pair sits in workgroup memory). */
export const ATTENTION_MAX_HEAD_DIM = 256;

/** `attention`. */
export const ATTENTION: GpuKernel = {
  id: "attention",
  bindings: 5,
  source: () =>
    bindings([["q", "f32"], ["k", "f32"], ["v", "f32"], ["out", "f32"], ["sc", "f32"]]) + /* wgsl */ `
var<workgroup> qs: array<f32, ${ATTENTION_MAX_HEAD_DIM}>;
var<workgroup> red: array<f32, 64>;
var<workgroup> inv_wg: f32;
// ggml_vec_dot_f32 of k row j (from word kj) with the query in qs: 4 x 16 FMA lanes, reduce64, sequential tail.
fn score_dot(kj: u32, D: u32) -> f32 {
  let np = D & ~63u;
  var r = array<f32, 16>();
  for (var l = 0u; l < 16u; l++) {
    var c = array<f32, 4>();
    for (var a = 0u; a < 4u; a++) {
      var acc = 0.0;
      for (var i = l + 16u * a; i < np; i += 64u) { acc = fma_x(k[kj + i], qs[i], acc); }
      c[a] = acc;
    }
    r[l] = (c[0] + c[2]) + (c[1] + c[3]);
  }
  var sum = reduce16(&r);
  for (var i = np; i < D; i++) { sum = rb(k[kj + i] * qs[i]) + sum; }
  return sum;
}
` + entry(64) + /* wgsl */ `
  let T = ${arg(0)};
  let pos0 = ${arg(1)};
  let H = ${arg(2)};
  let Hk = ${arg(3)};
  let D = ${arg(4)};
  let C = ${arg(5)};
  let scale = pf(${10 + 6}u);
  let G = ${arg(7)};
  let kv_dim = Hk * D;
  let srow = (pu(4u) >> 2u) + g * C;
  for (var pair = g; pair < T * H; pair += G) {
    let t = pair / H;
    let h = pair % H;
    let hk = h / (H / Hk);
    let n_kv = pos0 + t + 1u;
    let qo = (pu(0u) >> 2u) + t * H * D + h * D;
    for (var i = lid; i < D; i += 64u) { qs[i] = q[qo + i]; }
    workgroupBarrier();

    // Scores and their max.
    var m = bitcast<f32>(0xff7fffffu); // -FLT_MAX: WGSL may assume no infinities
    for (var j = lid; j < n_kv; j += 64u) {
      let s = score_dot((pu(1u) >> 2u) + j * kv_dim + hk * D, D) * scale;
      sc[srow + j] = s;
      m = max(m, s);
    }
    red[lid] = m;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
      if (lid < w) { red[lid] = max(red[lid], red[lid + w]); }
      workgroupBarrier();
    }
    let mx = red[0];
    storageBarrier();
    workgroupBarrier();

    // ggml_vec_soft_max_f32: exp in chunks of 16 (lanes past n_kv are 0), each chunk's reduce16 added in order.
    let n_chunks = (n_kv + 15u) >> 4u;
    var total = vec2<f32>(0.0, 0.0);
    for (var c0 = 0u; c0 < n_chunks; c0 += 64u) {
      let c = c0 + lid;
      var part = 0.0;
      if (c < n_chunks) {
        var ch = array<f32, 16>();
        for (var l = 0u; l < 16u; l++) {
          let j = 16u * c + l;
          if (j < n_kv) {
            let e = v_expf(sc[srow + j] - mx);
            sc[srow + j] = e;
            ch[l] = e;
          }
        }
        part = reduce16(&ch);
      }
      workgroupBarrier();
      red[lid] = part;
      workgroupBarrier();
      if (lid == 0u) {
        for (var q = 0u; q < min(64u, n_chunks - c0); q++) { total = dd_add(total, red[q]); }
      }
      workgroupBarrier();
    }
    if (lid == 0u) { inv_wg = dd_recip(total); }
    storageBarrier();
    workgroupBarrier();
    let inv = inv_wg;
    for (var j = lid; j < n_kv; j += 64u) { sc[srow + j] = sc[srow + j] * inv; }
    storageBarrier();
    workgroupBarrier();

    // out[d] = sum_j p_j v_j[d]: tinyBLAS (16 lanes over j) for a batch, vec_dot_f32 (64 lanes, zero-padded) for one.
    let oo = (pu(3u) >> 2u) + t * H * D + h * D;
    let vo = (pu(2u) >> 2u) + hk * D;
    for (var d = lid; d < D; d += 64u) {
      var r = array<f32, 16>();
      if (T > 1u) {
        for (var l = 0u; l < 16u; l++) {
          var acc = 0.0;
          for (var j = l; j < n_kv; j += 16u) { acc = fma_x(v[vo + j * kv_dim + d], sc[srow + j], acc); }
          r[l] = acc;
        }
      } else {
        for (var l = 0u; l < 16u; l++) {
          var c = array<f32, 4>();
          for (var a = 0u; a < 4u; a++) {
            var acc = 0.0;
            for (var j = l + 16u * a; j < n_kv; j += 64u) { acc = fma_x(v[vo + j * kv_dim + d], sc[srow + j], acc); }
            c[a] = acc;
          }
          r[l] = (c[0] + c[2]) + (c[1] + c[3]);
        }
      }
      out[oo + d] = reduce16(&r);
    }
    storageBarrier();
    workgroupBarrier();
  }
}`,
  plan: ([q, k, v, out, scratch, nTok, pos0, nHead, nHeadKv, headDim, nCtx, scale]): DispatchPlan[] => {
    requireAligned("attention", ["q", "k", "v", "out", "scratch"], [q, k, v, out, scratch]);
    if (nHeadKv === 0 || nHead % nHeadKv !== 0) {
      reject("attention", `n_head = ${nHead} is not a multiple of n_head_kv = ${nHeadKv}`, "Pass GQA head counts");
    }
    if (headDim > ATTENTION_MAX_HEAD_DIM) {
      reject("attention", `head_dim = ${headDim} exceeds ${ATTENTION_MAX_HEAD_DIM}`, "Use --backend wasm");
    }
    if (pos0 + nTok > nCtx) {
      reject("attention", `positions ${pos0}..${pos0 + nTok - 1} exceed n_ctx = ${nCtx}`, "Reset or use a larger nCtx");
    }
    const pairs = nTok * nHead;
    if (pairs === 0) return [];
    const groups = Math.min(pairs, ATTENTION_GROUPS);
    const kv = 4 * (pos0 + nTok) * nHeadKv * headDim;
    return [{
      regions: [
        { ptr: q, bytes: 4 * nTok * nHead * headDim },
        { ptr: k, bytes: kv },
        { ptr: v, bytes: kv },
        { ptr: out, bytes: 4 * nTok * nHead * headDim },
        { ptr: scratch, bytes: 4 * groups * nCtx },
      ],
      args: [nTok, pos0, nHead, nHeadKv, headDim, nCtx, f32Bits(scale), groups],
      groups,
      variant: "",
    }];
  },
};

/**
 * Scratch bytes of {@link ATTENTION} for calls with `n_ctx` up to `nCtx`.
 *
 * @param nCtx Largest `n_ctx` argument.
 * @returns Bytes.
 * @example
 * ```ts
 * import { attentionScratchBytes } from "./kernels_attention.ts";
 * console.log(attentionScratchBytes(512)); // 131072
 * ```
 */
export function attentionScratchBytes(nCtx: number): number {
  return 4 * ATTENTION_GROUPS * nCtx;
}
