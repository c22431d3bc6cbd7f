/**
 * Both kernel backends (`ref`, plain TypeScript; `wasm`, kernels-wasm/) against the same independent f64
 * computations: every kernel of kernels-wasm/ABI.md on random inputs plus edge cases (all-zero blocks, large
 * magnitudes), with one tolerance table; activation quantizers must agree byte for byte across the backends; no
 * kernel's output may depend on the thread count; and whole models give the same logits on both backends. Weights
 * and activations are encoded/decoded with engine/quant, which is proven bit-exact with ggml in its own tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BackendKind, createBackend, type KernelBackend, type KernelId, RefBackend } from "./mod.ts";
import { fixtureModel } from "../synth/_testing.ts";
import { Engine } from "../engine.ts";
import { argmax } from "../sampling.ts";
import { Prng } from "../sampling.ts";
import { bf16ToF32Row, dequantizeQ8_0, dequantizeQ8K, f16ToF32Row, GgmlType, quantFormat } from "../quant/mod.ts";
import { ropeTable } from "../model/rope.ts";

/**
 * Relative tolerances against an f64 reference, as multiples of the sum of |terms| (f32 accumulation). Q6_K is
 * looser: ggml's x86 kernel subtracts the `-32` offset in other lanes than the products it belongs to, so lanes
 * carry large values that cancel only in f32 (llama.cpp computes the same rounding).
 */
const TOL = { dot: 2e-6, dotQ6K: 5e-5, elementwise: 1e-6, attention: 1e-5, modelCosine: 0.999 } as const;

function randn(rng: Prng, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.next(), 1e-12), v = rng.next();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

function ternaryWeights(rng: Prng, n: number, k: number, scale: number): Float32Array {
  const w = new Float32Array(n * k);
  for (let i = 0; i < w.length; i++) w[i] = (Math.floor(rng.next() * 3) - 1) * scale;
  w.fill(0, 0, 256); // an all-zero block (d = 0) in row 0
  return w;
}

function put(be: KernelBackend, data: Float32Array | Uint8Array | Int32Array): number {
  const ptr = be.alloc(data.byteLength);
  be.write(ptr, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return ptr;
}

function f32At(be: KernelBackend, ptr: number, n: number): Float32Array {
  return new Float32Array(be.hostBuffer!, ptr, n).slice();
}

function bytesAt(be: KernelBackend, ptr: number, n: number): Uint8Array {
  return new Uint8Array(be.hostBuffer!, ptr, n).slice();
}

function assertClose(got: Float32Array, want: Float64Array, scale: Float64Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(
      err <= tol * scale[i] + 1e-30,
      `${what}[${i}]: got ${got[i]}, want ${want[i]} (err ${err}, bound ${tol * scale[i]})`,
    );
  }
}

/** Dequantized activation rows for each activation format. */
function dequantActs(kind: string, bytes: Uint8Array, k: number, rows: number): Float64Array {
  const out = new Float64Array(k * rows);
  const tmp = new Float32Array(k);
  for (let r = 0; r < rows; r++) {
    if (kind === "q8_k") dequantizeQ8K(bytes.subarray(r * (k / 256) * 292, (r + 1) * (k / 256) * 292), tmp);
    else if (kind === "q8_0") dequantizeQ8_0(bytes.subarray(r * (k / 32) * 34, (r + 1) * (k / 32) * 34), tmp);
    else if (kind === "f16") f16ToF32Row(new Uint16Array(bytes.buffer, bytes.byteOffset + r * k * 2, k), tmp);
    else if (kind === "bf16") bf16ToF32Row(new Uint16Array(bytes.buffer, bytes.byteOffset + r * k * 2, k), tmp);
    else if (kind === "i8_s") {
      const dv = new DataView(bytes.buffer, bytes.byteOffset + r * (k + 16), k + 16);
      const s = dv.getFloat32(k, true);
      for (let j = 0; j < k; j++) tmp[j] = dv.getInt8(j) / s;
    }
    out.set(tmp, r * k);
  }
  return out;
}

const ACT: Record<string, { quant: KernelId; rowBytes: (k: number) => number }> = {
  q8_k: { quant: "quantize.q8_k", rowBytes: (k) => (k / 256) * 292 },
  q8_0: { quant: "quantize.q8_0", rowBytes: (k) => (k / 32) * 34 },
  f16: { quant: "quantize.f16", rowBytes: (k) => k * 2 },
  bf16: { quant: "quantize.bf16", rowBytes: (k) => k * 2 },
  i8_s: { quant: "quantize.i8_s", rowBytes: (k) => k + 16 },
};

const GEMMS: { id: KernelId; type: number; act: string; ternary: boolean }[] = [
  { id: "gemm.tq2_0_q8_k", type: GgmlType.TQ2_0, act: "q8_k", ternary: true },
  { id: "gemm.tq1_0_q8_k", type: GgmlType.TQ1_0, act: "q8_k", ternary: true },
  { id: "gemm.i2_s_i8_s", type: GgmlType.I2_S, act: "i8_s", ternary: true },
  { id: "gemm.q6_k_q8_k", type: GgmlType.Q6_K, act: "q8_k", ternary: false },
  { id: "gemm.q8_0_q8_0", type: GgmlType.Q8_0, act: "q8_0", ternary: false },
  { id: "gemm.f16_f16", type: GgmlType.F16, act: "f16", ternary: false },
  { id: "gemm.bf16_bf16", type: GgmlType.BF16, act: "bf16", ternary: false },
];

/** Run a gemm case on a backend; returns outputs and the f64 expectation from the same quantized inputs. */
function gemmCase(be: KernelBackend, g: (typeof GEMMS)[number], seed: number) {
  const rng = new Prng(seed);
  const n = 7, k = 512, t = 3;
  const wf = g.ternary ? ternaryWeights(rng, n, k, 0.037) : randn(rng, n * k, 0.05);
  const fmt = quantFormat(g.type);
  const wBytes = new Uint8Array((n * k / fmt.blockSize) * fmt.typeSize + fmt.tensorTailBytes);
  fmt.quantize(wf, wBytes);
  const x = randn(rng, t * k, 2);
  x.fill(0, k, k + 256); // an all-zero activation block in row 1
  x[2 * k + 5] = 3e4; // a large value in row 2
  const w = put(be, wBytes), xp = put(be, x);
  const xq = be.alloc(ACT[g.act].rowBytes(k) * t), y = be.alloc(n * t * 4);
  be.run(ACT[g.act].quant, xp, xq, k, t);
  be.run(g.id, w, xq, y, n, k, t);
  const wd = new Float32Array(n * k);
  fmt.dequantize(wBytes, wd);
  const xd = dequantActs(g.act, bytesAt(be, xq, ACT[g.act].rowBytes(k) * t), k, t);
  const want = new Float64Array(n * t), scale = new Float64Array(n * t);
  for (let tt = 0; tt < t; tt++) {
    for (let o = 0; o < n; o++) {
      let s = 0, a = 0;
      for (let j = 0; j < k; j++) {
        s += wd[o * k + j] * xd[tt * k + j];
        a += Math.abs(wd[o * k + j] * xd[tt * k + j]);
      }
      want[tt * n + o] = s;
      scale[tt * n + o] = a;
    }
  }
  return { got: f32At(be, y, n * t), want, scale };
}

const BACKENDS: BackendKind[] = ["ref", "wasm"];

for (const kind of BACKENDS) {
  for (const g of GEMMS) {
    Deno.test(`${kind} ${g.id} matches the f64 dot product of the dequantized operands`, async () => {
      using be = await createBackend(kind, { threads: 2 });
      const { got, want, scale } = gemmCase(be, g, 11);
      assertClose(got, want, scale, g.type === GgmlType.Q6_K ? TOL.dotQ6K : TOL.dot, g.id);
      assert.deepEqual(be.kernels().map((k) => k.split(".").slice(1, 3).join(".")), [ACT[g.act].quant, g.id]);
    });
  }

  Deno.test(`${kind} gemm.f32_f32 matches the f64 dot product`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(5);
    const n = 5, k = 96, t = 2;
    const w = randn(rng, n * k), x = randn(rng, t * k);
    const y = be.alloc(n * t * 4);
    be.run("gemm.f32_f32", put(be, w), put(be, x), y, n, k, t);
    const want = new Float64Array(n * t), scale = new Float64Array(n * t);
    for (let tt = 0; tt < t; tt++) {
      for (let o = 0; o < n; o++) {
        for (let j = 0; j < k; j++) {
          want[tt * n + o] += w[o * k + j] * x[tt * k + j];
          scale[tt * n + o] += Math.abs(w[o * k + j] * x[tt * k + j]);
        }
      }
    }
    assertClose(f32At(be, y, n * t), want, scale, TOL.dot, "gemm.f32_f32");
  });

  for (
    const [name, type] of [["f32", GgmlType.F32], ["f16", GgmlType.F16], ["bf16", GgmlType.BF16], [
      "q8_0",
      GgmlType.Q8_0,
    ], ["q6_k", GgmlType.Q6_K]] as const
  ) {
    Deno.test(`${kind} get_rows.${name} returns the dequantized rows of the requested ids`, async () => {
      using be = await createBackend(kind, { threads: 2 });
      const rng = new Prng(3);
      const v = 6, k = 256;
      const fmt = quantFormat(type);
      const bytes = new Uint8Array((v * k / fmt.blockSize) * fmt.typeSize);
      fmt.quantize(randn(rng, v * k), bytes);
      const all = new Float32Array(v * k);
      fmt.dequantize(bytes, all);
      const ids = Int32Array.from([4, 0, 4, 5]);
      const y = be.alloc(ids.length * k * 4);
      be.run(`get_rows.${name}` as KernelId, put(be, bytes), put(be, ids), y, k, ids.length);
      const got = f32At(be, y, ids.length * k);
      ids.forEach((id, r) => assert.deepEqual(got.subarray(r * k, (r + 1) * k), all.subarray(id * k, (id + 1) * k)));
    });
  }

  Deno.test(`${kind} rms_norm matches (x / sqrt(mean(x^2) + eps)) * w in f64`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(9);
    const k = 300, rows = 3, eps = 1e-5;
    const x = randn(rng, rows * k, 3), w = randn(rng, k);
    x.fill(0, 0, k); // an all-zero row: scale = 1/sqrt(eps), output 0
    const y = be.alloc(rows * k * 4);
    be.run("rms_norm", put(be, x), put(be, w), y, k, rows, eps);
    const want = new Float64Array(rows * k), scale = new Float64Array(rows * k);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let j = 0; j < k; j++) ss += x[r * k + j] ** 2;
      const s = 1 / Math.sqrt(ss / k + Math.fround(eps));
      for (let j = 0; j < k; j++) {
        want[r * k + j] = x[r * k + j] * s * w[j];
        scale[r * k + j] = Math.abs(want[r * k + j]) * 4;
      }
    }
    assertClose(f32At(be, y, rows * k), want, scale, TOL.elementwise, "rms_norm");
  });

  Deno.test(`${kind} rope.neox rotates pairs (i, i + R/2) by the table's angles`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(2);
    const t = 3, h = 2, d = 8, r = 6, pos0 = 5;
    const x = randn(rng, t * h * d);
    const cs = ropeTable(new Float32Array(t * r), { pos0, nRot: r, freqBase: 10000 });
    const xp = put(be, x);
    be.run("rope.neox", xp, put(be, cs), t, h, d, r);
    const got = f32At(be, xp, x.length);
    const want = new Float64Array(x), scale = new Float64Array(x.length).fill(4);
    for (let tt = 0; tt < t; tt++) {
      for (let hh = 0; hh < h; hh++) {
        const b = (tt * h + hh) * d;
        for (let j = 0; j < r / 2; j++) {
          const th = (pos0 + tt) * Math.pow(10000, -2 * j / r);
          const x0 = x[b + j], x1 = x[b + j + r / 2];
          want[b + j] = x0 * Math.cos(th) - x1 * Math.sin(th);
          want[b + j + r / 2] = x0 * Math.sin(th) + x1 * Math.cos(th);
        }
      }
    }
    // The table's repeated f32 products drift from the exact angles by a few ulps of theta.
    assertClose(got, want, scale, 1e-5, "rope.neox");
    for (let i = 0; i < x.length; i++) if (i % d >= r) assert.equal(got[i], x[i], "dims past R are untouched");
  });

  Deno.test(`${kind} rope.norm rotates adjacent pairs (2j, 2j + 1) by the table's angles`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(3);
    const t = 3, h = 2, d = 8, r = 6, pos0 = 5;
    const x = randn(rng, t * h * d);
    const cs = ropeTable(new Float32Array(t * r), { pos0, nRot: r, freqBase: 10000 });
    const xp = put(be, x);
    be.run("rope.norm", xp, put(be, cs), t, h, d, r);
    const got = f32At(be, xp, x.length);
    const want = new Float64Array(x), scale = new Float64Array(x.length).fill(4);
    for (let tt = 0; tt < t; tt++) {
      for (let hh = 0; hh < h; hh++) {
        const b = (tt * h + hh) * d;
        for (let j = 0; j < r / 2; j++) {
          const th = (pos0 + tt) * Math.pow(10000, -2 * j / r);
          const x0 = x[b + 2 * j], x1 = x[b + 2 * j + 1];
          want[b + 2 * j] = x0 * Math.cos(th) - x1 * Math.sin(th);
          want[b + 2 * j + 1] = x0 * Math.sin(th) + x1 * Math.cos(th);
        }
      }
    }
    assertClose(got, want, scale, 1e-5, "rope.norm");
    for (let i = 0; i < x.length; i++) if (i % d >= r) assert.equal(got[i], x[i], "dims past R are untouched");
  });

  Deno.test(`${kind} copy moves bytes inside the arena and refuses overlapping regions`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const src = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255);
    const x = put(be, src), y = be.alloc(1000);
    be.run("copy", x, y, 1000);
    assert.deepEqual(await be.read(y, 1000), src);
    assert.throws(() => be.run("copy", x, x + 4, 100), /overlap/);
  });

  Deno.test(`${kind} attention is causal softmax(q.k * scale) . v with GQA over the cache`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(4);
    const t = 3, pos0 = 4, h = 4, hk = 2, d = 8, nCtx = 10, scale = 1 / Math.sqrt(d);
    const kv = hk * d;
    const q = randn(rng, t * h * d), k = randn(rng, nCtx * kv), v = randn(rng, nCtx * kv);
    k.fill(1e6, (pos0 + t) * kv); // rows past the last position must be ignored
    const out = be.alloc(t * h * d * 4), scratch = be.alloc(nCtx * 4);
    be.run("attention", put(be, q), put(be, k), put(be, v), out, scratch, t, pos0, h, hk, d, nCtx, scale);
    const want = new Float64Array(t * h * d), bound = new Float64Array(t * h * d);
    for (let tt = 0; tt < t; tt++) {
      for (let hh = 0; hh < h; hh++) {
        const g = Math.floor(hh / (h / hk)), n = pos0 + tt + 1;
        const s = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          for (let dd = 0; dd < d; dd++) s[j] += q[(tt * h + hh) * d + dd] * k[j * kv + g * d + dd];
          s[j] *= scale;
        }
        const m = Math.max(...s);
        let z = 0;
        for (let j = 0; j < n; j++) z += s[j] = Math.exp(s[j] - m);
        for (let dd = 0; dd < d; dd++) {
          let acc = 0, abs = 0;
          for (let j = 0; j < n; j++) {
            acc += (s[j] / z) * v[j * kv + g * d + dd];
            abs += Math.abs((s[j] / z) * v[j * kv + g * d + dd]);
          }
          want[(tt * h + hh) * d + dd] = acc;
          bound[(tt * h + hh) * d + dd] = abs + 1;
        }
      }
    }
    assertClose(f32At(be, out, t * h * d), want, bound, TOL.attention, "attention");
  });

  Deno.test(`${kind} element-wise kernels: swiglu, relu2_glu, add, mul_scalar`, async () => {
    using be = await createBackend(kind, { threads: 2 });
    const rng = new Prng(8);
    const n = 100;
    const a = randn(rng, n, 4), b = randn(rng, n, 4), s = Float32Array.of(-1.75);
    const [pa, pb, ps, y] = [put(be, a), put(be, b), put(be, s), be.alloc(n * 4)];
    const check = (id: KernelId, args: number[], f: (i: number) => number) => {
      be.run(id, ...args);
      const want = Float64Array.from({ length: n }, (_, i) => f(i));
      assertClose(f32At(be, y, n), want, want.map((w) => Math.abs(w) * 4), TOL.elementwise, id);
    };
    check("swiglu", [pa, pb, y, n], (i) => (a[i] / (1 + Math.exp(-a[i]))) * b[i]);
    check("relu2_glu", [pa, pb, y, n], (i) => Math.max(a[i], 0) ** 2 * b[i]);
    check("add", [pa, pb, y, n], (i) => a[i] + b[i]);
    check("mul_scalar", [pa, ps, y, n], (i) => a[i] * s[0]);
  });

  Deno.test(`${kind} results do not depend on the thread count`, async () => {
    const outputs = async (threads: number): Promise<Float32Array[]> => {
      using be = await createBackend(kind, { threads });
      const res = GEMMS.map((g) => gemmCase(be, g, 21).got);
      const rng = new Prng(6);
      const t = 4, h = 4, hk = 1, d = 8, nCtx = 6;
      const q = put(be, randn(rng, t * h * d)),
        k = put(be, randn(rng, nCtx * hk * d)),
        v = put(be, randn(rng, nCtx * hk * d));
      const out = be.alloc(t * h * d * 4), scratch = be.alloc(threads * nCtx * 4);
      be.run("attention", q, k, v, out, scratch, t, 1, h, hk, d, nCtx, 0.3);
      res.push(f32At(be, out, t * h * d));
      return res;
    };
    const one = await outputs(1), three = await outputs(kind === "wasm" ? 2 : 3);
    one.forEach((o, i) => assert.deepEqual(three[i], o, `output ${i}`));
  });
}

Deno.test("ref and wasm quantize activations to the same bytes", async () => {
  using ref = await createBackend("ref");
  using wasm = await createBackend("wasm", { threads: 2 });
  const rng = new Prng(12);
  const k = 512, rows = 3;
  const x = randn(rng, rows * k, 3);
  x.fill(0, k, k + 256);
  x[5] = -7e4;
  for (const { quant, rowBytes } of Object.values(ACT)) {
    const bytes = [ref, wasm].map((be) => {
      const y = be.alloc(rowBytes(k) * rows);
      be.run(quant, put(be, x), y, k, rows);
      return bytesAt(be, y, rowBytes(k) * rows);
    });
    assert.deepEqual(bytes[1], bytes[0], quant);
  }
});

for (
  const spec of [{}, { type: "tq1_0", embedType: "q6_k" }, { type: "i2_s", embedType: "q8_0" }, {
    arch: "bitnet-b1.58",
    embedType: "bf16",
  }] as const
) {
  Deno.test(`ref and wasm give the same logits on a generated model (${JSON.stringify(spec)})`, async () => {
    const path = await fixtureModel(spec);
    using ref = await Engine.load(path, { backend: "ref", nCtx: 64, numerics: "exact" });
    using wasm = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 64, numerics: "exact" });
    const ids = ref.tokenize("The quick brown fox jumps over the lazy dog");
    const a = await ref.eval(ids), b = await wasm.eval(ids);
    let d = 0, x = 0, y = 0;
    for (let i = 0; i < a.length; i++) {
      d += a[i] * b[i];
      x += a[i] * a[i];
      y += b[i] * b[i];
    }
    const cos = d / Math.sqrt(x * y);
    assert.ok(cos >= TOL.modelCosine, `cosine ${cos} < ${TOL.modelCosine}`);
    assert.equal(argmax(b), argmax(a));
  });
}

Deno.test("RefBackend alloc returns aligned non-zero offsets and grows the arena; misuse fails with the fix", () => {
  const be = RefBackend.create({ initialBytes: 128 });
  const a = be.alloc(3), b = be.alloc(5000, 256);
  assert.ok(a > 0 && a % 64 === 0 && b % 256 === 0 && b >= a + 3);
  assert.ok(be.hostBuffer.byteLength >= b + 5000);
  assert.throws(() => be.run("add", 1, 2), /got 2 arguments, expected 4 \(a, b, y, n/);
  assert.throws(() => be.run("nope" as KernelId), /Cannot run kernel "nope" on the ref backend: unknown id/);
  be.close();
  assert.throws(() => be.alloc(4), /closed ref backend/);
  assert.throws(() => RefBackend.create({ threads: 0 }), /threads=0 .* pass an integer from 1 to 256/);
});
