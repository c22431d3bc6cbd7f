/**
 * The kernel table of the backend port: every kernel id, its parameters (in call order, before the `(ith, nth)`
 * that a CPU backend appends), where its semantics are defined, and the scratch memory it needs. Every backend
 * (`ref`, `wasm`, `webgpu`) implements these ids with these parameters; the prose definition of each kernel
 * (layouts, float order) is `kernels-wasm/ABI.md`, section "Kernels" and "Precise semantics", and the plain
 * TypeScript definition is `engine/backends/ref.ts`.
 *
 * Parameter conventions: pointers are byte offsets into the backend's arena (never 0), counts are u32, `eps` and
 * `scale` are f32.
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
  | "gemm.i2_s_f32"
  | "get_rows.f32"
  | "get_rows.f16"
  | "get_rows.bf16"
  | "get_rows.q8_0"
  | "get_rows.q6_k"
  | "rms_norm"
  | "rope.neox"
  | "rope.norm"
  | "attention"
  | "swiglu"
  | "relu2_glu"
  | "add"
  | "mul_scalar"
  | "copy"
  // The `fast` numerics profile (issue 14): WebAssembly-native orders, defined in ABI.md "Fast profile".
  | "fast.gemm.tq2_0x2_q8_k"
  | "fast.gemm.f16_f32"
  | "fast.gemm.bf16_f32"
  | "fast.attention"
  | "fast.swiglu"
  | "fast.repack.tq2_0x2"
  | "fast.repack.tq1_0_tq2_0x2"
  // The streaming-read probe of the benchmarks' memory roofline.
  | "probe.read";

/** The sizes a kernel's scratch depends on, given by the caller that allocates it (the largest it will pass). */
export interface ScratchShape {
  /** Most KV cache rows an `attention` call attends over (its `n_ctx` argument). */
  readonly nCtx: number;
  /** Query heads of the `attention` calls (`n_head`); `fast.attention`'s decode keeps a score row per head. */
  readonly nHead?: number;
}

/** One row of the kernel table. */
export interface KernelSpec {
  /** Parameter names in call order (ABI.md), without the `(ith, nth)` CPU backends append. */
  readonly params: readonly string[];
  /** Where the semantics are defined: a section of `kernels-wasm/ABI.md`. */
  readonly semantics: string;
  /**
   * Bytes of scratch a CPU backend with `threads` threads needs for this kernel (passed as its `scratch`
   * argument); absent for kernels without one. Backends answer through `KernelBackend.scratchBytes`.
   */
  readonly scratchBytes?: (shape: ScratchShape, threads: number) => number;
}

const GEMM = ["w", "xq", "y", "n_out", "K", "n_tok"] as const;
const QUANT = ["x", "y", "K", "n_rows"] as const;
const ROWS = ["w", "ids", "y", "K", "n_ids"] as const;
const ROPE = ["x", "cs", "n_tok", "n_head", "head_dim", "n_rot"] as const;
const BINARY = ["a", "b", "y", "n"] as const;
const ABI = "kernels-wasm/ABI.md";

function k(params: readonly string[], section: string, scratchBytes?: KernelSpec["scratchBytes"]): KernelSpec {
  return { params, semantics: `${ABI} ${section}`, ...(scratchBytes ? { scratchBytes } : {}) };
}

/** Every kernel, keyed by id, in table order. */
export const KERNELS: Readonly<Record<KernelId, KernelSpec>> = {
  "quantize.q8_k": k(QUANT, "Data layouts: Q8_K rows; Precise semantics: quantize.q8_k"),
  "quantize.q8_0": k(QUANT, "Data layouts: Q8_0 rows; Precise semantics: quantize.q8_0"),
  "quantize.f16": k(QUANT, "Data layouts: F16 / BF16 rows"),
  "quantize.bf16": k(QUANT, "Data layouts: F16 / BF16 rows"),
  "quantize.i8_s": k(QUANT, "Data layouts: I8_S rows; Precise semantics: quantize.i8_s"),
  "gemm.tq2_0_q8_k": k(GEMM, "Precise semantics: gemm.tq2_0_q8_k"),
  "gemm.tq1_0_q8_k": k(GEMM, "Precise semantics: gemm.tq1_0_q8_k"),
  "gemm.q6_k_q8_k": k(GEMM, "Precise semantics: gemm.q6_k_q8_k"),
  "gemm.q8_0_q8_0": k(GEMM, "Precise semantics: gemm.q8_0_q8_0"),
  "gemm.f16_f16": k(GEMM, "Precise semantics: gemm.f16_f16"),
  "gemm.bf16_bf16": k(GEMM, "Precise semantics: gemm.bf16_bf16"),
  "gemm.f32_f32": k(["w", "x", "y", "n_out", "K", "n_tok"], "Precise semantics: gemm.f32_f32"),
  "gemm.i2_s_i8_s": k(GEMM, "Precise semantics: gemm.i2_s_i8_s"),
  // Float activations (the engine's `activations: "float"`): I2_S weights times unquantized f32 input.
  "gemm.i2_s_f32": k(["w", "x", "y", "n_out", "K", "n_tok"], "Precise semantics: gemm.i2_s_f32"),
  "get_rows.f32": k(ROWS, "Precise semantics: get_rows.*"),
  "get_rows.f16": k(ROWS, "Precise semantics: get_rows.*"),
  "get_rows.bf16": k(ROWS, "Precise semantics: get_rows.*"),
  "get_rows.q8_0": k(ROWS, "Precise semantics: get_rows.*"),
  "get_rows.q6_k": k(ROWS, "Precise semantics: get_rows.*"),
  "rms_norm": k(["x", "w", "y", "K", "n_rows", "eps"], "Precise semantics: rms_norm"),
  "rope.neox": k(ROPE, "Precise semantics: rope.neox"),
  "rope.norm": k(ROPE, "Precise semantics: rope.norm"),
  "attention": k(
    ["q", "k", "v", "out", "scratch", "n_tok", "pos0", "n_head", "n_head_kv", "head_dim", "n_ctx", "scale"],
    "Precise semantics: attention",
    // One row of n_ctx f32 scores per thread (ABI.md: scratch holds nth * n_ctx f32).
    (shape, threads) => 4 * threads * shape.nCtx,
  ),
  "swiglu": k(BINARY, "Precise semantics: swiglu"),
  "relu2_glu": k(BINARY, "Precise semantics: swiglu"),
  "add": k(BINARY, "Kernels"),
  "mul_scalar": k(["x", "s_ptr", "y", "n"], "Kernels"),
  "copy": k(["x", "y", "n"], "Precise semantics: copy"),
  "fast.gemm.tq2_0x2_q8_k": k(GEMM, "Fast profile: fast.gemm.tq2_0x2_q8_k"),
  "fast.gemm.f16_f32": k(["w", "x", "y", "n_out", "K", "n_tok"], "Fast profile: fast.gemm.f16_f32"),
  "fast.gemm.bf16_f32": k(["w", "x", "y", "n_out", "K", "n_tok"], "Fast profile: fast.gemm.f16_f32"),
  "fast.attention": k(
    ["q", "k", "v", "out", "scratch", "n_tok", "pos0", "n_head", "n_head_kv", "head_dim", "n_ctx", "scale"],
    "Fast profile: fast.attention",
    // Prefill: up to 4 rows of n_ctx f32 scores per thread (the query heads of a KV group that share each K/V row
    // read); decode: one row per query head (each thread walks the cache rows for a range of KV heads).
    (shape, threads) => 4 * shape.nCtx * Math.max(4 * threads, shape.nHead ?? 0),
  ),
  "fast.swiglu": k(BINARY, "Fast profile: fast.swiglu"),
  "fast.repack.tq2_0x2": k(["w", "n_out", "K"], "Fast profile: TQ2_0x2"),
  "fast.repack.tq1_0_tq2_0x2": k(["src", "dst", "n_out", "K"], "Fast profile: TQ2_0x2"),
  "probe.read": k(["x", "n", "out"], "Fast profile: probe.read"),
};

/** All kernel ids, in table order. */
export const KERNEL_IDS: readonly KernelId[] = Object.keys(KERNELS) as KernelId[];

/**
 * Check a kernel call against the table: a known id and the table's argument count.
 *
 * @param backend Backend id, for the message (`ref`).
 * @param id Kernel id.
 * @param args Arguments without `(ith, nth)`.
 * @returns The kernel's table row.
 * @throws {RangeError} For an unknown id or a wrong argument count; the message names the parameters.
 * @example
 * ```ts
 * import { checkKernelCall } from "./kernel_table.ts";
 * console.log(checkKernelCall("ref", "add", [64, 128, 192, 4]).params); // ["a", "b", "y", "n"]
 * ```
 */
export function checkKernelCall(backend: string, id: KernelId, args: readonly number[]): KernelSpec {
  const spec = KERNELS[id];
  if (spec === undefined) {
    throw new RangeError(`Cannot run kernel "${id}" on the ${backend} backend: unknown id. Use one of ${KERNEL_IDS}`);
  }
  if (args.length !== spec.params.length) {
    throw new RangeError(
      `Cannot run kernel ${id} on the ${backend} backend: got ${args.length} arguments, expected ` +
        `${spec.params.length} (${spec.params.join(", ")}; see ${spec.semantics})`,
    );
  }
  return spec;
}

/**
 * Scratch bytes of a kernel for a CPU backend with `threads` threads (0 for kernels without scratch).
 *
 * @param id Kernel id.
 * @param shape The largest sizes the caller will pass.
 * @param threads The backend's threads.
 * @returns Bytes to allocate for the kernel's `scratch` argument.
 * @example
 * ```ts
 * import { cpuScratchBytes } from "./kernel_table.ts";
 * console.log(cpuScratchBytes("attention", { nCtx: 512 }, 2)); // 4096
 * ```
 */
export function cpuScratchBytes(id: KernelId, shape: ScratchShape, threads: number): number {
  return KERNELS[id].scratchBytes?.(shape, threads) ?? 0;
}
