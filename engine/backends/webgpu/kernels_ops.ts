/**
 * WGSL kernels for the element-wise ops, `copy`, `get_rows.*`, `rms_norm` and RoPE (`rope.neox`, `rope.norm`), in the
 * float order of the reference backend (`engine/backends/ref.ts`, semantics in `kernels-wasm/ABI.md`).
 *
 * Dimension letters: K = row length, T = tokens, H = heads, D = head dim, R = rotated dims.
 *
 * @module
 */

import type { KernelId } from "../kernel_table.ts";
import { type DispatchPlan, f32Bits, type GpuKernel, reject, requireAligned } from "./kernel_plan.ts";
import { byteAccess } from "./wgsl_math.ts";
import { blockBytes, ggmlTensorBytes, GgmlType } from "../../quant/ggml_type.ts";

const Q8_0_BYTES = blockBytes(GgmlType.Q8_0);
const Q6_K_BYTES = blockBytes(GgmlType.Q6_K);

/** The entry point header: `g` is the linear workgroup index, groups past the grid return. */
export function entry(workgroupSize: number): string {
  return /* wgsl */ `
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32) {
  let g = group_index(wid, nwg);
  if (g >= pu(9u)) { return; }
`;
}

/** `@group(0) @binding(i)` declarations: `[name, element type]` per binding. */
export function bindings(list: readonly (readonly [string, "f32" | "u32"])[]): string {
  return list.map(([n, t], i) => `@group(0) @binding(${i}) var<storage, read_write> ${n}: array<${t}>;\n`).join("");
}

/** Argument slot `i` (0-based, after the region and control slots). */
export function arg(i: number): string {
  return `pu(${10 + i}u)`;
}

const WG = 256;
const groupsFor = (n: number, per: number): number => Math.ceil(n / per);

/** An element-wise kernel over `n` f32 values: `y[i] = expr(a[i], b[i])`. */
function elementwise(id: KernelId, expr: string, scalarB: boolean): GpuKernel {
  return {
    id,
    bindings: 3,
    source: () =>
      bindings([["a", "f32"], ["b", "f32"], ["y", "f32"]]) + entry(WG) + /* wgsl */ `
  let i = g * ${WG}u + lid;
  if (i >= ${arg(0)}) { return; }
  let av = a[(pu(0u) >> 2u) + i];
  let bv = b[(pu(1u) >> 2u) + ${scalarB ? "0u" : "i"}];
  y[(pu(2u) >> 2u) + i] = ${expr};
}`,
    plan: ([a, b, y, n]): DispatchPlan[] => {
      requireAligned(id, ["a", "b", "y"], [a, b, y]);
      return [{
        regions: [{ ptr: a, bytes: 4 * n }, { ptr: b, bytes: scalarB ? 4 : 4 * n }, { ptr: y, bytes: 4 * n }],
        args: [n],
        groups: groupsFor(n, WG),
        variant: "",
      }];
    },
  };
}

/** `y = a + b`. */
export const ADD: GpuKernel = elementwise("add", "av + bv", false);
/** `y = x * s[0]`. */
export const MUL_SCALAR: GpuKernel = elementwise("mul_scalar", "av * bv", true);
/** `y = silu(g) * u` with ggml's `v_silu` (the product of the rounded silu and u). */
export const SWIGLU: GpuKernel = elementwise("swiglu", "rb(v_silu(av)) * bv", false);
/** `y = max(g, 0)^2 * u`. */
export const RELU2_GLU: GpuKernel = elementwise("relu2_glu", "rb(max(av, 0.0) * max(av, 0.0)) * bv", false);

/** `copy`: n bytes; whole words when everything is word-aligned, byte by byte otherwise. */
export const COPY: GpuKernel = {
  id: "copy",
  bindings: 2,
  source: (variant) =>
    bindings([["x", "u32"], ["y", "u32"]]) + byteAccess("x", false) + byteAccess("y", true) + entry(WG) +
    (variant === "words"
      ? /* wgsl */ `
  let i = g * ${WG}u + lid;
  if (i >= (${arg(0)} >> 2u)) { return; }
  y[(pu(1u) >> 2u) + i] = x[(pu(0u) >> 2u) + i];
}`
      : /* wgsl */ `
  // One invocation per destination word; bytes outside [y, y + n) keep their value.
  let yb = pu(1u);
  let n = ${arg(0)};
  let w = (yb >> 2u) + g * ${WG}u + lid;
  if (w >= ((yb + n + 3u) >> 2u)) { return; }
  var v = 0u;
  var mask = 0u;
  for (var k = 0u; k < 4u; k++) {
    let at = 4u * w + k;
    if (at >= yb && at < yb + n) {
      v |= ld8_x(pu(0u) + at - yb) << (8u * k);
      mask |= 0xffu << (8u * k);
    }
  }
  st32m_y(w, v, mask);
}`),
  plan: ([x, y, n]): DispatchPlan[] => {
    if (n > 0 && x < y + n && y < x + n) {
      reject("copy", `regions x = ${x} and y = ${y} of ${n} bytes overlap`, "Copy through a scratch buffer");
    }
    if (n === 0) return [];
    const words = x % 4 === 0 && y % 4 === 0 && n % 4 === 0;
    return [{
      regions: [{ ptr: x, bytes: n }, { ptr: y, bytes: n }],
      args: [n],
      groups: groupsFor(words ? n / 4 : Math.ceil(((y % 4) + n) / 4), WG),
      variant: words ? "words" : "bytes",
    }];
  },
};

/** Row bytes and the WGSL expression of element `k` of the row at byte `base` of `w`, per embedding type. */
const ROW_TYPES: Readonly<Record<string, { rowBytes: (k: number) => number; block: number; value: string }>> = {
  f32: { rowBytes: (k) => 4 * k, block: 1, value: "bitcast<f32>(ld32_w(base + 4u * k))" },
  f16: { rowBytes: (k) => 2 * k, block: 1, value: "f16_to_f32(ld16a_w(base + 2u * k))" },
  bf16: { rowBytes: (k) => 2 * k, block: 1, value: "bf16_to_f32(ld16a_w(base + 2u * k))" },
  // block_q8_0 {f16 d; i8 qs[32]}: q * d (exact in f32).
  q8_0: {
    rowBytes: (k) => ggmlTensorBytes(GgmlType.Q8_0, k),
    block: 32,
    value: `f32(sbyte(ld8_w(base + (k >> 5u) * ${Q8_0_BYTES}u + 2u + (k & 31u)), 0u)) * ` +
      `f16_to_f32(ld16_w(base + (k >> 5u) * ${Q8_0_BYTES}u))`,
  },
  // block_q6_K {ql[128], qh[64], i8 scales[16], f16 d}: (d * scale) * (q - 32), as dequantize_row_q6_K.
  q6_k: {
    rowBytes: (k) => ggmlTensorBytes(GgmlType.Q6_K, k),
    block: 256,
    value: `q6k_value(base + (k >> 8u) * ${Q6_K_BYTES}u, k & 255u)`,
  },
};

const Q6K_VALUE = /* wgsl */ `
fn q6k_value(blk: u32, e: u32) -> f32 {
  let hf = e >> 7u;
  let s = (e >> 5u) & 3u;
  let l = e & 31u;
  let ql = ld8_w(blk + hf * 64u + l + (s & 1u) * 32u);
  let nib = select(ql & 15u, ql >> 4u, s >= 2u);
  let qh = (ld8_w(blk + 128u + hf * 32u + l) >> (2u * s)) & 3u;
  let q = i32(nib | (qh << 4u)) - 32;
  let sc = sbyte(ld8_w(blk + 192u + hf * 8u + (l >> 4u) + 2u * s), 0u);
  return f16_to_f32(ld16_w(blk + 208u)) * f32(sc) * f32(q);
}
`;

/** `get_rows.<type>`: y[r][k] = w[ids[r]][k] dequantized; split into row windows when the table exceeds a binding. */
function getRows(type: string): GpuKernel {
  const id = `get_rows.${type}` as KernelId;
  const t = ROW_TYPES[type];
  return {
    id,
    bindings: 3,
    source: () =>
      bindings([["w", "u32"], ["ids", "u32"], ["y", "f32"]]) + byteAccess("w", false) +
      (type === "q6_k" ? Q6K_VALUE : "") + entry(WG) + /* wgsl */ `
  let K = ${arg(0)};
  let i = g * ${WG}u + lid;
  if (i >= ${arg(1)} * K) { return; }
  let r = i / K;
  let k = i % K;
  let row = ids[(pu(1u) >> 2u) + r];
  // Rows outside this dispatch's window [${arg(2)}, ${arg(3)}) belong to another dispatch.
  if (row < ${arg(2)} || row >= ${arg(3)}) { return; }
  let base = pu(0u) + (row - ${arg(2)}) * ${arg(4)};
  y[(pu(2u) >> 2u) + i] = ${t.value};
}`,
    plan: ([w, ids, y, K, nIds], ctx): DispatchPlan[] => {
      requireAligned(id, ["ids", "y"], [ids, y]);
      if (type === "f16" || type === "bf16") requireAligned(id, ["w"], [w], 2);
      if (K % t.block !== 0) reject(id, `K = ${K} is not a multiple of the block size ${t.block}`, "Pass whole blocks");
      if (nIds === 0) return [];
      const rb = t.rowBytes(K);
      // The table's row count is not an argument: every row of the allocation is addressable (ABI.md get_rows.*).
      const rows = Math.max(1, Math.floor(ctx.extentOf(w) / rb));
      const per = Math.max(1, Math.floor(ctx.maxRegionBytes / rb));
      const plans: DispatchPlan[] = [];
      for (let r0 = 0; r0 < rows; r0 += per) {
        const r1 = Math.min(rows, r0 + per);
        plans.push({
          regions: [{ ptr: w + r0 * rb, bytes: (r1 - r0) * rb }, { ptr: ids, bytes: 4 * nIds }, {
            ptr: y,
            bytes: 4 * K * nIds,
          }],
          args: [K, nIds, r0, r1 === rows ? 0xffffffff : r1, rb],
          groups: groupsFor(K * nIds, WG),
          variant: "",
        });
      }
      return plans;
    },
  };
}

/** The five embedding-row kernels. */
export const GET_ROWS: readonly GpuKernel[] = ["f32", "f16", "bf16", "q8_0", "q6_k"].map(getRows);

/**
 * `rms_norm`: one workgroup per row. The sum of squares (f64 in ggml) is a double-f32 pairwise sum, its mean is
 * rounded once from both parts, then `1 / sqrtf(mean + eps)` correctly rounded, `y = (x * scale) * w`.
 */
export const RMS_NORM: GpuKernel = {
  id: "rms_norm",
  bindings: 3,
  source: () =>
    bindings([["x", "f32"], ["w", "f32"], ["y", "f32"]]) + /* wgsl */ `
var<workgroup> part: array<vec2<f32>, ${WG}>;
var<workgroup> scale_wg: f32;
` + entry(WG) + /* wgsl */ `
  let K = ${arg(0)};
  let xo = (pu(0u) >> 2u) + g * K;
  let yo = (pu(2u) >> 2u) + g * K;
  let wo = pu(1u) >> 2u;
  var s = vec2<f32>(0.0, 0.0);
  for (var k = lid; k < K; k += ${WG}u) {
    let v = x[xo + k];
    s = dd_add(s, rb(v * v));
  }
  part[lid] = s;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] = dd_add2(part[lid], part[lid + h]); }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let mean = dd_div_int(part[0], f32(K));
    scale_wg = div_rn(1.0, sqrt_rn(mean + pf(${10 + 1}u)));
  }
  workgroupBarrier();
  let scale = scale_wg;
  for (var k = lid; k < K; k += ${WG}u) { y[yo + k] = rb(x[xo + k] * scale) * w[wo + k]; }
}`,
  plan: ([x, w, y, K, nRows, eps]): DispatchPlan[] => {
    requireAligned("rms_norm", ["x", "w", "y"], [x, w, y]);
    if (K > 2 ** 24) reject("rms_norm", `K = ${K} exceeds 2^24`, "Split the row");
    return [{
      regions: [{ ptr: x, bytes: 4 * K * nRows }, { ptr: w, bytes: 4 * K }, { ptr: y, bytes: 4 * K * nRows }],
      args: [K, f32Bits(eps)],
      groups: nRows,
      variant: "",
    }];
  },
};

/** RoPE in place, one invocation per rotated pair; `neox` pairs (j, j + R/2), `norm` pairs (2j, 2j + 1). */
function rope(kind: "neox" | "norm"): GpuKernel {
  const id = `rope.${kind}` as KernelId;
  const pair = kind === "neox" ? ["base + j", "base + j + half"] : ["base + 2u * j", "base + 2u * j + 1u"];
  return {
    id,
    bindings: 2,
    source: () =>
      bindings([["x", "f32"], ["cs", "f32"]]) + entry(WG) + /* wgsl */ `
  let H = ${arg(1)};
  let D = ${arg(2)};
  let R = ${arg(3)};
  let half = R >> 1u;
  let i = g * ${WG}u + lid;
  if (i >= ${arg(0)} * H * half) { return; }
  let j = i % half;
  let th = i / half;
  let t = th / H;
  let base = (pu(0u) >> 2u) + th * D;
  let c = (pu(1u) >> 2u) + t * R;
  let cs_cos = cs[c + j];
  let cs_sin = cs[c + half + j];
  let i0 = ${pair[0]};
  let i1 = ${pair[1]};
  let x0 = x[i0];
  let x1 = x[i1];
  // ggml-cpu/ops.cpp rotate_pairs as GCC contracts it: fma(x0, cos, -(x1 sin)), fma(x0, sin, x1 cos).
  x[i0] = fma_x(x0, cs_cos, -rb(x1 * cs_sin));
  x[i1] = fma_x(x0, cs_sin, rb(x1 * cs_cos));
}`,
    plan: ([x, cs, nTok, nHead, headDim, nRot]): DispatchPlan[] => {
      requireAligned(id, ["x", "cs"], [x, cs]);
      if (nRot % 2 !== 0 || nRot > headDim) {
        reject(id, `n_rot = ${nRot} is odd or above head_dim = ${headDim}`, "Pass an even n_rot <= head_dim");
      }
      const n = nTok * nHead * (nRot / 2);
      if (n === 0) return [];
      return [{
        regions: [{ ptr: x, bytes: 4 * nTok * nHead * headDim }, { ptr: cs, bytes: 4 * nTok * nRot }],
        args: [nTok, nHead, headDim, nRot],
        groups: groupsFor(n, WG),
        variant: "",
      }];
    },
  };
}

/** `rope.neox` and `rope.norm`. */
export const ROPE: readonly GpuKernel[] = [rope("neox"), rope("norm")];
