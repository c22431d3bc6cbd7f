/**
 * Kernel-level benchmark: one GEMV (a single token through one projection, the shape of decoding) per weight
 * type, on the WASM SIMD backend and on the plain TypeScript reference backend, through the same kernel ABI the
 * engine uses (kernels-wasm/ABI.md). Shape: 2560 x 2560 (BitNet b1.58 2B4T's `attn_q`/`attn_output`).
 *
 *   deno bench -A bench/kernels_bench.ts
 *
 * Weights per second = 2560 * 2560 / (time per iteration); the `ref` row of each group is the baseline, so deno
 * bench prints how many times faster the WASM kernel is. Each numerics profile's kernel of a type is its own group
 * (`TQ2_0 fast`: the row-pair TQ2_0x2 GEMV on weights repacked by the profile's load-time kernel; a type whose fast
 * kernel is the exact one is benchmarked once). Activations are quantized by the backend's own kernel for the pair
 * the engine uses (Q8_K for TQ2_0/TQ1_0/Q6_K, Q8_0, F16, BF16, I8_S for I2_S; f32 for the fast F16/BF16 GEMV),
 * outside the timed call.
 *
 * @module
 */

import { createBackend, type KernelBackend } from "../engine/backends/mod.ts";
import { NUMERICS_PROFILES, typeKernels } from "../engine/backends/type_kernels.ts";
import { quantFormat } from "../engine/quant/formats.ts";
import { ggmlTensorBytes, GgmlType } from "../engine/quant/ggml_type.ts";
import { Prng } from "../receipts/prng.ts";

const K = 2560, N_OUT = 2560;

/** The weight types benchmarked; their kernels (activation quantizer, GEMV) come from the engine's type table. */
const TYPES: readonly number[] = [
  GgmlType.TQ2_0,
  GgmlType.TQ1_0,
  GgmlType.I2_S,
  GgmlType.Q6_K,
  GgmlType.Q8_0,
  GgmlType.F16,
  GgmlType.BF16,
];

const rng = new Prng(1);
const gauss = (n: number) =>
  Float32Array.from({ length: n }, () => (rng.float() + rng.float() + rng.float() - 1.5) * 0.8);
const weightsF32 = gauss(K * N_OUT);
const x = gauss(K);

const backends: KernelBackend[] = [
  await createBackend("wasm"),
  await createBackend("ref"),
];
globalThis.addEventListener("unload", () => backends.forEach((b) => b.close()));

for (const type of TYPES) {
  const f = quantFormat(type);
  const w = new Uint8Array(ggmlTensorBytes(type, K * N_OUT));
  f.quantize(weightsF32, w);
  for (const profile of NUMERICS_PROFILES) {
    const pair = typeKernels(type, profile);
    if (profile !== "exact" && pair.gemm === typeKernels(type, "exact").gemm) continue;
    for (const be of backends) {
      const repack = pair.repack;
      const wp = be.alloc(repack ? repack.bytes(N_OUT, K) : w.length), xp = be.alloc(4 * K);
      const qp = pair.quantize ? be.alloc(pair.actRowBytes(K)) : xp, yp = be.alloc(4 * N_OUT);
      // The weights in the layout the kernel reads, as the engine places them at load (engine/model/arena.ts).
      if (repack && !repack.inPlace) {
        const sp = be.alloc(w.length);
        be.write(sp, w);
        be.run(repack.kernel, sp, wp, N_OUT, K);
      } else {
        be.write(wp, w);
        if (repack) be.run(repack.kernel, wp, N_OUT, K);
      }
      be.write(xp, new Uint8Array(x.buffer));
      if (pair.quantize) be.run(pair.quantize, xp, qp, K, 1);
      Deno.bench(`${be.id} ${pair.gemm} (${be.threads} thread${be.threads > 1 ? "s" : ""})`, {
        group: `${f.name} ${profile}`,
        baseline: be.id === "ref",
      }, () => {
        be.run(pair.gemm, wp, qp, yp, N_OUT, K, 1);
      });
    }
  }
}
