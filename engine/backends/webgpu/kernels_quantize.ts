/**
 * WGSL activation quantizers: `quantize.q8_k`, `quantize.q8_0`, `quantize.f16`, `quantize.bf16`, `quantize.i8_s`,
 * byte for byte as the reference backend (layouts in `kernels-wasm/ABI.md` "Quantized activations"). The integer
 * parts are exact by construction; the scales use correctly rounded division (`div_rn`), so a row quantizes to the
 * same bytes as on the CPU.
 *
 * @module
 */

import { type DispatchPlan, f32Bits, type GpuKernel, reject, requireAligned } from "./kernel_plan.ts";
import { arg, bindings, entry } from "./kernels_ops.ts";
import { byteAccess } from "./wgsl_math.ts";
import { blockBytes, ggmlTensorBytes, GgmlType } from "../../quant/ggml_type.ts";

const QUANT_NAMES = ["x", "y"] as const;

/**
 * `quantize.q8_k`: one workgroup of 64 per 256-block (4 values each): signed absmax at its first occurrence,
 * `iscale = -127 / max`, `q = min(127, nearest_int(iscale x))`, bsums per 16, `d = 1 / iscale` (ggml
 * `quantize_row_q8_K_ref`).
 */
export const QUANTIZE_Q8_K: GpuKernel = {
  id: "quantize.q8_k",
  bindings: 2,
  source: () =>
    bindings([["x", "f32"], ["y", "u32"]]) + /* wgsl */ `
var<workgroup> best_a: array<f32, 64>;
var<workgroup> best_i: array<u32, 64>;
var<workgroup> qsum: array<i32, 64>;
` + entry(64) + /* wgsl */ `
  let xb = (pu(0u) >> 2u) + g * 256u;
  let yw = (pu(1u) >> 2u) + g * 73u;
  var v = array<f32, 4>();
  var ba = 0.0;
  var bi = 0u;
  for (var i = 0u; i < 4u; i++) {
    v[i] = x[xb + 4u * lid + i];
    let a = abs(v[i]);
    if (a > ba) { ba = a; bi = 4u * lid + i; }
  }
  best_a[lid] = ba;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h >> 1u) {
    if (lid < h) {
      let oa = best_a[lid + h];
      let oi = best_i[lid + h];
      if (oa > best_a[lid] || (oa == best_a[lid] && oi < best_i[lid])) { best_a[lid] = oa; best_i[lid] = oi; }
    }
    workgroupBarrier();
  }
  let amax = workgroupUniformLoad(&best_a[0]);
  if (amax == 0.0) {
    y[yw + lid] = 0u;
    if (lid < 9u) { y[yw + 64u + lid] = 0u; }
    return;
  }
  let imax = workgroupUniformLoad(&best_i[0]);
  let iscale = div_rn(-127.0, x[xb + imax]);
  var word = 0u;
  var s = 0;
  for (var i = 0u; i < 4u; i++) {
    let q = u32(min(127, nearest_int(iscale * v[i]))) & 0xffu;
    word |= q << (8u * i);
    s += sbyte(q, 0u);
  }
  y[yw + 1u + lid] = word;
  qsum[lid] = s;
  workgroupBarrier();
  if (lid < 8u) {
    let b0 = qsum[8u * lid] + qsum[8u * lid + 1u] + qsum[8u * lid + 2u] + qsum[8u * lid + 3u];
    let b1 = qsum[8u * lid + 4u] + qsum[8u * lid + 5u] + qsum[8u * lid + 6u] + qsum[8u * lid + 7u];
    y[yw + 65u + lid] = (u32(b0) & 0xffffu) | (u32(b1) << 16u);
  }
  if (lid == 0u) { y[yw] = bitcast<u32>(div_rn(1.0, iscale)); }
}`,
  plan: ([x, y, K, nRows]): DispatchPlan[] => {
    requireAligned("quantize.q8_k", QUANT_NAMES, [x, y]);
    if (K % 256 !== 0) reject("quantize.q8_k", `K = ${K} is not a multiple of 256`, "Pass whole Q8_K blocks");
    const blocks = (K / 256) * nRows;
    return [{
      regions: [{ ptr: x, bytes: 4 * K * nRows }, { ptr: y, bytes: blocks * blockBytes(GgmlType.Q8_K) }],
      args: [],
      groups: blocks,
      variant: "",
    }];
  },
};

/**
 * `quantize.q8_0` (ggml's x86 AVX path): `d = f16(amax / 127)`, `q = round_half_even(x * (127 / amax))`; an
 * infinite `127 / amax` (amax below ~7.5e-37) gives -128 everywhere, as cvtps2dq + packs do. Blocks are not word-sized, so
 * one invocation owns one output word and quantizes the (at most two) blocks it touches.
 */
export const QUANTIZE_Q8_0: GpuKernel = {
  id: "quantize.q8_0",
  bindings: 2,
  source: () =>
    bindings([["x", "f32"], ["y", "u32"]]) + byteAccess("y", true) + entry(64) + /* wgsl */ `
  let yb = pu(1u);
  let n = ${arg(0)};
  let w = (yb >> 2u) + g * 64u + lid;
  if (w >= ((yb + n + 3u) >> 2u)) { return; }
  let xo = pu(0u) >> 2u;
  var v = 0u;
  var mask = 0u;
  var cached = 0xffffffffu;
  var dbits = 0u;
  var id = 0.0;
  var id_inf = false;
  for (var k = 0u; k < 4u; k++) {
    let at = 4u * w + k;
    if (at < yb || at >= yb + n) { continue; }
    let o = at - yb;
    let blk = o / ${blockBytes(GgmlType.Q8_0)}u;
    let bo = o % ${blockBytes(GgmlType.Q8_0)}u;
    if (blk != cached) {
      cached = blk;
      var amax = 0.0;
      for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(x[xo + blk * 32u + j])); }
      dbits = f32_to_f16(bitcast<u32>(div_rn(amax, 127.0)));
      id = select(0.0, div_rn(127.0, amax), amax != 0.0);
      id_inf = (bitcast<u32>(id) & 0x7fffffffu) == 0x7f800000u;
    }
    var byte: u32;
    if (bo == 0u) {
      byte = dbits & 0xffu;
    } else if (bo == 1u) {
      byte = dbits >> 8u;
    } else if (id_inf) {
      byte = 0x80u;
    } else {
      byte = u32(clamp(nearest_int(x[xo + blk * 32u + bo - 2u] * id), -128, 127)) & 0xffu;
    }
    v |= byte << (8u * k);
    mask |= 0xffu << (8u * k);
  }
  st32m_y(w, v, mask);
}`,
  plan: ([x, y, K, nRows]): DispatchPlan[] => {
    requireAligned("quantize.q8_0", ["x"], [x]);
    if (K % 32 !== 0) reject("quantize.q8_0", `K = ${K} is not a multiple of 32`, "Pass whole Q8_0 blocks");
    const n = ggmlTensorBytes(GgmlType.Q8_0, K * nRows);
    return [{
      regions: [{ ptr: x, bytes: 4 * K * nRows }, { ptr: y, bytes: n }],
      args: [n],
      groups: Math.ceil(((y % 4) + n + 3) / 4 / 64),
      variant: "",
    }];
  },
};

/** `quantize.f16` / `quantize.bf16`: one invocation per output word, round to nearest even by bits. */
function toHalf(kind: "f16" | "bf16"): GpuKernel {
  const id = kind === "f16" ? "quantize.f16" : "quantize.bf16";
  return {
    id,
    bindings: 2,
    source: () =>
      bindings([["x", "f32"], ["y", "u32"]]) + byteAccess("y", true) + entry(256) + /* wgsl */ `
  let yb = pu(1u);
  let n = ${arg(0)};
  let w = (yb >> 2u) + g * 256u + lid;
  if (w >= ((yb + n + 3u) >> 2u)) { return; }
  var v = 0u;
  var mask = 0u;
  for (var k = 0u; k < 4u; k++) {
    let at = 4u * w + k;
    if (at < yb || at >= yb + n) { continue; }
    let o = at - yb;
    let h = f32_to_${kind}(bitcast<u32>(x[(pu(0u) >> 2u) + (o >> 1u)]));
    v |= ((h >> (8u * (o & 1u))) & 0xffu) << (8u * k);
    mask |= 0xffu << (8u * k);
  }
  st32m_y(w, v, mask);
}`,
    plan: ([x, y, K, nRows]): DispatchPlan[] => {
      requireAligned(id, ["x"], [x]);
      requireAligned(id, ["y"], [y], 2);
      const n = 2 * K * nRows;
      if (n === 0) return [];
      return [{
        regions: [{ ptr: x, bytes: 4 * K * nRows }, { ptr: y, bytes: n }],
        args: [n],
        groups: Math.ceil(((y % 4) + n + 3) / 4 / 256),
        variant: "",
      }];
    },
  };
}

/** `quantize.f16`. */
export const QUANTIZE_F16: GpuKernel = toHalf("f16");
/** `quantize.bf16`. */
export const QUANTIZE_BF16: GpuKernel = toHalf("bf16");

// quantize_row_i8_s starts its max at the double 1e-5: for an f32 amax, `amax >= 1e-5` is `amax >= I8S_FLOOR`, and
// below it the scale is (float)(127 / 1e-5).
const I8S_FLOOR = (() => {
  const f = Math.fround(1e-5);
  if (f >= 1e-5) return f;
  const a = new Float32Array([f]);
  new Uint32Array(a.buffer)[0]++;
  return a[0];
})();
const I8S_MAX_SCALE = Math.fround(127 / 1e-5);

/**
 * `quantize.i8_s` (bitnet.cpp per-token int8): one workgroup per row; `s = 127 / max(|x|, 1e-5)`,
 * `q = clamp(nearest_int(x s), -128, 127)`, then `s` and `sum(q)` after the row, 8 zero bytes of padding.
 */
export const QUANTIZE_I8_S: GpuKernel = {
  id: "quantize.i8_s",
  bindings: 2,
  source: () =>
    bindings([["x", "f32"], ["y", "u32"]]) + /* wgsl */ `
var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_i: array<i32, 256>;
` + entry(256) + /* wgsl */ `
  let K = ${arg(0)};
  let xo = (pu(0u) >> 2u) + g * K;
  let yw = (pu(1u) >> 2u) + g * ((K + 16u) >> 2u);
  var m = 0.0;
  for (var k = lid; k < K; k += 256u) { m = max(m, abs(x[xo + k])); }
  red_f[lid] = m;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) {
    if (lid < h) { red_f[lid] = max(red_f[lid], red_f[lid + h]); }
    workgroupBarrier();
  }
  let amax = red_f[0];
  let s = select(pf(${10 + 2}u), div_rn(127.0, amax), amax >= pf(${10 + 1}u));
  var sum = 0;
  for (var j = lid; j < (K >> 2u); j += 256u) {
    var word = 0u;
    for (var i = 0u; i < 4u; i++) {
      let q = clamp(nearest_int(x[xo + 4u * j + i] * s), -128, 127);
      sum += q;
      word |= (u32(q) & 0xffu) << (8u * i);
    }
    y[yw + j] = word;
  }
  red_i[lid] = sum;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) {
    if (lid < h) { red_i[lid] = red_i[lid] + red_i[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let t = yw + (K >> 2u);
    y[t] = bitcast<u32>(s);
    y[t + 1u] = u32(red_i[0]);
    y[t + 2u] = 0u;
    y[t + 3u] = 0u;
  }
}`,
  plan: ([x, y, K, nRows]): DispatchPlan[] => {
    requireAligned("quantize.i8_s", QUANT_NAMES, [x, y]);
    if (K % 4 !== 0) reject("quantize.i8_s", `K = ${K} is not a multiple of 4`, "Pass K % 128 == 0 (I2_S rows)");
    return [{
      regions: [{ ptr: x, bytes: 4 * K * nRows }, { ptr: y, bytes: (K + 16) * nRows }],
      args: [K, f32Bits(I8S_FLOOR), f32Bits(I8S_MAX_SCALE)],
      groups: nRows,
      variant: "",
    }];
  },
};
