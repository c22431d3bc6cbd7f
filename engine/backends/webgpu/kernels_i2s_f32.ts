/**
 * `gemm.i2_s_f32` in WGSL: I2_S weights times unquantized f32 activations (the engine's float activation precision;
 * `kernels-wasm/ABI.md` "gemm.i2_s_f32"). A workgroup is 4 rows x 16 lanes; invocation `l` of a row is lane `l` of
 * the definition (elements `k % 16 == l` in increasing `k`) for a tile of 4 tokens, and lane 0 reduces the 16 lanes
 * in the definition's fixed tree. Each product is a ternary weight times an f32, exact, so a contracted
 * multiply-add rounds the same as the separate operations.
 *
 * @module
 */

import { type DispatchPlan, type GpuKernel, reject, requireAligned } from "./kernel_plan.ts";
import { arg, bindings, entry } from "./kernels_ops.ts";

const TT = 4;

/** I2_S x F32. */
export const GEMM_I2_S_F32: GpuKernel = {
  id: "gemm.i2_s_f32",
  bindings: 4,
  source: () =>
    bindings([["w", "u32"], ["xf", "f32"], ["y", "f32"], ["ws", "u32"]]) +
    `var<workgroup> red: array<f32, ${64 * TT}>;\n` + entry(64) + /* wgsl */ `
  let n_out = ${arg(0)};
  let K = ${arg(1)};
  let n_tok = ${arg(2)};
  let o_lo = ${arg(3)};
  let o_count = ${arg(4)};
  let rl = lid >> 4u;
  let l = lid & 15u;
  let orow = g * 4u + rl;
  let live = orow < o_count;
  let t0 = wid.y * ${TT}u;
  var acc = array<f32, ${TT}>();
  if (live) {
    let wrow = pu(0u) + orow * (K >> 2u);
    for (var i = l; i < K; i += 16u) {
      let r = i & 127u;
      let byte = wrow + (i >> 7u) * 32u + (r & 31u);
      let code = (w[byte >> 2u] >> (8u * (byte & 3u) + 6u - 2u * (r >> 5u))) & 3u;
      let wv = f32(code) - 1.0;
      for (var tt = 0u; tt < ${TT}u; tt++) {
        let t = t0 + tt;
        if (t >= n_tok) { break; }
        acc[tt] = acc[tt] + wv * xf[(pu(1u) >> 2u) + t * K + i];
      }
    }
  }
  for (var tt = 0u; tt < ${TT}u; tt++) { red[lid * ${TT}u + tt] = acc[tt]; }
  workgroupBarrier();
  if (live && l == 0u) {
    let w_scale = bitcast<f32>(ws[pu(3u) >> 2u]);
    for (var tt = 0u; tt < ${TT}u; tt++) {
      let t = t0 + tt;
      if (t >= n_tok) { break; }
      var a = array<f32, 16>();
      for (var q = 0u; q < 16u; q++) { a[q] = red[((rl * 16u) + q) * ${TT}u + tt]; }
      let v0 = (a[0] + a[4]) + (a[8] + a[12]);
      let v1 = (a[1] + a[5]) + (a[9] + a[13]);
      let v2 = (a[2] + a[6]) + (a[10] + a[14]);
      let v3 = (a[3] + a[7]) + (a[11] + a[15]);
      y[(pu(2u) >> 2u) + t * n_out + o_lo + orow] = ((v0 + v1) + (v2 + v3)) * w_scale;
    }
  }
}`,
  plan: ([w, x, y, nOut, K, nTok], ctx): DispatchPlan[] => {
    const id = "gemm.i2_s_f32";
    if (K % 128 !== 0) reject(id, `K = ${K} is not a multiple of 128`, "Pass whole I2_S blocks");
    requireAligned(id, ["w", "x", "y"], [w, x, y]);
    if (nOut === 0 || nTok === 0) return [];
    const rowBytes = K / 4;
    const per = Math.floor(ctx.maxRegionBytes / rowBytes);
    if (per < 1) {
      reject(id, `one weight row (${rowBytes} bytes) exceeds the adapter's binding limit`, "Use --backend wasm");
    }
    const out: DispatchPlan[] = [];
    for (let o0 = 0; o0 < nOut; o0 += per) {
      const o1 = Math.min(nOut, o0 + per);
      out.push({
        regions: [
          { ptr: w + o0 * rowBytes, bytes: (o1 - o0) * rowBytes },
          { ptr: x, bytes: 4 * nTok * K },
          { ptr: y, bytes: 4 * nTok * nOut },
          { ptr: w + nOut * rowBytes, bytes: 4 },
        ],
        args: [nOut, K, nTok, o0, o1 - o0, K / 128],
        groups: Math.ceil((o1 - o0) / 4),
        groupsY: Math.ceil(nTok / TT),
        variant: "",
      });
    }
    return out;
  },
};
