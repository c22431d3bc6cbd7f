/**
 * The kernel ids the WebGPU backend refuses, each with a message that says what to use instead: the `fast` numerics
 * profile's kernels (`fast.*`, the CPU backends' WebAssembly-native orders and the TQ2_0x2 weight layout) and the
 * benchmarks' streaming-read probe (`probe.read`, which measures host memory). The engine never sends them here:
 * this backend implements only the `exact` kernel set (`numerics` in {@link WebGpuBackend}), and an engine loaded
 * with `numerics: "fast"` on it runs those WGSL kernels (ADR 0013). They sit in the table so that every id of the
 * engine's kernel table has an answer on this backend, as the table test demands.
 *
 * @module
 */

import type { KernelId } from "../kernel_table.ts";
import { type GpuKernel, reject } from "./kernel_plan.ts";
import { bindings, entry } from "./kernels_ops.ts";

const FAST_FIX = "The webgpu backend runs the fast profile with its own WGSL kernels (the exact kernel ids): load " +
  'the model through the engine with numerics: "fast" (it picks each backend\'s kernel set), or use --backend wasm';

function refused(id: KernelId, why: string, fix: string): GpuKernel {
  return {
    id,
    bindings: 1,
    // Never dispatched (the plan refuses); a valid no-op so that compiling every pipeline stays possible.
    source: () => bindings([["x", "u32"]]) + entry(1) + "}\n",
    plan: () => reject(id, why, fix),
  };
}

/** The refused ids with their reasons. */
export const REFUSED: readonly GpuKernel[] = [
  ...([
    "fast.gemm.tq2_0x2_q8_k",
    "fast.gemm.f16_f32",
    "fast.gemm.bf16_f32",
    "fast.attention",
    "fast.swiglu",
    "fast.repack.tq2_0x2",
    "fast.repack.tq1_0_tq2_0x2",
  ] as const).map((id) => refused(id, "it is a kernel of the CPU backends' fast numerics profile", FAST_FIX)),
  refused(
    "probe.read",
    "it measures the host's memory read bandwidth",
    "Run the bandwidth probe on the wasm backend (bench/bandwidth.ts)",
  ),
];
