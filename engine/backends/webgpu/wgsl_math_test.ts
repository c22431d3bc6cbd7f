import { deepEqual as assertEquals } from "node:assert/strict";
import { f16BitsToF32Bits, f32BitsToBf16Bits, f32BitsToF16Bits } from "../../quant/fp16.ts";
import { vExpf } from "../ggml_order.ts";
import { evalWgsl, Rand, testDevice } from "./_testing.ts";
import type { WgslMathOptions } from "./wgsl_math.ts";

const EMU: WgslMathOptions = { fusedFma: false, dot4: true };
const f = new Float32Array(1), u = new Uint32Array(f.buffer);
const bitsOf = (x: number): number => (f[0] = x, u[0]);
const valOf = (b: number): number => (u[0] = b, f[0]);

/** Random finite f32 bit patterns with exponents spread over `[emin, emax]` (biased), both signs. */
function finiteBits(r: Rand, n: number, emin = 1, emax = 254): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const e = emin + r.int(emax - emin + 1);
    a[i] = ((r.int(2) << 31) | (e << 23) | r.int(1 << 23)) >>> 0;
  }
  return a;
}

/** a * b + c rounded once to f32 (exact product in f64, round to odd at 53 bits, then to nearest f32). */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b, s = p + c;
  const bb = s - p, err = (p - (s - bb)) + (c - bb);
  if (err === 0 || !Number.isFinite(s)) return Math.fround(s);
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, s);
  const bits = dv.getBigUint64(0);
  if ((bits & 1n) === 1n) return Math.fround(s);
  dv.setBigUint64(0, (err > 0) === (s > 0) ? bits + 1n : bits - 1n);
  return Math.fround(dv.getFloat64(0));
}

function mismatches(got: Uint32Array, want: (i: number) => number, label: (i: number) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < got.length && out.length < 5; i++) {
    const w = want(i) >>> 0;
    if (got[i] !== w) out.push(`${label(i)}: got 0x${got[i].toString(16)}, want 0x${w.toString(16)}`);
  }
  return out;
}

Deno.test("div_rn() is correctly rounded, subnormal inputs and results included", async () => {
  const dev = await testDevice(), r = new Rand(1), n = 60_000;
  const a = finiteBits(r, n, 0, 254), b = finiteBits(r, n, 0, 254);
  // Quotients near 1 with subnormal/huge operands, and exact halves.
  for (let i = 0; i < 2000; i++) b[i] = (a[i] + r.int(64) - 32) >>> 0;
  const got = await evalWgsl(dev, EMU, "bitcast<u32>(div_rn(a, b))", [a, b]);
  assertEquals(
    mismatches(got, (i) => bitsOf(Math.fround(valOf(a[i]) / valOf(b[i]))), (i) => `${valOf(a[i])}/${valOf(b[i])}`),
    [],
  );
});

Deno.test("sqrt_rn() is correctly rounded for every exponent", async () => {
  const dev = await testDevice(), r = new Rand(2);
  const a = finiteBits(r, 50_000, 0, 254).map((x) => x & 0x7fffffff);
  const got = await evalWgsl(dev, EMU, "bitcast<u32>(sqrt_rn(a))", [a]);
  assertEquals(mismatches(got, (i) => bitsOf(Math.fround(Math.sqrt(valOf(a[i])))), (i) => `sqrt(${valOf(a[i])})`), []);
});

Deno.test("fma_emu() rounds a*b+c once, also under cancellation and near ties", async () => {
  const dev = await testDevice(), r = new Rand(3), n = 60_000;
  const a = finiteBits(r, n, 90, 160), b = finiteBits(r, n, 90, 160), c = finiteBits(r, n, 60, 190);
  for (let i = 0; i < n / 2; i++) {
    // c close to -(a*b): the result is the rounding error of the product (plus a nudge).
    const p = Math.fround(valOf(a[i]) * valOf(b[i]));
    c[i] = bitsOf(-p) + (i % 3) - 1;
  }
  const got = await evalWgsl(dev, EMU, "bitcast<u32>(fma_emu(a, b, c))", [a, b, c]);
  assertEquals(
    mismatches(got, (i) => bitsOf(fmaF32(valOf(a[i]), valOf(b[i]), valOf(c[i]))), (i) => `fma #${i}`),
    [],
  );
});

Deno.test("fma_x() is the device's fused fma or the emulation, both exact", async () => {
  const dev = await testDevice(), r = new Rand(4), n = 20_000;
  const a = finiteBits(r, n, 100, 150), b = finiteBits(r, n, 100, 150), c = finiteBits(r, n, 100, 150);
  const got = await evalWgsl(dev, { fusedFma: dev.probe.fusedFma, dot4: true }, "bitcast<u32>(fma_x(a, b, c))", [
    a,
    b,
    c,
  ]);
  assertEquals(mismatches(got, (i) => bitsOf(fmaF32(valOf(a[i]), valOf(b[i]), valOf(c[i]))), (i) => `#${i}`), []);
});

Deno.test("f16 and bf16 conversions match ggml's for every f16 pattern and random f32", async () => {
  const dev = await testDevice(), r = new Rand(5);
  const h = Uint32Array.from({ length: 65536 }, (_, i) => i);
  const back = await evalWgsl(dev, EMU, "bitcast<u32>(f16_to_f32(ua))", [h]);
  assertEquals(mismatches(back, (i) => f16BitsToF32Bits(i), (i) => `f16 0x${i.toString(16)}`), []);
  const x = finiteBits(r, 60_000, 90, 160);
  for (let i = 0; i < 1000; i++) x[i] = bitsOf((r.int(2) ? 1 : -1) * (r.next() + 0.5) * 2 ** (r.int(40) - 28));
  const half = await evalWgsl(dev, EMU, "f32_to_f16(ua)", [x]);
  assertEquals(mismatches(half, (i) => f32BitsToF16Bits(x[i]), (i) => `f16(${valOf(x[i])})`), []);
  const bf = await evalWgsl(dev, EMU, "f32_to_bf16(ua)", [x]);
  assertEquals(mismatches(bf, (i) => f32BitsToBf16Bits(x[i]), (i) => `bf16(${valOf(x[i])})`), []);
});

Deno.test("i32_to_f32_rn() rounds to nearest even beyond 2^24; nearest_int() is ggml's", async () => {
  const dev = await testDevice(), r = new Rand(6), n = 20_000;
  const v = Uint32Array.from({ length: n }, (_, i) => i < 100 ? (2 ** 24 + 2 * i + 1) >>> 0 : r.int(2 ** 32));
  const got = await evalWgsl(dev, EMU, "bitcast<u32>(i32_to_f32_rn(bitcast<i32>(ua)))", [v]);
  assertEquals(mismatches(got, (i) => bitsOf(Math.fround(v[i] | 0)), (i) => `${v[i] | 0}`), []);
  const x = Uint32Array.from({ length: n }, (_, i) => bitsOf((r.next() - 0.5) * 300 + (i % 7 === 0 ? 0.5 : 0)));
  const q = await evalWgsl(dev, EMU, "bitcast<u32>(nearest_int(a))", [x]);
  const rne = (t: number) => {
    const fl = Math.floor(t), d = t - fl;
    return d > 0.5 || (d === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
  };
  assertEquals(mismatches(q, (i) => rne(valOf(x[i])), (i) => `nearest_int(${valOf(x[i])})`), []);
});

Deno.test("v_expf() is ggml's AVX-512 expf, overflow and underflow included", async () => {
  const dev = await testDevice(), r = new Rand(7), n = 40_000;
  const x = Uint32Array.from({ length: n }, (_, i) => bitsOf(i < 200 ? -110 + i * 1.1 : (r.next() - 0.7) * 40));
  const got = await evalWgsl(dev, EMU, "bitcast<u32>(v_expf(a))", [x]);
  assertEquals(mismatches(got, (i) => bitsOf(vExpf(valOf(x[i]))), (i) => `v_expf(${valOf(x[i])})`), []);
});

Deno.test("dd_div_int() and dd_recip() round an f32 pair's exact sum once", async () => {
  const dev = await testDevice(), r = new Rand(8), n = 20_000;
  const hi = new Uint32Array(n), lo = new Uint32Array(n), k = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h = Math.fround((r.next() + 0.01) * 2 ** (r.int(30) - 5));
    hi[i] = bitsOf(h);
    lo[i] = bitsOf(Math.fround((r.next() - 0.5) * h * 2 ** -24));
    k[i] = 1 + r.int(8000);
  }
  const mean = await evalWgsl(dev, EMU, "bitcast<u32>(dd_div_int(vec2<f32>(a, b), f32(uc)))", [hi, lo, k]);
  assertEquals(
    mismatches(mean, (i) => bitsOf(Math.fround((valOf(hi[i]) + valOf(lo[i])) / k[i])), (i) => `mean #${i}`),
    [],
  );
  const inv = await evalWgsl(dev, EMU, "bitcast<u32>(dd_recip(vec2<f32>(a, b)))", [hi, lo]);
  assertEquals(mismatches(inv, (i) => bitsOf(Math.fround(1 / (valOf(hi[i]) + valOf(lo[i])))), (i) => `inv #${i}`), []);
});
