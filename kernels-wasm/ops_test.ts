/**
 * Non-matmul kernels (RMSNorm, RoPE, attention, element-wise, embedding rows, expf): SIMD against scalar twins
 * on every backend, and against formulas written here. Tolerances, where a formula uses float64 instead of
 * the kernel's f32 steps, come from `TOLERANCES`.
 */

import { equal, ok } from "node:assert/strict";
import { assertSameBytes, bitsf32, f16ToNumber, f32bits, gauss, Rig, type Rig as RigT, rng } from "./_testing.ts";
import { TOLERANCES } from "../engine/backends/tolerances.ts";

const f32 = Math.fround;

function floats(rig: RigT, i: number, buf: { offs: number[]; bytes: number }): Float32Array {
  return new Float32Array(rig.read(buf, i).buffer);
}

Deno.test("rms_norm, rope.neox, element-wise kernels and get_rows equal their scalar twins", async (t) => {
  using rig = await Rig.standard();
  const r = rng(42);
  await t.step("rms_norm (K tails 1..9, 2560; zero rows; huge values)", () => {
    for (const k of [1, 3, 4, 5, 8, 9, 2560]) {
      const n = 5;
      const x = Float32Array.from({ length: n * k }, () => gauss(r));
      x.fill(0, k, 2 * k);
      x.fill(1e19, 2 * k, 3 * k);
      const w = Float32Array.from({ length: k }, () => 1 + 0.1 * gauss(r));
      const xb = rig.alloc(4 * n * k, x), wb = rig.alloc(4 * k, w);
      const y = rig.alloc(4 * n * k), yRef = rig.alloc(4 * n * k);
      rig.runBoth("rms_norm", [xb, wb], y, yRef, [k, n, 1e-6]);
      assertSameBytes(rig, y, yRef, `rms_norm K=${k}`);
    }
  });
  await t.step("rope.neox in place (n_rot < head_dim, odd halves, 1..9 tokens)", () => {
    for (const [nTok, nHead, hd, nRot] of [[1, 2, 128, 128], [3, 3, 64, 32], [9, 1, 10, 6], [2, 5, 128, 64]]) {
      const x = Float32Array.from({ length: nTok * nHead * hd }, () => gauss(r));
      const cs = Float32Array.from({ length: nTok * nRot }, () => gauss(r));
      const a = rig.alloc(x.byteLength, x), b = rig.alloc(x.byteLength, x), csb = rig.alloc(cs.byteLength, cs);
      rig.run("rope.neox", [a, csb, nTok, nHead, hd, nRot]);
      rig.run("rope.neox", [b, csb, nTok, nHead, hd, nRot], true);
      assertSameBytes(rig, a, b, `rope.neox ${nTok}x${nHead}x${hd}/${nRot}`);
    }
  });
  await t.step("swiglu, relu2_glu, add, mul_scalar (n tails, extremes, NaN-free)", () => {
    for (const n of [1, 3, 4, 5, 4096, 4099, 12289]) {
      const g = Float32Array.from(
        { length: n },
        (_, i) => (i % 97 === 0 ? [-200, 200, 89, -104, 0, -0][i % 6] : gauss(r) * 4),
      );
      const u = Float32Array.from({ length: n }, () => gauss(r));
      const gb = rig.alloc(4 * n, g), ub = rig.alloc(4 * n, u), s = rig.alloc(4, Float32Array.of(-1.75));
      for (const id of ["swiglu", "relu2_glu", "add"] as const) {
        const y = rig.alloc(4 * n), yRef = rig.alloc(4 * n);
        rig.runBoth(id, [gb, ub], y, yRef, [n]);
        assertSameBytes(rig, y, yRef, `${id} n=${n}`);
      }
      const y = rig.alloc(4 * n), yRef = rig.alloc(4 * n);
      rig.runBoth("mul_scalar", [gb, s], y, yRef, [n]);
      assertSameBytes(rig, y, yRef, `mul_scalar n=${n}`);
    }
  });
  await t.step("get_rows for f32, f16, bf16, q8_0, q6_k", () => {
    const nRows = 7, k = 512;
    const bytesPerRow: Record<string, number> = {
      f32: 4 * k,
      f16: 2 * k,
      bf16: 2 * k,
      q8_0: (k / 32) * 34,
      q6_k: (k / 256) * 210,
    };
    for (const [ty, rb] of Object.entries(bytesPerRow)) {
      const w = Uint8Array.from({ length: nRows * rb }, () => Math.floor(r() * 256));
      if (ty === "f16") { for (let i = 1; i < w.length; i += 2) w[i] &= 0x7b; // finite halves
       }
      if (ty === "bf16") { for (let i = 1; i < w.length; i += 2) w[i] &= 0x7f - 0x40; // finite, modest
       }
      if (ty === "f32") { for (let i = 3; i < w.length; i += 4) w[i] &= 0x3f; }
      const ids = Int32Array.from([6, 0, 3, 3, 1]);
      const wb = rig.alloc(w.length, w), ib = rig.alloc(4 * ids.length, ids);
      const y = rig.alloc(4 * ids.length * k), yRef = rig.alloc(4 * ids.length * k);
      rig.runBoth(`get_rows.${ty}` as "get_rows.f16", [wb, ib], y, yRef, [k, ids.length]);
      assertSameBytes(rig, y, yRef, `get_rows.${ty}`);
    }
  });
});

Deno.test("attention equals its scalar twin (GQA, causal, tails) and a float64 softmax", async () => {
  using rig = await Rig.standard();
  const r = rng(77);
  for (
    const [nTok, pos0, nHead, nKv, hd] of [[1, 0, 4, 2, 64], [1, 37, 20, 5, 128], [5, 3, 4, 1, 80], [9, 0, 2, 2, 7]]
  ) {
    const nCtx = pos0 + nTok + 3;
    const q = Float32Array.from({ length: nTok * nHead * hd }, () => gauss(r));
    const k = Float32Array.from({ length: nCtx * nKv * hd }, () => gauss(r));
    const v = Float32Array.from({ length: nCtx * nKv * hd }, () => gauss(r));
    const scale = f32(1 / Math.sqrt(hd));
    const qb = rig.alloc(q.byteLength, q), kb = rig.alloc(k.byteLength, k), vb = rig.alloc(v.byteLength, v);
    const scratch = rig.alloc(4 * 2 * nCtx);
    const out = rig.alloc(q.byteLength), outRef = rig.alloc(q.byteLength);
    rig.run("attention", [qb, kb, vb, out, scratch, nTok, pos0, nHead, nKv, hd, nCtx, scale]);
    rig.run("attention", [qb, kb, vb, outRef, scratch, nTok, pos0, nHead, nKv, hd, nCtx, scale], true);
    assertSameBytes(rig, out, outRef, `attention ${nTok}@${pos0} ${nHead}/${nKv}x${hd}`);
    const got = floats(rig, 0, out);
    const group = nHead / nKv;
    for (let t = 0; t < nTok; t++) {
      for (let h = 0; h < nHead; h++) {
        const kv = Math.floor(h / group);
        const n = pos0 + t + 1;
        const s = Array.from({ length: n }, (_, j) => {
          let d = 0;
          for (let i = 0; i < hd; i++) d += q[(t * nHead + h) * hd + i] * k[(j * nKv + kv) * hd + i];
          return d * scale;
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hd; d++) {
          let want = 0;
          for (let j = 0; j < n; j++) want += (e[j] / sum) * v[(j * nKv + kv) * hd + d];
          const g = got[(t * nHead + h) * hd + d];
          ok(Math.abs(g - want) <= TOLERANCES.attention.abs, `attention t=${t} h=${h} d=${d}: ${g} vs ${want}`);
        }
      }
    }
  }
});

Deno.test("rms_norm and rope.neox equal their formulas step by step in f32", async () => {
  using rig = await Rig.standard();
  const r = rng(3);
  const k = 37;
  const x = Float32Array.from({ length: k }, () => gauss(r));
  const w = Float32Array.from({ length: k }, () => gauss(r));
  const xb = rig.alloc(4 * k, x), wb = rig.alloc(4 * k, w), y = rig.alloc(4 * k);
  const eps = f32(1e-5);
  rig.run("rms_norm", [xb, wb, y, k, 1, eps]);
  // ggml-cpu/ops.cpp:3955-3975: f64 sum of f32 squares, mean as f32, scale = 1/sqrtf(mean + eps).
  let sum = 0;
  for (const v of x) sum += f32(v * v);
  const scale = f32(1 / f32(Math.sqrt(f32(f32(sum / k) + eps))));
  for (let i = 0; i < rig.backends.length; i++) {
    const got = floats(rig, i, y);
    for (let j = 0; j < k; j++) equal(got[j], f32(f32(x[j] * scale) * w[j]), `${rig.labels[i]} rms_norm[${j}]`);
  }
  // RoPE NEOX on one head: pairs (i, i + n_rot/2), rest unchanged.
  const hd = 12, nRot = 8;
  const xh = Float32Array.from({ length: hd }, () => gauss(r));
  const cs = Float32Array.from({ length: nRot }, (_, i) => (i < 4 ? Math.cos(i + 0.5) : Math.sin(i - 3.5)));
  const xr = rig.alloc(4 * hd, xh), csb = rig.alloc(4 * nRot, cs);
  rig.run("rope.neox", [xr, csb, 1, 1, hd, nRot]);
  for (let i = 0; i < rig.backends.length; i++) {
    const got = floats(rig, i, xr);
    for (let j = 0; j < 4; j++) {
      const c = cs[j], s = cs[4 + j], x0 = xh[j], x1 = xh[j + 4];
      // GCC contracts ggml's rotate_pairs into fma(x0, cos, -(x1*sin)) and fma(x0, sin, x1*cos); the f32 FMA
      // is computed as the exact product plus the addend in float64, rounded to f32.
      equal(got[j], f32(x0 * c - f32(x1 * s)), `rope[${j}]`);
      equal(got[j + 4], f32(x0 * s + f32(x1 * c)), `rope[${j + 4}]`);
    }
    for (let j = nRot; j < hd; j++) equal(got[j], xh[j], `rope[${j}] untouched`);
  }
});

Deno.test("get_rows.f16 decodes all 65536 halves exactly; get_rows.q8_0 and q6_k match ggml's dequantizers", async () => {
  using rig = await Rig.standard();
  const k = 65536;
  const w = Uint16Array.from({ length: k }, (_, i) => i);
  const wb = rig.alloc(2 * k, w), ids = rig.alloc(4, Int32Array.of(0)), y = rig.alloc(4 * k);
  rig.run("get_rows.f16", [wb, ids, y, k, 1]);
  for (let i = 0; i < rig.backends.length; i++) {
    const got = floats(rig, i, y);
    for (let h = 0; h < k; h++) {
      const want = f16ToNumber(h);
      if (Number.isNaN(want)) ok(Number.isNaN(got[h]), `f16 ${h.toString(16)} should be NaN`);
      else equal(got[h], want, `${rig.labels[i]} f16 0x${h.toString(16)}`);
    }
  }
  const r = rng(8);
  // Q6_K (dequantize_row_q6_K, ggml-quants.c): y = d * sc[e/16] * (q6 - 32) with q6 split over ql/qh.
  const blk = Uint8Array.from({ length: 210 }, () => Math.floor(r() * 256));
  new DataView(blk.buffer).setUint16(208, 0x2a00, true); // d = 0.046875
  const qb = rig.alloc(210, blk), yq = rig.alloc(4 * 256);
  rig.run("get_rows.q6_k", [qb, ids, yq, 256, 1]);
  const d = f16ToNumber(0x2a00);
  const sc = new Int8Array(blk.buffer, 192, 16);
  for (let i = 0; i < rig.backends.length; i++) {
    const got = floats(rig, i, yq);
    for (let e = 0; e < 256; e++) {
      const half = e >> 7, rr = e & 127, l = rr & 31, g = rr >> 5;
      const ql = blk[half * 64 + l + (g & 1 ? 32 : 0)];
      const low = g >= 2 ? ql >> 4 : ql & 15;
      const qh = (blk[128 + half * 32 + l] >> (2 * g)) & 3;
      equal(got[e], f32(f32(d * sc[e >> 4]) * ((low | (qh << 4)) - 32)), `q6_k[${e}]`);
    }
  }
  // Q8_0 (dequantize_row_q8_0): y = q * d.
  const b8 = Uint8Array.from({ length: 34 }, () => Math.floor(r() * 256));
  new DataView(b8.buffer).setUint16(0, 0x3555, true);
  const b8b = rig.alloc(34, b8), y8 = rig.alloc(128);
  rig.run("get_rows.q8_0", [b8b, ids, y8, 32, 1]);
  for (let i = 0; i < rig.backends.length; i++) {
    const got = floats(rig, i, y8);
    for (let j = 0; j < 32; j++) equal(got[j], f32(((b8[2 + j] << 24) >> 24) * f16ToNumber(0x3555)), `q8_0[${j}]`);
  }
});

Deno.test("ggml's v_expf: scalar and 4-lane versions agree bit for bit and stay within 2 ulp of exp", async () => {
  // A standalone instance: v_expf_f32 / v_expf4_f32 are exports for this test, not kernels.
  const memory = new WebAssembly.Memory({ initial: 40, maximum: 65536, shared: true });
  const bytes = await Deno.readFile(new URL("./kernels.wasm", import.meta.url));
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const ex = instance.exports as Record<string, unknown>;
  const expf = ex.v_expf_f32 as (x: number) => number;
  const expf4 = ex.v_expf4_f32 as (x: number, n: number) => void;
  const base = (ex.__heap_base as WebAssembly.Global).value as number;
  const n = 200000;
  const xs = new Float32Array(memory.buffer, base, n + 16);
  for (let i = 0; i <= n; i++) xs[i] = f32(-110 + (200 * i) / n);
  const specials = [0, -0, Infinity, -Infinity, NaN, 88.3, 88.4, 89, -103.9, -104, -150, 1e30, -1e30, 1e-40];
  xs.set(specials, n + 1);
  const inputs = Float32Array.from(xs);
  const scalar = Array.from(inputs, (x) => expf(x));
  expf4(base, inputs.length);
  let worst = 0;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i], got = xs[i];
    ok(
      Object.is(got, scalar[i]) || (Number.isNaN(got) && Number.isNaN(scalar[i])),
      `v_expf4(${x}) = ${got} vs ${scalar[i]}`,
    );
    if (x > -87 && x < 88) worst = Math.max(worst, Math.abs(f32bits(got) - f32bits(f32(Math.exp(x)))));
  }
  ok(worst <= TOLERANCES.vExpf.ulps, `v_expf worst error ${worst} ulp`);
  equal(expf(0), 1);
  equal(expf(-Infinity), 0);
  equal(expf(Infinity), Infinity);
  ok(Number.isNaN(expf(NaN)));
  equal(expf(89), Infinity);
  equal(expf(-150), 0);
  equal(f32bits(expf(bitsf32(0x42b17217))), f32bits(expf(bitsf32(0x42b17217))));
});
