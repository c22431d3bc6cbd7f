/**
 * Kernel-level benchmark: one GEMV (a single token through one projection, the shape of decoding) per weight
 * type, on the WASM SIMD backend and on the plain TypeScript reference backend, through the same kernel ABI the
 * engine uses (kernels-wasm/ABI.md). Shape: 2560 x 2560 (BitNet b1.58 2B4T's `attn_q`/`attn_output`).
 *
 *   deno bench -A bench/kernels_bench.ts
 *
 * Weights per second = 2560 * 2560 / (time per iteration); the `ref` row of each group is the baseline, so deno
 * bench prints how many times faster the WASM kernel is. Activations are quantized by the backend's own kernel for
 * the pair the engine uses (Q8_K for TQ2_0/TQ1_0/Q6_K, Q8_0, F16, BF16, I8_S for I2_S), outside the timed call.
 *
 * @module
 */

import { createBackend, type KernelBackend, type KernelId } from "../engine/backends/mod.ts";
import { quantFormat } from "../engine/quant/formats.ts";
import { GgmlType } from "../engine/quant/ggml_type.ts";
import { Prng } from "../receipts/prng.ts";

const K = 2560, N_OUT = 2560;

/** Weight type -> its GEMV kernel, the activation quantizer, and bytes per activation row. */
const PAIRS: readonly { type: number; gemm: KernelId; quantize: KernelId | null; rowBytes: number }[] = [
  { type: GgmlType.TQ2_0, gemm: "gemm.tq2_0_q8_k", quantize: "quantize.q8_k", rowBytes: (K / 256) * 292 },
  { type: GgmlType.TQ1_0, gemm: "gemm.tq1_0_q8_k", quantize: "quantize.q8_k", rowBytes: (K / 256) * 292 },
  { type: GgmlType.I2_S, gemm: "gemm.i2_s_i8_s", quantize: "quantize.i8_s", rowBytes: K + 16 },
  { type: GgmlType.Q6_K, gemm: "gemm.q6_k_q8_k", quantize: "quantize.q8_k", rowBytes: (K / 256) * 292 },
  { type: GgmlType.Q8_0, gemm: "gemm.q8_0_q8_0", quantize: "quantize.q8_0", rowBytes: (K / 32) * 34 },
  { type: GgmlType.F16, gemm: "gemm.f16_f16", quantize: "quantize.f16", rowBytes: 2 * K },
  { type: GgmlType.BF16, gemm: "gemm.bf16_bf16", quantize: "quantize.bf16", rowBytes: 2 * K },
];

const rng = new Prng(1);
const gauss = (n: number) =>
  Float32Array.from({ length: n }, () => (rng.float() + rng.float() + rng.float() - 1.5) * 0.8);
const weightsF32 = gauss(K * N_OUT);
const x = gauss(K);

const backends: KernelBackend[] = [
  await createBackend("wasm", { threads: navigator.hardwareConcurrency }),
  await createBackend("ref", { threads: 1 }),
];
globalThis.addEventListener("unload", () => backends.forEach((b) => b.close()));

for (const pair of PAIRS) {
  const f = quantFormat(pair.type);
  const w = new Uint8Array((K * N_OUT / f.blockSize) * f.typeSize + f.tensorTailBytes);
  f.quantize(weightsF32, w);
  for (const be of backends) {
    const wp = be.alloc(w.length), xp = be.alloc(4 * K), qp = be.alloc(pair.rowBytes), yp = be.alloc(4 * N_OUT);
    new Uint8Array(be.buffer, wp, w.length).set(w);
    new Float32Array(be.buffer, xp, K).set(x);
    if (pair.quantize) be.run(pair.quantize, xp, qp, K, 1);
    Deno.bench(`${be.id} ${pair.gemm} (${be.threads} thread${be.threads > 1 ? "s" : ""})`, {
      group: f.name,
      baseline: be.id === "ref",
    }, () => {
      be.run(pair.gemm, wp, qp, yp, N_OUT, K, 1);
    });
  }
}
