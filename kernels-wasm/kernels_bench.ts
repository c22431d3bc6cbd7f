/**
 * Kernel benchmarks at the BitNet b1.58 2B4T shapes (hidden 2560, FFN 6912, vocab 128256, 20/5 heads of 128),
 * on 1 and 2 threads: `deno bench -A kernels-wasm/kernels_bench.ts`. Bench names carry the work per
 * iteration (weights and weight bytes) so that G weights/s and GB/s follow from the reported time; the
 * README's table was computed that way. Inputs are fixed pseudo-random bytes (speed does not depend on them).
 */

import { type KernelId, WasmKernels } from "./mod.ts";
import { activationRowBytes, blockBytes, ggmlTensorBytes, GgmlType } from "../engine/quant/ggml_type.ts";

const TQ2 = blockBytes(GgmlType.TQ2_0), TQ1 = blockBytes(GgmlType.TQ1_0);

const H = 2560, F = 6912, V = 128256, TOK = 128;

/** Fills `bytes` at `off` with a pseudo-random pattern (1 MiB generated, then doubled by copyWithin). */
function fill(k: WasmKernels, off: number, bytes: number, seed: number): void {
  const u8 = new Uint8Array(k.buffer, off, bytes);
  let s = seed >>> 0;
  const first = Math.min(bytes, 1 << 20);
  for (let i = 0; i < first; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    u8[i] = s >>> 24;
  }
  for (let n = first; n < bytes; n *= 2) u8.copyWithin(n, 0, Math.min(n, bytes - n));
}

/** Sets every block's f16 scale at byte `dOff` of `size`-byte blocks to 0.1 (finite, like real weights). */
function scales(k: WasmKernels, off: number, blocks: number, size: number, dOff: number): void {
  const dv = new DataView(k.buffer);
  for (let b = 0; b < blocks; b++) dv.setUint16(off + b * size + dOff, 0x2e66, true);
}

interface Setup {
  k: WasmKernels;
  run: Record<string, () => void>;
  pooled: WasmKernels;
}

async function setup(threads: number): Promise<Setup> {
  const k = await WasmKernels.create({ threads, initialBytes: 800 << 20 });
  // Same module and memory layout, every call through the pool: measures the dispatch round trip.
  const pooled = await WasmKernels.create({ threads, initialBytes: 1 << 20, inlineBelowNs: 0 });
  const x = k.alloc(4 * TOK * F);
  const xf = new Float32Array(k.buffer, x, TOK * F);
  for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i * 0.37) * 2;
  const h16 = k.alloc(2 * H);
  const y = k.alloc(4 * Math.max(TOK * F, V));
  const run: Record<string, () => void> = {};
  const call = (id: KernelId, ...a: number[]) => () => k.run(id, ...a);
  for (const [nOut, kk] of [[F, H], [H, F]]) {
    // The f16 scale is the last 2 bytes of each block.
    const tq2 = k.alloc((nOut * kk / 256) * TQ2);
    fill(k, tq2, (nOut * kk / 256) * TQ2, 1);
    scales(k, tq2, nOut * kk / 256, TQ2, TQ2 - 2);
    const tq1 = k.alloc((nOut * kk / 256) * TQ1);
    fill(k, tq1, (nOut * kk / 256) * TQ1, 2);
    scales(k, tq1, nOut * kk / 256, TQ1, TQ1 - 2);
    const i2s = k.alloc(ggmlTensorBytes(GgmlType.I2_S, nOut * kk));
    fill(k, i2s, nOut * kk / 4, 3);
    new DataView(k.buffer).setFloat32(i2s + nOut * kk / 4, 0.5, true);
    const tag = `${kk}->${nOut}`;
    // Activations of this shape, quantized once (the quantizers have their own benches).
    const q8k = k.alloc(ggmlTensorBytes(GgmlType.Q8_K, TOK * kk)), i8s = k.alloc(TOK * activationRowBytes("i8_s", kk));
    k.run("quantize.q8_k", x, q8k, kk, TOK);
    k.run("quantize.i8_s", x, i8s, kk, TOK);
    run[`gemv tq2_0 ${tag}`] = call("gemm.tq2_0_q8_k", tq2, q8k, y, nOut, kk, 1);
    run[`gemv tq1_0 ${tag}`] = call("gemm.tq1_0_q8_k", tq1, q8k, y, nOut, kk, 1);
    run[`gemv i2_s ${tag}`] = call("gemm.i2_s_i8_s", i2s, i8s, y, nOut, kk, 1);
    run[`gemm${TOK} tq2_0 ${tag}`] = call("gemm.tq2_0_q8_k", tq2, q8k, y, nOut, kk, TOK);
    run[`gemm${TOK} tq1_0 ${tag}`] = call("gemm.tq1_0_q8_k", tq1, q8k, y, nOut, kk, TOK);
    run[`gemm${TOK} i2_s ${tag}`] = call("gemm.i2_s_i8_s", i2s, i8s, y, nOut, kk, TOK);
  }
  const q8k = k.alloc(ggmlTensorBytes(GgmlType.Q8_K, TOK * H));
  // The tied F16 embedding as output matrix: 128256 x 2560 (657 MB).
  const emb = k.alloc(2 * V * H);
  fill(k, emb, 2 * V * H, 4);
  const e16 = new Uint16Array(k.buffer, emb, V * H);
  for (let i = 0; i < 1 << 19; i++) e16[i] &= 0xbfff; // finite halves (|w| < 2), then replicate
  for (let n = 1 << 19; n < V * H; n *= 2) e16.copyWithin(n, 0, Math.min(n, V * H - n));
  k.run("quantize.f16", x, h16, H, 1);
  run[`gemv f16 ${H}->${V}`] = call("gemm.f16_f16", emb, h16, y, V, H, 1);
  run[`quantize.q8_k ${H} x1`] = call("quantize.q8_k", x, q8k, H, 1);
  run[`quantize.q8_k ${H} x${TOK}`] = call("quantize.q8_k", x, q8k, H, TOK);
  // Attention, one decode token at position 511 (20 heads, 5 KV heads, 128 dims), and 128 prompt tokens.
  const ctx = 512, nh = 20, nkv = 5, hd = 128;
  const q = k.alloc(4 * TOK * nh * hd), kc = k.alloc(4 * ctx * nkv * hd), vc = k.alloc(4 * ctx * nkv * hd);
  const out = k.alloc(4 * TOK * nh * hd), scr = k.alloc(4 * threads * ctx);
  for (const b of [q, kc, vc]) {
    const f = new Float32Array(k.buffer, b, (b === q ? TOK * nh : ctx * nkv) * hd);
    for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.11);
  }
  const scale = 1 / Math.sqrt(hd);
  run[`attention 1 tok @${ctx - 1}`] = call("attention", q, kc, vc, out, scr, 1, ctx - 1, nh, nkv, hd, ctx, scale);
  run[`attention ${TOK} tok @0`] = call("attention", q, kc, vc, out, scr, TOK, 0, nh, nkv, hd, ctx, scale);
  const w = k.alloc(4 * H);
  new Float32Array(k.buffer, w, H).fill(1);
  run[`rms_norm ${H} x1`] = call("rms_norm", x, w, y, H, 1, 1e-6);
  run[`swiglu ${F}`] = call("swiglu", x, x, y, F);
  const tiny = k.alloc(64);
  run["dispatch inline (add of 4 floats)"] = call("add", tiny, tiny, tiny, 4);
  const ptiny = pooled.alloc(64);
  run["dispatch pool (add of 4 floats, all threads)"] = () => pooled.run("add", ptiny, ptiny, ptiny, 4);
  return { k, run, pooled };
}

const setups = [await setup(1), await setup(2)];
const big = (name: string) => name.includes("f16 ") || name.startsWith("gemm");

for (const name of Object.keys(setups[0].run)) {
  for (const s of setups) {
    Deno.bench({
      name: `${name} t${s.k.threads}`,
      group: name,
      baseline: s.k.threads === 1,
      ...(big(name) ? { n: 8, warmup: 3 } : {}),
      fn: s.run[name],
    });
  }
}

globalThis.addEventListener("unload", () => {
  for (const s of setups) {
    s.k.close();
    s.pooled.close();
  }
});
