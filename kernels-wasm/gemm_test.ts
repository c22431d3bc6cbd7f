/**
 * Matrix-product kernels: every SIMD kernel (relaxed and SIMD128 modules, 1 and 2 threads) against its scalar
 * twin, byte for byte, on random and edge-case inputs; plus small cases checked against a direct formula.
 */

import { equal, ok } from "node:assert/strict";
import { assertSameBytes, type Buf, gauss, largestTernarySums, q8kRef, randomF16, Rig, rint, rng } from "./_testing.ts";
import type { KernelId } from "./mod.ts";

const f32 = Math.fround;

type WeightKind = "tq2_0" | "tq1_0" | "q6_k" | "q8_0" | "f16" | "bf16" | "f32" | "i2_s";

interface Kind {
  gemm: KernelId;
  /** Activation quantizer (none for f32). */
  quant?: KernelId;
  /** K granularity. */
  qk: number;
  /** Weight bytes for n rows of K. */
  wBytes: (n: number, k: number) => number;
  /** Activation bytes for n rows of K. */
  xBytes: (n: number, k: number) => number;
  /** Random weights. */
  weights: (r: () => number, n: number, k: number) => Uint8Array;
}

function blocks(
  r: () => number,
  n: number,
  k: number,
  qk: number,
  size: number,
  fill: (b: DataView, r: () => number) => void,
) {
  const out = new Uint8Array(n * (k / qk) * size);
  for (let i = 0; i < n * (k / qk); i++) fill(new DataView(out.buffer, i * size, size), r);
  return out;
}

function randomBytes(b: DataView, r: () => number, from: number, to: number) {
  for (let i = from; i < to; i++) b.setUint8(i, Math.floor(r() * 256));
}

/** Ternary code bytes (codes 0..2; every 16th byte fully random so code 3 is covered too). */
function ternaryBytes(b: DataView, r: () => number, from: number, to: number) {
  for (let i = from; i < to; i++) {
    let v = 0;
    for (let j = 0; j < 4; j++) v |= Math.floor(r() * 3) << (2 * j);
    b.setUint8(i, r() < 1 / 16 ? Math.floor(r() * 256) : v);
  }
}

const KINDS: Record<WeightKind, Kind> = {
  tq2_0: {
    gemm: "gemm.tq2_0_q8_k",
    quant: "quantize.q8_k",
    qk: 256,
    wBytes: (n, k) => n * (k / 256) * 66,
    xBytes: (n, k) => n * (k / 256) * 292,
    weights: (r, n, k) =>
      blocks(r, n, k, 256, 66, (b, r) => {
        ternaryBytes(b, r, 0, 64);
        b.setUint16(64, r() < 0.05 ? 0 : randomF16(r, 0.05), true);
      }),
  },
  tq1_0: {
    gemm: "gemm.tq1_0_q8_k",
    quant: "quantize.q8_k",
    qk: 256,
    wBytes: (n, k) => n * (k / 256) * 54,
    xBytes: (n, k) => n * (k / 256) * 292,
    weights: (r, n, k) =>
      blocks(r, n, k, 256, 54, (b, r) => {
        randomBytes(b, r, 0, 52);
        b.setUint16(52, randomF16(r, 0.05), true);
      }),
  },
  q6_k: {
    gemm: "gemm.q6_k_q8_k",
    quant: "quantize.q8_k",
    qk: 256,
    wBytes: (n, k) => n * (k / 256) * 210,
    xBytes: (n, k) => n * (k / 256) * 292,
    weights: (r, n, k) =>
      blocks(r, n, k, 256, 210, (b, r) => {
        randomBytes(b, r, 0, 208);
        b.setUint16(208, randomF16(r, 0.01), true);
      }),
  },
  q8_0: {
    gemm: "gemm.q8_0_q8_0",
    quant: "quantize.q8_0",
    qk: 32,
    wBytes: (n, k) => n * (k / 32) * 34,
    xBytes: (n, k) => n * (k / 32) * 34,
    weights: (r, n, k) =>
      blocks(r, n, k, 32, 34, (b, r) => {
        b.setUint16(0, randomF16(r, 0.01), true);
        randomBytes(b, r, 2, 34);
      }),
  },
  f16: {
    gemm: "gemm.f16_f16",
    quant: "quantize.f16",
    qk: 1,
    wBytes: (n, k) => n * k * 2,
    xBytes: (n, k) => n * k * 2,
    weights: (r, n, k) => new Uint8Array(Uint16Array.from({ length: n * k }, () => randomF16(r, 0.05)).buffer),
  },
  bf16: {
    gemm: "gemm.bf16_bf16",
    quant: "quantize.bf16",
    qk: 1,
    wBytes: (n, k) => n * k * 2,
    xBytes: (n, k) => n * k * 2,
    weights: (r, n, k) => {
      const f = Float32Array.from({ length: n * k }, () => gauss(r) * 0.05);
      const u = new Uint32Array(f.buffer);
      return new Uint8Array(Uint16Array.from(u, (v) => v >>> 16).buffer);
    },
  },
  f32: {
    gemm: "gemm.f32_f32",
    qk: 1,
    wBytes: (n, k) => n * k * 4,
    xBytes: (n, k) => n * k * 4,
    weights: (r, n, k) => new Uint8Array(Float32Array.from({ length: n * k }, () => gauss(r) * 0.05).buffer),
  },
  i2_s: {
    gemm: "gemm.i2_s_i8_s",
    quant: "quantize.i8_s",
    qk: 128,
    wBytes: (n, k) => (n * k) / 4 + 32,
    xBytes: (n, k) => n * (k + 16),
    weights: (r, n, k) => {
      const out = new Uint8Array((n * k) / 4 + 32);
      ternaryBytes(new DataView(out.buffer), r, 0, (n * k) / 4);
      new DataView(out.buffer).setFloat32((n * k) / 4, 0.0123 + r(), true);
      return out;
    },
  },
};

/** Activation rows: random with, per row, a zero block, a max-magnitude block and a tiny block. */
function activations(r: () => number, n: number, k: number): Float32Array {
  const x = Float32Array.from({ length: n * k }, () => gauss(r));
  for (let t = 0; t < n; t++) {
    const row = x.subarray(t * k, (t + 1) * k);
    const b = Math.min(256, k);
    const pick = (i: number) => row.subarray(((i * 37) % Math.max(1, Math.floor(k / b))) * b).subarray(0, b);
    if (t % 3 === 1) pick(t).fill(0);
    if (t % 3 === 2) pick(t + 1).forEach((_, i, a) => (a[i] = i % 2 ? 1e4 : -1e4));
    if (t % 4 === 3) pick(t + 2).forEach((_, i, a) => (a[i] = (i % 3 - 1) * 1e-30));
  }
  return x;
}

/** Writes weights and quantized activations; returns the buffers. */
function setup(rig: Rig, kind: Kind, r: () => number, nOut: number, k: number, nTok: number) {
  const w = rig.alloc(kind.wBytes(nOut, k), kind.weights(r, nOut, k));
  const xf = rig.alloc(4 * nTok * k, activations(r, nTok, k));
  let xq: Buf = xf;
  if (kind.quant) {
    xq = rig.alloc(kind.xBytes(nTok, k));
    rig.run(kind.quant, [xf, xq, k, nTok]);
  }
  return { w, xq };
}

Deno.test("gemm kernels equal their scalar twins on every backend, shape and thread count", async (t) => {
  using rig = await Rig.standard();
  const r = rng(1234);
  for (const [name, kind] of Object.entries(KINDS)) {
    await t.step(name, () => {
      const ks = kind.qk === 1 ? [1, 7, 8, 9, 40, 64, 96, 100, 200] : [kind.qk, 2 * kind.qk, 3 * kind.qk];
      for (const k of ks) {
        for (const nOut of [1, 3, 4, 5, 13, 67]) {
          for (let nTok = 1; nTok <= 9; nTok++) {
            if (nTok > 3 && nTok < 9 && nOut !== 13) continue; // every n_tok on one shape, 1-3 and 9 on all
            const { w, xq } = setup(rig, kind, r, nOut, k, nTok);
            const y = rig.alloc(4 * nOut * nTok);
            const yRef = rig.alloc(4 * nOut * nTok);
            rig.runBoth(kind.gemm, [w, xq], y, yRef, [nOut, k, nTok]);
            assertSameBytes(rig, y, yRef, `${kind.gemm} n_out=${nOut} K=${k} n_tok=${nTok}`);
          }
        }
      }
    });
  }
  await t.step("many row chunks (GEMV 1031 x 1024 and GEMM 131 x 8 tokens) for tq2_0, i2_s and f16", () => {
    for (const name of ["tq2_0", "i2_s", "f16"] as const) {
      const kind = KINDS[name];
      for (const [nOut, nTok] of [[1031, 1], [131, 8]]) {
        const { w, xq } = setup(rig, kind, r, nOut, 1024, nTok);
        const y = rig.alloc(4 * nOut * nTok);
        const yRef = rig.alloc(4 * nOut * nTok);
        rig.runBoth(kind.gemm, [w, xq], y, yRef, [nOut, 1024, nTok]);
        assertSameBytes(rig, y, yRef, `${kind.gemm} n_out=${nOut} n_tok=${nTok}`);
      }
    }
  });
  await t.step("the largest integer sums: every code 3 (a corrupt file), activations at -127 and +127", () => {
    for (const [nOut, nTok] of [[3, 1], [5, 9]]) {
      const { w, xq, k } = largestTernarySums(rig, nOut, nTok);
      const y = rig.alloc(4 * nOut * nTok), yRef = rig.alloc(4 * nOut * nTok);
      rig.runBoth("gemm.tq2_0_q8_k", [w, xq], y, yRef, [nOut, k, nTok]);
      assertSameBytes(rig, y, yRef, `gemm.tq2_0_q8_k all codes 3 n_out=${nOut} n_tok=${nTok}`);
    }
  });
  await t.step("rejects K that is not a multiple of the block size, naming the kernel", () => {
    const b = rig.backends[0];
    const p = b.alloc(4096);
    let msg = "";
    try {
      b.run("gemm.tq2_0_q8_k", p, p, p, 1, 100, 1);
    } catch (e) {
      msg = String(e);
    }
    ok(/gemm\.tq2_0_q8_k: K = 100 is not a multiple of the block size 256/.test(msg), msg);
  });
});

Deno.test("gemm.tq2_0_q8_k equals ggml's x86 formula (8 integer lanes, FMA float lanes) on a hand-built row", async () => {
  using rig = await Rig.standard();
  const r = rng(7);
  const k = 512;
  // Weights: ternary values t[e] in {-1, 0, 1} with code t+1 at byte (e>>7)*32 + (e&31), shift 2*((e&127)>>5).
  const tern = Int8Array.from({ length: k }, () => Math.floor(r() * 3) - 1);
  const dHalf = [0x2e66, 0x1400]; // 0.1, and a small normal
  const w = new Uint8Array(2 * 66);
  for (let e = 0; e < k; e++) {
    const b = e >> 8, i = e & 255;
    w[b * 66 + (i >> 7) * 32 + (i & 31)] |= (tern[e] + 1) << (2 * ((i & 127) >> 5));
  }
  new DataView(w.buffer).setUint16(64, dHalf[0], true);
  new DataView(w.buffer).setUint16(66 + 64, dHalf[1], true);
  const x = Float32Array.from({ length: k }, () => gauss(r));
  // ggml-cpu/arch/x86/quants.c ggml_vec_dot_tq2_0_q8_K (AVX2): integer lane p of a block sums code*q over the
  // elements with (e % 32) >> 2 == p, minus the bsums of elements 32p..32p+31; float lane p = fma(lane, d, acc)
  // with one rounding (computed exactly in float64 here); hsum_float_8 at the end.
  const acc = new Float32Array(8);
  for (let b = 0; b < 2; b++) {
    const { d, q, bsums } = q8kRef(x.subarray(256 * b, 256 * b + 256));
    const wd = b === 0 ? 0.0999755859375 : 2 ** -10;
    const db = f32(d * wd);
    for (let p = 0; p < 8; p++) {
      let s = -bsums[2 * p] - bsums[2 * p + 1];
      for (let e = 0; e < 256; e++) if (((e % 32) >> 2) === p) s += q[e] * (tern[256 * b + e] + 1);
      acc[p] = f32(s * db + acc[p]);
    }
  }
  const want = f32(f32(f32(acc[4] + acc[0]) + f32(acc[6] + acc[2])) + f32(f32(acc[5] + acc[1]) + f32(acc[7] + acc[3])));
  const wb = rig.alloc(w.length, w);
  const xb = rig.alloc(4 * k, x);
  const xq = rig.alloc(2 * 292);
  rig.run("quantize.q8_k", [xb, xq, k, 1]);
  const y = rig.alloc(4);
  rig.run("gemm.tq2_0_q8_k", [wb, xq, y, 1, k, 1]);
  for (let i = 0; i < rig.backends.length; i++) {
    equal(new DataView(rig.read(y, i).buffer).getFloat32(0, true), want, rig.labels[i]);
  }
});

Deno.test("gemm.f16_f16 and gemm.i2_s_i8_s match float64 formulas on small inputs", async () => {
  using rig = await Rig.standard();
  // F16: w = [1, -2, 0.5, subnormal 2^-24, ...], x = [3, 0.25, -4, 2^10, ...]: every product and sum is exact.
  const w16 = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x0001, 0x4400, 0x0000, 0xbc00, 0x3c00, 0x4000]);
  const x16 = Uint16Array.from([0x4200, 0x3400, 0xc400, 0x6400, 0x3c00, 0x7bff, 0x3c00, 0x0000, 0xbc00]);
  const want = 1 * 3 + -2 * 0.25 + 0.5 * -4 + 2 ** -24 * 1024 + 4 * 1 + 0 * 65504 + -1 * 1 + 1 * 0 + 2 * -1;
  const wb = rig.alloc(18, w16), xb = rig.alloc(18, x16), y = rig.alloc(4);
  rig.run("gemm.f16_f16", [wb, xb, y, 1, 9, 1]);
  for (let i = 0; i < rig.backends.length; i++) {
    equal(new DataView(rig.read(y, i).buffer).getFloat32(0, true), want, rig.labels[i]);
  }
  // I2_S: one row of 128 codes (all +1 = code 2) against q = 1..128 clamped, scale 0.5; act_scale from
  // x = 1..128 (max 128 -> s = 127/128).
  const k = 128;
  const w = new Uint8Array(k / 4 + 32).fill(0b10101010, 0, k / 4);
  new DataView(w.buffer).setFloat32(k / 4, 0.5, true);
  const x = Float32Array.from({ length: k }, (_, i) => i + 1);
  const wi = rig.alloc(w.length, w), xf = rig.alloc(4 * k, x), xq = rig.alloc(k + 16), yi = rig.alloc(4);
  rig.run("quantize.i8_s", [xf, xq, k, 1]);
  rig.run("gemm.i2_s_i8_s", [wi, xq, yi, 1, k, 1]);
  const s = Math.fround(127 / 128);
  let sumq = 0;
  for (let i = 1; i <= k; i++) {
    sumq += rint(Math.fround(i * s));
  }
  // sum(code*q) - sum(q) = sum(q) for all-(+1) weights.
  const wantI2 = Math.fround(Math.fround(sumq / s) * 0.5);
  for (let i = 0; i < rig.backends.length; i++) {
    equal(new DataView(rig.read(yi, i).buffer).getFloat32(0, true), wantI2, rig.labels[i]);
  }
});
