/**
 * Activation quantizers: SIMD kernels against their scalar twins on every backend, and against formulas
 * written here from the ggml / bitnet.cpp sources (exact equality: these are integer and rounding rules).
 */

import { equal } from "node:assert/strict";
import { assertSameBytes, f32bits, gauss, numberToF16, q8kRef, Rig, rint, rng } from "./_testing.ts";

/** Rows with edge cases: zeros, a signed-max tie (-m before +m), huge, tiny, subnormal, ties after scaling. */
function edgeRows(r: () => number, n: number, k: number): Float32Array {
  const x = Float32Array.from({ length: n * k }, () => gauss(r) * (r() < 0.1 ? 1e3 : 1));
  for (let t = 0; t < n; t++) {
    const row = x.subarray(t * k, (t + 1) * k);
    switch (t % 6) {
      case 1:
        row.fill(0);
        break;
      case 2:
        row[0] = -5;
        row[k - 1] = 5; // |max| tie: the first occurrence (-5) sets the sign
        break;
      case 3:
        row.forEach((_, i) => (row[i] = i % 2 ? 3e38 : -3e38));
        break;
      case 4:
        row.forEach((_, i) => (row[i] = (i % 7) * 1e-40)); // subnormal f32
        break;
      case 5:
        // 127 at the max, so x * 127/max hits exact .5 ties for odd halves.
        row.forEach((_, i) => (row[i] = i === 0 ? 127 : ((i % 255) - 127) + 0.5));
        break;
    }
  }
  return x;
}

Deno.test("quantizers equal their scalar twins on every backend (tails, zeros, extremes, ties)", async (t) => {
  using rig = await Rig.standard();
  const r = rng(99);
  const cases: [string, number[], (n: number, k: number) => number][] = [
    ["quantize.q8_k", [256, 512, 1280], (n, k) => n * (k / 256) * 292],
    ["quantize.q8_0", [32, 64, 96, 2560], (n, k) => n * (k / 32) * 34],
    ["quantize.f16", [1, 7, 8, 9, 100, 4097], (n, k) => n * k * 2],
    ["quantize.bf16", [1, 7, 8, 9, 100, 4097], (n, k) => n * k * 2],
    ["quantize.i8_s", [1, 15, 16, 17, 128, 2560], (n, k) => n * (k + 16)],
  ];
  for (const [id, ks, bytes] of cases) {
    await t.step(id, () => {
      for (const k of ks) {
        for (const n of [1, 6, 7]) {
          const x = rig.alloc(4 * n * k, edgeRows(r, n, k));
          const y = rig.alloc(bytes(n, k)), yRef = rig.alloc(bytes(n, k));
          rig.runBoth(id as "quantize.q8_k", [x], y, yRef, [k, n]);
          assertSameBytes(rig, y, yRef, `${id} K=${k} n_rows=${n}`);
        }
      }
    });
  }
});

Deno.test("quantize.q8_k equals quantize_row_q8_K_ref written in TypeScript", async () => {
  using rig = await Rig.standard();
  const r = rng(5);
  const k = 1024, n = 6;
  const x = edgeRows(r, n, k);
  const xb = rig.alloc(4 * n * k, x), y = rig.alloc(n * 4 * 292);
  rig.run("quantize.q8_k", [xb, y, k, n]);
  for (let i = 0; i < rig.backends.length; i++) {
    const dv = new DataView(rig.read(y, i).buffer);
    for (let b = 0; b < n * 4; b++) {
      const want = q8kRef(x.subarray(256 * b, 256 * b + 256));
      const o = b * 292;
      equal(dv.getFloat32(o, true), want.d, `${rig.labels[i]} block ${b} d`);
      for (let j = 0; j < 256; j++) equal(dv.getInt8(o + 4 + j), want.q[j], `${rig.labels[i]} block ${b} q[${j}]`);
      for (let j = 0; j < 16; j++) equal(dv.getInt16(o + 260 + 2 * j, true), want.bsums[j], `block ${b} bsums[${j}]`);
    }
  }
});

Deno.test("quantize.q8_0 and quantize.i8_s equal their reference formulas", async () => {
  using rig = await Rig.standard();
  const r = rng(6);
  const k = 256, n = 6;
  const x = edgeRows(r, n, k);
  const xb = rig.alloc(4 * n * k, x);
  const q0 = rig.alloc(n * 8 * 34), qs = rig.alloc(n * (k + 16));
  rig.run("quantize.q8_0", [xb, q0, k, n]);
  rig.run("quantize.i8_s", [xb, qs, k, n]);
  for (let i = 0; i < rig.backends.length; i++) {
    const d0 = new DataView(rig.read(q0, i).buffer), ds = new DataView(rig.read(qs, i).buffer);
    // Q8_0, ggml-cpu/arch/x86/quants.c:302-345: d = max/127 (f16), q = rint(x * (127/max)).
    for (let b = 0; b < n * 8; b++) {
      const xs = x.subarray(32 * b, 32 * b + 32);
      const amax = Math.max(...Array.from(xs, Math.abs));
      equal(d0.getUint16(34 * b, true), numberToF16(Math.fround(amax / 127)), `Q8_0 block ${b} d`);
      const id = amax ? Math.fround(127 / amax) : 0;
      for (let j = 0; j < 32; j++) {
        // cvtps2dq turns NaN and out-of-range values into 0x80000000, which packs to -128.
        const v = Math.fround(xs[j] * id);
        const q = Math.abs(v) < 2 ** 31 ? Math.max(-128, Math.min(127, rint(v))) : -128;
        equal(d0.getInt8(34 * b + 2 + j), q, `Q8_0 ${b}/${j}`);
      }
    }
    // I8_S, bitnet.cpp quantize_row_i8_s: s = f32(127 / max(1e-5, max|x|)), q = clamp(rint(x * s)), sum.
    for (let t = 0; t < n; t++) {
      const xs = x.subarray(t * k, (t + 1) * k);
      const s = Math.fround(127 / Math.max(1e-5, ...Array.from(xs, Math.abs)));
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const q = Math.max(-128, Math.min(127, rint(Math.fround(xs[j] * s))));
        sum += q;
        equal(ds.getInt8(t * (k + 16) + j), q, `I8_S row ${t} q[${j}]`);
      }
      equal(ds.getFloat32(t * (k + 16) + k, true), s, `I8_S row ${t} scale`);
      equal(ds.getInt32(t * (k + 16) + k + 4, true), sum, `I8_S row ${t} sum`);
    }
  }
});

Deno.test("quantize.f16 rounds to nearest even at every f16 boundary; quantize.bf16 matches ggml", async () => {
  using rig = await Rig.standard();
  // Every finite f16 value, the midpoints to its neighbours (ties), one f32 ulp either side, and specials.
  const vals: number[] = [];
  const f16 = (h: number) => {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
    return s * (e ? (1 + m / 1024) * 2 ** (e - 15) : m * 2 ** -24);
  };
  for (let h = 0; h < 0x7c00; h += 1) {
    const a = f16(h), b = f16(h + 1 === 0x7c00 ? h : h + 1);
    const mid = (a + (h + 1 === 0x7c00 ? 65520 : b)) / 2;
    for (const v of [a, mid, Math.fround(mid), mid * (1 + 2 ** -23), mid * (1 - 2 ** -23)]) {
      vals.push(Math.fround(v), -Math.fround(v));
    }
  }
  vals.push(Infinity, -Infinity, NaN, 3e38, -3e38, 1e-45, -1e-45, 65519.99, 65520, 2 ** -25, 2 ** -25 * 1.0000001);
  const x = Float32Array.from(vals);
  const xb = rig.alloc(4 * x.length, x), yh = rig.alloc(2 * x.length), yb = rig.alloc(2 * x.length);
  rig.run("quantize.f16", [xb, yh, x.length, 1]);
  rig.run("quantize.bf16", [xb, yb, x.length, 1]);
  for (let i = 0; i < rig.backends.length; i++) {
    const h = new Uint16Array(rig.read(yh, i).buffer), b = new Uint16Array(rig.read(yb, i).buffer);
    for (let j = 0; j < x.length; j++) {
      equal(h[j], numberToF16(x[j]), `${rig.labels[i]} f16 of ${x[j]}`);
      // ggml-impl.h ggml_compute_fp32_to_bf16: NaN -> quiet, else round half to even on the top 16 bits.
      const u = f32bits(x[j]);
      const want = (u & 0x7fffffff) > 0x7f800000
        ? (u >>> 16) | 64
        : ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
      equal(b[j], want, `${rig.labels[i]} bf16 of ${x[j]}`);
    }
  }
});
