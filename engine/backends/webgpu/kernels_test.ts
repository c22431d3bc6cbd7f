/**
 * Every WGSL kernel against its reference twin (`engine/backends/ref.ts`) on the same inputs: random data plus
 * edges (block tails, all-zero blocks, extreme magnitudes, subnormal scales, unaligned rows and pointers, token
 * tiles that do not divide the batch, more (token, head) pairs than attention workgroups). Quantizers and integer
 * kernels must match byte for byte; float kernels are compared in ulps against the tolerance rows of the WebGPU
 * block in `engine/backends/tolerances.ts` (ggml's float order is kept, so the rows are near zero).
 *
 * Runs on Mesa llvmpipe where there is no GPU.
 */

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { TOLERANCES } from "../tolerances.ts";
import { KERNEL_IDS, type KernelId } from "../kernel_table.ts";
import { GPU_KERNELS } from "./kernels.ts";
import { f32ToBf16, f32ToF16 } from "../../quant/fp16.ts";
import { quantizeI2S, quantizeQ6K, quantizeQ8_0, quantizeTq1_0, quantizeTq2_0 } from "../../quant/mod.ts";
import { compareF32, Rand, Twin, type TwinBuf } from "./_testing.ts";

const tol = TOLERANCES.webgpu;
let twinP: Promise<Twin> | undefined;
/** One twin for the file, so each pipeline compiles once. */
const twin = (): Promise<Twin> => (twinP ??= Twin.create());

async function sameBytes(t: Twin, b: TwinBuf, what: string): Promise<void> {
  const r = await t.read(b);
  let diff = -1;
  for (let i = 0; i < r.ref.length; i++) {
    if (r.ref[i] !== r.gpu[i]) {
      diff = i;
      break;
    }
  }
  equal(diff, -1, `${what}: first differing byte at ${diff} (ref ${r.ref[diff]}, webgpu ${r.gpu[diff]})`);
}

async function closeF32(t: Twin, b: TwinBuf, what: string, maxUlps: number): Promise<void> {
  const { ref, gpu } = await t.readF32(b);
  const c = compareF32(ref, gpu);
  ok(
    c.maxUlps <= maxUlps,
    `${what}: ${ref.length - c.same}/${ref.length} values differ, up to ${c.maxUlps} ulps (allowed ${maxUlps}); ` +
      `first at ${c.first}: ref ${ref[c.first]}, webgpu ${gpu[c.first]}`,
  );
}

/** Quantize `x` [rows][K] with the reference backend and write the bytes to both (so a matmul sees one input). */
async function refQuantized(t: Twin, quant: KernelId, x: Float32Array, K: number, rowBytes: number): Promise<TwinBuf> {
  const rows = x.length / K;
  const xb = t.alloc(x.byteLength, x);
  const q = t.alloc(rows * rowBytes);
  t.ref.run(quant, xb.ref, q.ref, K, rows);
  t.write(q, await t.ref.read(q.ref, q.bytes));
  return q;
}

Deno.test("every id of the engine's kernel table has a WGSL kernel, and no other", () => {
  deepEqual(Object.keys(GPU_KERNELS).sort(), [...KERNEL_IDS].sort());
  for (const id of KERNEL_IDS) equal(GPU_KERNELS[id].id, id);
});

Deno.test("quantize.q8_k matches byte for byte: zeros, ties, signs, extremes", async () => {
  const t = await twin(), r = new Rand(11);
  const K = 768, rows = 3, x = r.floats(K * rows);
  x.fill(0, 256, 512); // an all-zero block
  x[600] = -9;
  x[601] = 9; // equal magnitudes: the first occurrence (negative) sets the sign
  for (let i = 256 * 6; i < 256 * 7; i++) x[i] = (r.next() - 0.5) * 1e30;
  for (let i = 256 * 7; i < 256 * 8; i++) x[i] = (r.next() - 0.5) * 1e-30;
  const xb = t.alloc(x.byteLength, x), y = t.alloc((K / 256) * rows * 292);
  t.run("quantize.q8_k", xb, y, K, rows);
  await sameBytes(t, y, "quantize.q8_k");
});

Deno.test("quantize.q8_0 matches byte for byte, with 34-byte blocks straddling words and an unaligned output", async () => {
  const t = await twin(), r = new Rand(12);
  const K = 96, rows = 3, x = r.floats(K * rows, 3);
  x.fill(0, 32, 64);
  for (let i = 64; i < 96; i++) x[i] = r.gauss() * 1e-38; // 127 / amax overflows: every byte -128
  const xb = t.alloc(x.byteLength, x);
  const y = t.alloc(3 * 34 * rows + 8);
  t.write(y, new Rand(1).bytes(y.bytes)); // guard bytes around the output must survive
  t.ref.run("quantize.q8_0", xb.ref, y.ref + 2, K, rows);
  t.gpu.run("quantize.q8_0", xb.gpu, y.gpu + 2, K, rows);
  await sameBytes(t, y, "quantize.q8_0");
});

Deno.test("quantize.f16 and quantize.bf16 match byte for byte, odd rows and overflow included", async () => {
  const t = await twin(), r = new Rand(13);
  const K = 7, rows = 5, x = r.floats(K * rows, 10);
  x[0] = 1e6; // f16 overflow to inf
  x[1] = 3e-6; // f16 subnormal
  x[2] = -0;
  x[3] = 65519.99; // rounds to 65504
  const xb = t.alloc(x.byteLength, x);
  for (const id of ["quantize.f16", "quantize.bf16"] as const) {
    const y = t.alloc(2 * K * rows + 4);
    t.write(y, new Rand(2).bytes(y.bytes));
    t.ref.run(id, xb.ref, y.ref + 2, K, rows);
    t.gpu.run(id, xb.gpu, y.gpu + 2, K, rows);
    await sameBytes(t, y, id);
  }
});

Deno.test("quantize.i8_s matches byte for byte, a row below the 1e-5 floor included", async () => {
  const t = await twin(), r = new Rand(14);
  const K = 384, rows = 3, x = r.floats(K * rows);
  for (let i = K; i < 2 * K; i++) x[i] *= 1e-7;
  x[2 * K] = 4e4;
  const xb = t.alloc(x.byteLength, x), y = t.alloc((K + 16) * rows);
  t.run("quantize.i8_s", xb, y, K, rows);
  await sameBytes(t, y, "quantize.i8_s");
});

/** Weight bytes of `type` for `[n][K]` from Gaussian values (with an I2_S tail scale). */
function weights(type: string, n: number, K: number, r: Rand): Uint8Array {
  const w = r.floats(n * K);
  const enc: Record<string, [number, number, (s: Float32Array, d: Uint8Array) => void]> = {
    tq2_0: [256, 66, quantizeTq2_0],
    tq1_0: [256, 54, quantizeTq1_0],
    q6_k: [256, 210, quantizeQ6K],
    q8_0: [32, 34, quantizeQ8_0],
  };
  if (type in enc) {
    const [blk, bytes, f] = enc[type];
    const out = new Uint8Array((n * K / blk) * bytes);
    f(w, out);
    return out;
  }
  if (type === "i2_s") {
    const out = new Uint8Array(n * K / 4 + 32);
    quantizeI2S(w, out);
    return out;
  }
  if (type === "f32") return new Uint8Array(w.buffer);
  const h = new Uint16Array(n * K);
  for (let i = 0; i < h.length; i++) h[i] = type === "f16" ? f32ToF16(w[i]) : f32ToBf16(w[i]);
  return new Uint8Array(h.buffer);
}

const MATMULS: readonly {
  id: KernelId;
  type: string;
  quant?: KernelId;
  rowBytes: (k: number) => number;
  ks: number[];
}[] = [
  { id: "gemm.tq2_0_q8_k", type: "tq2_0", quant: "quantize.q8_k", rowBytes: (k) => (k / 256) * 292, ks: [512] },
  { id: "gemm.tq1_0_q8_k", type: "tq1_0", quant: "quantize.q8_k", rowBytes: (k) => (k / 256) * 292, ks: [768] },
  { id: "gemm.q6_k_q8_k", type: "q6_k", quant: "quantize.q8_k", rowBytes: (k) => (k / 256) * 292, ks: [512] },
  { id: "gemm.q8_0_q8_0", type: "q8_0", quant: "quantize.q8_0", rowBytes: (k) => (k / 32) * 34, ks: [96, 160] },
  { id: "gemm.i2_s_i8_s", type: "i2_s", quant: "quantize.i8_s", rowBytes: (k) => k + 16, ks: [384] },
  { id: "gemm.i2_s_f32", type: "i2_s", rowBytes: (k) => 4 * k, ks: [384] },
  { id: "gemm.f16_f16", type: "f16", quant: "quantize.f16", rowBytes: (k) => 2 * k, ks: [128, 80, 100] },
  { id: "gemm.bf16_bf16", type: "bf16", quant: "quantize.bf16", rowBytes: (k) => 2 * k, ks: [128, 96, 72] },
  { id: "gemm.f32_f32", type: "f32", rowBytes: (k) => 4 * k, ks: [64, 80, 100] },
];

for (const m of MATMULS) {
  Deno.test(`${m.id} matches the reference: one token, token tiles with tails, row tails, vec and tinyBLAS paths`, async () => {
    const t = await twin(), r = new Rand(m.id.length * 7919);
    for (const K of m.ks) {
      for (const [n, T] of [[13, 1], [8, 5], [12, 3], [4, 2]]) {
        const wb = weights(m.type, n, K, r);
        // 2-aligned placement (as fused projections get): block fields are unaligned on purpose.
        const wr = t.alloc(wb.length, wb, m.type === "f32" || m.type === "i2_s" ? 4 : 2);
        const x = r.floats(T * K, 2);
        const xq = m.quant ? await refQuantized(t, m.quant, x, K, m.rowBytes(K)) : t.alloc(x.byteLength, x);
        const y = t.alloc(4 * T * n);
        t.run(m.id, wr, xq, y, n, K, T);
        await closeF32(t, y, `${m.id} K=${K} n=${n} T=${T}`, tol.matmulUlps);
      }
    }
  });
}

Deno.test("get_rows.* dequantize the same rows (first, last, repeated)", async () => {
  const t = await twin(), r = new Rand(15);
  for (const [type, K] of [["f32", 40], ["f16", 40], ["bf16", 40], ["q8_0", 64], ["q6_k", 256]] as const) {
    const V = 9;
    const data = weights(type, V, K, r);
    const wb = t.alloc(data.length, data, type === "f32" ? 4 : 2);
    const ids = t.alloc(24, Int32Array.from([0, 8, 3, 3, 8, 1]));
    const y = t.alloc(4 * 6 * K);
    t.run(`get_rows.${type}` as KernelId, wb, ids, y, K, 6);
    await closeF32(t, y, `get_rows.${type}`, 0);
  }
});

Deno.test("rms_norm matches the reference: long and odd rows, a zero row, large and tiny values", async () => {
  const t = await twin(), r = new Rand(16);
  for (const K of [2560, 100]) {
    const rows = 4, x = r.floats(K * rows);
    x.fill(0, K, 2 * K);
    for (let i = 2 * K; i < 3 * K; i++) x[i] *= 1e17;
    for (let i = 3 * K; i < 4 * K; i++) x[i] *= 1e-17;
    const xb = t.alloc(x.byteLength, x), w = t.alloc(4 * K, r.floats(K)), y = t.alloc(x.byteLength);
    t.run("rms_norm", xb, w, y, K, rows, 1e-5);
    await closeF32(t, y, `rms_norm K=${K}`, tol.normUlps);
  }
});

Deno.test("rope.neox and rope.norm match the reference, full and partial rotation", async () => {
  const t = await twin(), r = new Rand(17);
  for (const id of ["rope.neox", "rope.norm"] as const) {
    for (const [D, R] of [[64, 64], [64, 32]]) {
      const T = 3, H = 4, x = r.floats(T * H * D), cs = new Float32Array(T * R);
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < R / 2; j++) {
          const a = (i + 1) * (j + 0.5);
          cs[i * R + j] = Math.cos(a);
          cs[i * R + R / 2 + j] = Math.sin(a);
        }
      }
      const xb = t.alloc(x.byteLength, x), c = t.alloc(cs.byteLength, cs);
      t.run(id, xb, c, T, H, D, R);
      await closeF32(t, xb, `${id} D=${D} R=${R}`, tol.opUlps);
    }
  }
});

Deno.test("attention matches the reference: decode, prefill, GQA, head-dim tails, more pairs than workgroups", async () => {
  const t = await twin(), r = new Rand(18);
  for (const [T, pos0, H, Hk, D] of [[1, 0, 4, 2, 64], [1, 90, 4, 1, 64], [5, 7, 4, 2, 72], [20, 3, 4, 4, 32]]) {
    const C = 128, kv = Hk * D;
    const q = t.alloc(4 * T * H * D, r.floats(T * H * D));
    const k = t.alloc(4 * C * kv, r.floats(C * kv)), v = t.alloc(4 * C * kv, r.floats(C * kv));
    const out = t.alloc(4 * T * H * D);
    const shape = { nCtx: C };
    const sRef = t.ref.alloc(Math.max(4, t.ref.scratchBytes("attention", shape)));
    const sGpu = t.gpu.alloc(t.gpu.scratchBytes("attention", shape));
    const scale = Math.fround(1 / Math.fround(Math.sqrt(D)));
    t.ref.run("attention", q.ref, k.ref, v.ref, out.ref, sRef, T, pos0, H, Hk, D, C, scale);
    t.gpu.run("attention", q.gpu, k.gpu, v.gpu, out.gpu, sGpu, T, pos0, H, Hk, D, C, scale);
    await closeF32(t, out, `attention T=${T} pos0=${pos0} H=${H}/${Hk} D=${D}`, tol.attentionUlps);
  }
});

Deno.test("swiglu, relu2_glu, add and mul_scalar (in place) match; exp overflow gives signed zeros", async () => {
  const t = await twin(), r = new Rand(19);
  const n = 1000, g = r.floats(n, 4), u = r.floats(n);
  g.set([-100, 100, 0, -0, -88.5, 88.5, 1e-30, -1e-30]);
  const gb = t.alloc(4 * n, g), ub = t.alloc(4 * n, u), s = t.alloc(4, Float32Array.of(-0.75));
  for (const id of ["swiglu", "relu2_glu", "add"] as const) {
    const y = t.alloc(4 * n);
    t.run(id, gb, ub, y, n);
    await closeF32(t, y, id, 0);
  }
  t.run("mul_scalar", ub, s, ub, n);
  await closeF32(t, ub, "mul_scalar in place", 0);
});

Deno.test("copy moves bytes, aligned and not, and rejects overlapping regions like the reference", async () => {
  const t = await twin(), r = new Rand(20);
  const a = t.alloc(64, r.bytes(64)), b = t.alloc(64, r.bytes(64));
  t.run("copy", a, b, 32);
  t.ref.run("copy", a.ref + 1, b.ref + 35, 13);
  t.gpu.run("copy", a.gpu + 1, b.gpu + 35, 13);
  await sameBytes(t, b, "copy");
  throws(() => t.gpu.run("copy", a.gpu, a.gpu + 8, 16), /overlap/);
  throws(() => t.ref.run("copy", a.ref, a.ref + 8, 16), /overlap/);
});

Deno.test("matmuls and get_rows split into windows when a tensor exceeds the binding limit", async () => {
  // A 1 KiB binding cap and 4 KiB chunks: weights get chunks of their own, bound through windows, and every call is
  // split into row ranges, as the 2B model's 656 MB tied embedding is on a 128 MiB adapter.
  using t = await Twin.create({ maxBindingBytes: 1024, chunkBytes: 4096 });
  const r = new Rand(21), K = 256, n = 40, T = 2;
  const wb = weights("tq2_0", n, K, r), w = t.alloc(wb.length, wb);
  const xq = await refQuantized(t, "quantize.q8_k", r.floats(T * K), K, 292);
  const y = t.alloc(4 * T * n);
  t.run("gemm.tq2_0_q8_k", w, xq, y, n, K, T);
  await closeF32(t, y, "split gemm.tq2_0_q8_k", 0);
  const V = 50, E = 32, emb = weights("f16", V, E, r), table = t.alloc(emb.length, emb);
  const ids = t.alloc(16, Int32Array.from([49, 0, 17, 33])), rows = t.alloc(4 * 4 * E);
  t.run("get_rows.f16", table, ids, rows, E, 4);
  await closeF32(t, rows, "windowed get_rows.f16", 0);
  ok(t.gpu.stats.dispatches > 3, `expected split dispatches, got ${t.gpu.stats.dispatches}`);
});

Deno.test("the dot4I8Packed polyfill and the forced FMA emulation give the same bytes", async () => {
  using t = await Twin.create({ dot4: false, fma: "emulated" });
  equal(t.gpu.math.dot4, false);
  equal(t.gpu.math.fusedFma, false);
  const r = new Rand(22), K = 512, n = 16, T = 3;
  const wb = weights("tq1_0", n, K, r), w = t.alloc(wb.length, wb);
  const xq = await refQuantized(t, "quantize.q8_k", r.floats(T * K), K, (K / 256) * 292);
  const y = t.alloc(4 * T * n);
  t.run("gemm.tq1_0_q8_k", w, xq, y, n, K, T);
  await closeF32(t, y, "gemm.tq1_0_q8_k without dot4", tol.matmulUlps);
});

Deno.test("every kernel variant compiles without a message, with and without dot4I8Packed", async () => {
  for (const dot4 of [true, false]) {
    using t = await Twin.create({ dot4 });
    deepEqual(await t.gpu.compileAll(), []);
  }
});

Deno.test("the fast profile's kernels and the bandwidth probe are refused, naming what to use instead", async () => {
  const t = await twin();
  const a = t.alloc(4096);
  const calls: [KernelId, number[]][] = [
    ["fast.gemm.tq2_0x2_q8_k", [a.gpu, a.gpu, a.gpu, 1, 256, 1]],
    ["fast.gemm.f16_f32", [a.gpu, a.gpu, a.gpu, 1, 32, 1]],
    ["fast.gemm.bf16_f32", [a.gpu, a.gpu, a.gpu, 1, 32, 1]],
    ["fast.attention", [a.gpu, a.gpu, a.gpu, a.gpu, a.gpu, 1, 0, 1, 1, 16, 1, 1]],
    ["fast.swiglu", [a.gpu, a.gpu, a.gpu, 4]],
    ["fast.repack.tq2_0x2", [a.gpu, 2, 256]],
    ["fast.repack.tq1_0_tq2_0x2", [a.gpu, a.gpu + 2048, 1, 256]],
  ];
  for (const [id, args] of calls) {
    throws(() => t.gpu.run(id, ...args), new RegExp(`${id.replaceAll(".", "\\.")} on the webgpu backend: .*numerics`));
  }
  throws(() => t.gpu.run("probe.read", a.gpu, 64, a.gpu), /probe\.read on the webgpu backend: .*bench\/bandwidth\.ts/);
  equal(calls.length + 1, KERNEL_IDS.filter((id) => id.startsWith("fast.") || id.startsWith("probe.")).length);
});

Deno.test("kernel calls are checked: unknown id, argument count, regions outside the arena", async () => {
  const t = await twin();
  throws(() => t.gpu.run("nope" as KernelId, 1), /unknown id/);
  throws(() => t.gpu.run("add", 1, 2, 3), /expected 4/);
  const a = t.alloc(16);
  throws(() => t.gpu.run("add", a.gpu, a.gpu, a.gpu, 1 << 20), /outside the allocated arena/);
  await rejects(() => t.gpu.read(a.gpu, 1 << 24), /outside the allocated arena/);
});
