/**
 * The WASM side of the engine's kernel table (`engine/backends/kernel_table.ts`, which owns the ids and their
 * parameters; see `kernels-wasm/ABI.md`): for each kernel, the module export that runs it, whether the
 * relaxed-SIMD build has its own code path, and a cost estimate the worker pool uses to keep tiny calls on the
 * calling thread. Also the host-visible surface {@link HostKernels} of {@linkcode WasmKernels}, which
 * `engine/backends/wasm.ts` adapts to the engine's backend port.
 *
 * This module imports only the engine's kernel table (a leaf module with no imports): kernels-wasm implements
 * the engine's port and does not depend on anything else of the engine.
 *
 * @module
 */

import { type KernelId, KERNELS as PORT_KERNELS } from "../engine/backends/kernel_table.ts";

export type { KernelId };

/** One row of the WASM kernel table. */
export interface KernelSpec {
  /** Parameter names in call order (the engine's table; pointers are byte offsets, counts u32, `eps`/`scale` f32). */
  readonly params: readonly string[];
  /** Name of the WebAssembly export (the id with `.` replaced by `_`); the scalar twin adds `__scalar`. */
  readonly exportName: string;
  /** True when the relaxed-SIMD build runs a relaxed-SIMD code path for this kernel. */
  readonly relaxed: boolean;
  /**
   * Rough single-thread cost of a call in nanoseconds on a ~3.5 GHz x86 core (measured with
   * kernels_bench.ts), from its arguments. Calls estimated under a few microseconds run on the calling
   * thread only: waking workers would cost more than it saves. Results never depend on this choice.
   */
  readonly costNs: (args: readonly number[]) => number;
}

function spec(id: KernelId, costNs: (a: readonly number[]) => number, relaxed = false): KernelSpec {
  return { params: PORT_KERNELS[id].params, exportName: id.replaceAll(".", "_"), relaxed, costNs };
}

// Per-element costs in ns, single thread (kernels_bench.ts: quantize.q8_k 2560 = 2.1 us, rms_norm 2560 =
// 3.6 us, swiglu 6912 = 27 us; GEMV TQ2_0 ~30 G weights/s, F16 ~5 G/s).
const rows = (ns: number) => (a: readonly number[]) => ns * a[2] * a[3];
const elems = (ns: number) => (a: readonly number[]) => ns * a[3];
const gemm = (ns: number) => (a: readonly number[]) => ns * a[3] * a[4] * a[5];

/** Every kernel of ABI.md, keyed by id. */
export const KERNELS: Readonly<Record<KernelId, KernelSpec>> = {
  "quantize.q8_k": spec("quantize.q8_k", rows(0.8)),
  "quantize.q8_0": spec("quantize.q8_0", rows(0.8)),
  "quantize.f16": spec("quantize.f16", rows(0.5)),
  "quantize.bf16": spec("quantize.bf16", rows(0.5)),
  "quantize.i8_s": spec("quantize.i8_s", rows(0.8)),
  "gemm.tq2_0_q8_k": spec("gemm.tq2_0_q8_k", gemm(0.035), true),
  "gemm.tq1_0_q8_k": spec("gemm.tq1_0_q8_k", gemm(0.1), true),
  "gemm.q6_k_q8_k": spec("gemm.q6_k_q8_k", gemm(0.3)),
  "gemm.q8_0_q8_0": spec("gemm.q8_0_q8_0", gemm(0.15)),
  "gemm.f16_f16": spec("gemm.f16_f16", gemm(0.2)),
  "gemm.bf16_bf16": spec("gemm.bf16_bf16", gemm(0.2)),
  "gemm.f32_f32": spec("gemm.f32_f32", gemm(0.25)),
  "gemm.i2_s_i8_s": spec("gemm.i2_s_i8_s", gemm(0.035), true),
  "gemm.i2_s_f32": spec("gemm.i2_s_f32", gemm(0.15)),
  "get_rows.f32": spec("get_rows.f32", rows(0.3)),
  "get_rows.f16": spec("get_rows.f16", rows(0.3)),
  "get_rows.bf16": spec("get_rows.bf16", rows(0.3)),
  "get_rows.q8_0": spec("get_rows.q8_0", rows(3)),
  "get_rows.q6_k": spec("get_rows.q6_k", rows(5)),
  "rms_norm": spec("rms_norm", rows(1.4)),
  "rope.neox": spec("rope.neox", (a) => 0.3 * a[2] * a[3] * a[5]),
  "rope.norm": spec("rope.norm", (a) => 0.5 * a[2] * a[3] * a[5]),
  "attention": spec("attention", (a) => 0.4 * a[5] * a[7] * (a[6] + a[5]) * a[9]),
  "swiglu": spec("swiglu", elems(4)),
  "relu2_glu": spec("relu2_glu", elems(0.3)),
  "add": spec("add", elems(0.3)),
  "mul_scalar": spec("mul_scalar", elems(0.3)),
  // n is in bytes here: about 16 bytes per ns.
  "copy": spec("copy", (a) => 0.06 * a[2]),
  // --- numerics profile `fast` (issue 14). Costs from kernels_bench.ts (2B4T shapes, one thread).
  "fast.gemm.tq2_0x2_q8_k": spec("fast.gemm.tq2_0x2_q8_k", gemm(0.02), true),
  "fast.gemm.f16_f32": spec("fast.gemm.f16_f32", gemm(0.12), true),
  "fast.gemm.bf16_f32": spec("fast.gemm.bf16_f32", gemm(0.1), true),
  "fast.attention": spec("fast.attention", (a) => 0.1 * a[5] * a[7] * (a[6] + a[5]) * a[9], true),
  "fast.swiglu": spec("fast.swiglu", elems(1), true),
  "fast.repack.tq2_0x2": spec("fast.repack.tq2_0x2", (a) => 0.05 * a[1] * a[2]),
  "fast.repack.tq1_0_tq2_0x2": spec("fast.repack.tq1_0_tq2_0x2", (a) => 0.2 * a[2] * a[3]),
  // --- memory-bandwidth probe of the benchmarks: ~20 GB/s per thread.
  "probe.read": spec("probe.read", (a) => 0.05 * a[1]),
};

/** All kernel ids, in table order. */
export const KERNEL_IDS: readonly KernelId[] = Object.keys(KERNELS) as KernelId[];

/**
 * The host-visible kernel surface of {@linkcode WasmKernels}: one flat byte arena the host reads and writes
 * directly, kernels that run to completion before `run` returns. The engine's backend port
 * (`engine/backends/backend.ts`) is implemented over it by `engine/backends/wasm.ts`.
 */
export interface HostKernels extends Disposable {
  /** Backend id, the first part of recorded kernel ids. */
  readonly id: "wasm";
  /** Threads each kernel call is split across. */
  readonly threads: number;
  /** The arena. Re-read after `alloc` (growing it replaces the buffer object). */
  readonly buffer: ArrayBufferLike;
  /** Bump-allocates `bytes` aligned to `align` (default 64), growing the arena; returns a byte offset, never 0. */
  alloc(bytes: number, align?: number): number;
  /** Runs kernel `id` over all threads; returns when every thread is done. `args` exclude `(ith, nth)`. */
  run(id: KernelId, ...args: number[]): void;
  /** Ids of the kernel variants that executed, in first-run order (`wasm.gemm.tq2_0_q8_k.relaxed`). */
  kernels(): string[];
  /** Releases the backend (workers, memory). */
  close(): void;
}
