/**
 * The kernel table shared with the engine (see `kernels-wasm/ABI.md`): kernel ids, their parameters (before
 * the `(ith, nth)` that the backend appends), and the `KernelBackend` interface every backend implements.
 *
 * @module
 */

/** Ids of the kernels of ABI.md. */
export type KernelId =
  | "quantize.q8_k"
  | "quantize.q8_0"
  | "quantize.f16"
  | "quantize.bf16"
  | "quantize.i8_s"
  | "gemm.tq2_0_q8_k"
  | "gemm.tq1_0_q8_k"
  | "gemm.q6_k_q8_k"
  | "gemm.q8_0_q8_0"
  | "gemm.f16_f16"
  | "gemm.bf16_bf16"
  | "gemm.f32_f32"
  | "gemm.i2_s_i8_s"
  | "get_rows.f32"
  | "get_rows.f16"
  | "get_rows.bf16"
  | "get_rows.q8_0"
  | "get_rows.q6_k"
  | "rms_norm"
  | "rope.neox"
  | "attention"
  | "swiglu"
  | "relu2_glu"
  | "add"
  | "mul_scalar"
  // --- numerics profile `fast` (issue 14): kernels.wasm's own orders, defined in kernels-wasm/ABI.md "Fast profile".
  | "fast.gemm.tq2_0x2_q8_k"
  | "fast.gemm.f16_f32"
  | "fast.gemm.bf16_f32"
  | "fast.attention"
  | "fast.swiglu"
  | "fast.repack.tq2_0x2"
  | "fast.repack.tq1_0_tq2_0x2"
  // --- memory-bandwidth probe of the benchmarks (issue 14).
  | "probe.read";

/** One row of the kernel table. */
export interface KernelSpec {
  /** Parameter names in call order (pointers are byte offsets, counts u32, `eps`/`scale` f32). */
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

const GEMM = ["w", "xq", "y", "n_out", "K", "n_tok"] as const;
const QUANT = ["x", "y", "K", "n_rows"] as const;
const ROWS = ["w", "ids", "y", "K", "n_ids"] as const;

function spec(
  id: KernelId,
  params: readonly string[],
  costNs: (a: readonly number[]) => number,
  relaxed = false,
): KernelSpec {
  return { params, exportName: id.replaceAll(".", "_"), relaxed, costNs };
}

// Per-element costs in ns, single thread (kernels_bench.ts: quantize.q8_k 2560 = 2.1 us, rms_norm 2560 =
// 3.6 us, swiglu 6912 = 27 us; GEMV TQ2_0 ~30 G weights/s, F16 ~5 G/s).
const rows = (ns: number) => (a: readonly number[]) => ns * a[2] * a[3];
const elems = (ns: number) => (a: readonly number[]) => ns * a[3];
const gemm = (ns: number) => (a: readonly number[]) => ns * a[3] * a[4] * a[5];

/** Every kernel of ABI.md, keyed by id. */
export const KERNELS: Readonly<Record<KernelId, KernelSpec>> = {
  "quantize.q8_k": spec("quantize.q8_k", QUANT, rows(0.8)),
  "quantize.q8_0": spec("quantize.q8_0", QUANT, rows(0.8)),
  "quantize.f16": spec("quantize.f16", QUANT, rows(0.5)),
  "quantize.bf16": spec("quantize.bf16", QUANT, rows(0.5)),
  "quantize.i8_s": spec("quantize.i8_s", QUANT, rows(0.8)),
  "gemm.tq2_0_q8_k": spec("gemm.tq2_0_q8_k", GEMM, gemm(0.035), true),
  "gemm.tq1_0_q8_k": spec("gemm.tq1_0_q8_k", GEMM, gemm(0.1), true),
  "gemm.q6_k_q8_k": spec("gemm.q6_k_q8_k", GEMM, gemm(0.3)),
  "gemm.q8_0_q8_0": spec("gemm.q8_0_q8_0", GEMM, gemm(0.15)),
  "gemm.f16_f16": spec("gemm.f16_f16", GEMM, gemm(0.2)),
  "gemm.bf16_bf16": spec("gemm.bf16_bf16", GEMM, gemm(0.2)),
  "gemm.f32_f32": spec("gemm.f32_f32", GEMM, gemm(0.25)),
  "gemm.i2_s_i8_s": spec("gemm.i2_s_i8_s", GEMM, gemm(0.035), true),
  "get_rows.f32": spec("get_rows.f32", ROWS, rows(0.3)),
  "get_rows.f16": spec("get_rows.f16", ROWS, rows(0.3)),
  "get_rows.bf16": spec("get_rows.bf16", ROWS, rows(0.3)),
  "get_rows.q8_0": spec("get_rows.q8_0", ROWS, rows(3)),
  "get_rows.q6_k": spec("get_rows.q6_k", ROWS, rows(5)),
  "rms_norm": spec("rms_norm", ["x", "w", "y", "K", "n_rows", "eps"], rows(1.4)),
  "rope.neox": spec("rope.neox", ["x", "cs", "n_tok", "n_head", "head_dim", "n_rot"], (a) => 0.3 * a[2] * a[3] * a[5]),
  "attention": spec("attention", [
    "q",
    "k",
    "v",
    "out",
    "scratch",
    "n_tok",
    "pos0",
    "n_head",
    "n_head_kv",
    "head_dim",
    "n_ctx",
    "scale",
  ], (a) => 0.4 * a[5] * a[7] * (a[6] + a[5]) * a[9]),
  "swiglu": spec("swiglu", ["g", "u", "y", "n"], elems(4)),
  "relu2_glu": spec("relu2_glu", ["g", "u", "y", "n"], elems(0.3)),
  "add": spec("add", ["a", "b", "y", "n"], elems(0.3)),
  "mul_scalar": spec("mul_scalar", ["x", "s_ptr", "y", "n"], elems(0.3)),
  // --- numerics profile `fast` (issue 14). Costs from kernels_bench.ts (2B4T shapes, one thread).
  "fast.gemm.tq2_0x2_q8_k": spec("fast.gemm.tq2_0x2_q8_k", GEMM, gemm(0.02), true),
  "fast.gemm.f16_f32": spec("fast.gemm.f16_f32", ["w", "x", "y", "n_out", "K", "n_tok"], gemm(0.12), true),
  "fast.gemm.bf16_f32": spec("fast.gemm.bf16_f32", ["w", "x", "y", "n_out", "K", "n_tok"], gemm(0.1), true),
  "fast.attention": spec("fast.attention", [
    "q",
    "k",
    "v",
    "out",
    "scratch",
    "n_tok",
    "pos0",
    "n_head",
    "n_head_kv",
    "head_dim",
    "n_ctx",
    "scale",
  ], (a) => 0.1 * a[5] * a[7] * (a[6] + a[5]) * a[9], true),
  "fast.swiglu": spec("fast.swiglu", ["g", "u", "y", "n"], elems(1), true),
  "fast.repack.tq2_0x2": spec("fast.repack.tq2_0x2", ["w", "n_out", "K"], (a) => 0.05 * a[1] * a[2]),
  "fast.repack.tq1_0_tq2_0x2": spec("fast.repack.tq1_0_tq2_0x2", ["src", "dst", "n_out", "K"], (a) => 0.2 * a[2] * a[3]),
  // --- memory-bandwidth probe of the benchmarks (issue 14): ~20 GB/s per thread.
  "probe.read": spec("probe.read", ["x", "n", "out"], (a) => 0.05 * a[1]),
};

/** All kernel ids, in table order. */
export const KERNEL_IDS: readonly KernelId[] = Object.keys(KERNELS) as KernelId[];

/**
 * A kernel backend over one flat byte arena (ABI.md "Backend surface"). `ref` is plain TypeScript
 * (engine/backends), `wasm` is {@linkcode WasmKernels}.
 */
export interface KernelBackend extends Disposable {
  /** Backend id, the first part of recorded kernel ids. */
  readonly id: "ref" | "wasm";
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
