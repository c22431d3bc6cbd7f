/**
 * The type -> kernels table: for each weight type the engine multiplies or looks rows up in, which kernels do it
 * (the activation quantizer of the type's dot product, the matmul, the embedding row lookup, and the load-time
 * repacking of the weights into the layout the matmul reads), per numerics profile; and the profile's kernels that
 * do not depend on a weight type (attention, SwiGLU). The model (`engine/model/graph.ts`) and the kernel benchmark
 * (`bench/kernels_bench.ts`) both read it, so a format's kernels are named once. The activation format and its row
 * size come from the type table (`engine/quant/ggml_type.ts`).
 *
 * Profiles (kernels-wasm/ABI.md "Precise semantics" and "Fast profile", docs/performance.md):
 * - `exact`: llama.cpp's x86 float order, bit for bit (ggml-cpu's vec_dot kernels per type, bitnet.cpp's I2_S).
 * - `fast`: WebAssembly-native numerics: TQ2_0 and TQ1_0 weights repacked at load into the row-pair layout
 *   TQ2_0x2 with integer lanes as wide as the dot product gives them, F16/BF16 output matrices multiplied with f32
 *   activations (no F16 rounding of the input) with fused multiply-adds where the CPU has them, attention and
 *   SwiGLU with native multiply-adds. Types without a fast kernel (I2_S, Q6_K, Q8_0, F32) keep the exact one.
 *
 * @module
 */

import {
  type ActivationFormat,
  activationRowBytes,
  GgmlType,
  type GgmlTypeId,
  ggmlTypeInfo,
  ggmlTypeName,
} from "../quant/ggml_type.ts";
import type { KernelId } from "./kernel_table.ts";

/**
 * A kernel set: `exact` reproduces llama.cpp's x86 float order bit for bit (kernels-wasm/ABI.md "Precise
 * semantics"); `fast` uses WebAssembly-native orders and layouts (ABI.md "Fast profile").
 */
export type NumericsProfile = "exact" | "fast";

/** Every {@link NumericsProfile}, for flag validation (`--numerics`). */
export const NUMERICS_PROFILES: readonly NumericsProfile[] = ["exact", "fast"];

/**
 * Whether `s` names a numerics profile.
 *
 * @param s A flag value.
 * @returns True for `exact` and `fast`.
 * @example
 * ```ts
 * import { isNumericsProfile } from "./type_kernels.ts";
 * console.log(isNumericsProfile("fast"), isNumericsProfile("turbo")); // true false
 * ```
 */
export function isNumericsProfile(s: unknown): s is NumericsProfile {
  return typeof s === "string" && (NUMERICS_PROFILES as readonly string[]).includes(s);
}

/**
 * A load-time rewrite of a weight tensor into the layout its matmul reads (the file stays the source of truth;
 * the rewrite is lossless and deterministic).
 */
export interface WeightRepack {
  /** The kernel: in place `(w, n_out, K)`, or from a staging copy of the file's bytes `(src, dst, n_out, K)`. */
  readonly kernel: KernelId;
  /** True when the kernel rewrites the tensor where it lies. */
  readonly inPlace: boolean;
  /**
   * Bytes of the repacked `[n_out][K]` tensor in the arena.
   *
   * @param nOut Rows.
   * @param k Values per row.
   */
  bytes(nOut: number, k: number): number;
  /**
   * True when the layout interleaves rows in pairs: matrices placed back to back then form one matrix of the
   * same layout only if every part but the last has an even row count.
   */
  readonly rowPairs: boolean;
}

/** The kernels of one weight type. */
export interface TypeKernels {
  /** GGML type id of the weights. */
  readonly type: GgmlTypeId;
  /** The activation format its dot product consumes. */
  readonly activation: ActivationFormat;
  /** Kernel quantizing f32 activations to that format; undefined when the matmul reads f32 (F32 weights). */
  readonly quantize: KernelId | undefined;
  /** The matmul: `w [N][K]` x activations `[T][K]` -> f32 `[T][N]`. */
  readonly gemm: KernelId;
  /** The embedding row lookup for this type, when there is one. */
  readonly getRows: KernelId | undefined;
  /** The load-time repacking the matmul needs, when it reads another layout than the file's. */
  readonly repack: WeightRepack | undefined;
  /**
   * Bytes of one quantized activation row of `k` values (4k for f32 input).
   *
   * @param k Values per row.
   */
  actRowBytes(k: number): number;
}

const QUANTIZE: Readonly<Record<ActivationFormat, KernelId | undefined>> = {
  f32: undefined,
  f16: "quantize.f16",
  bf16: "quantize.bf16",
  q8_0: "quantize.q8_0",
  q8_k: "quantize.q8_k",
  i8_s: "quantize.i8_s",
};

// The exact profile: ggml-cpu's vec_dot kernels per type (arch/x86/quants.c, vec.cpp) and bitnet.cpp's I2_S.
const EXACT: ReadonlyArray<readonly [GgmlTypeId, KernelId, KernelId | undefined]> = [
  [GgmlType.TQ2_0, "gemm.tq2_0_q8_k", undefined],
  [GgmlType.TQ1_0, "gemm.tq1_0_q8_k", undefined],
  [GgmlType.I2_S, "gemm.i2_s_i8_s", undefined],
  [GgmlType.Q6_K, "gemm.q6_k_q8_k", "get_rows.q6_k"],
  [GgmlType.Q8_0, "gemm.q8_0_q8_0", "get_rows.q8_0"],
  [GgmlType.F16, "gemm.f16_f16", "get_rows.f16"],
  [GgmlType.BF16, "gemm.bf16_bf16", "get_rows.bf16"],
  [GgmlType.F32, "gemm.f32_f32", "get_rows.f32"],
];

// TQ2_0x2 (ABI.md "Fast profile: TQ2_0x2"): TQ2_0 blocks (66 bytes per 256 weights), rows interleaved in pairs.
const TQ2_0X2_BYTES = (nOut: number, k: number): number => nOut * (k / 256) * 66;

// The fast profile: the row-pair ternary GEMM for both TQ formats (TQ1_0 is rewritten into TQ2_0x2 at load,
// 66 instead of 54 bytes per block), the f32-activation F16/BF16 GEMV; the exact kernels for the other types.
const FAST: ReadonlyArray<readonly [GgmlTypeId, KernelId, KernelId | undefined, WeightRepack?, ActivationFormat?]> = [
  [GgmlType.TQ2_0, "fast.gemm.tq2_0x2_q8_k", undefined, {
    kernel: "fast.repack.tq2_0x2",
    inPlace: true,
    bytes: TQ2_0X2_BYTES,
    rowPairs: true,
  }],
  [GgmlType.TQ1_0, "fast.gemm.tq2_0x2_q8_k", undefined, {
    kernel: "fast.repack.tq1_0_tq2_0x2",
    inPlace: false,
    bytes: TQ2_0X2_BYTES,
    rowPairs: true,
  }],
  [GgmlType.I2_S, "gemm.i2_s_i8_s", undefined],
  [GgmlType.Q6_K, "gemm.q6_k_q8_k", "get_rows.q6_k"],
  [GgmlType.Q8_0, "gemm.q8_0_q8_0", "get_rows.q8_0"],
  [GgmlType.F16, "fast.gemm.f16_f32", "get_rows.f16", undefined, "f32"],
  [GgmlType.BF16, "fast.gemm.bf16_f32", "get_rows.bf16", undefined, "f32"],
  [GgmlType.F32, "gemm.f32_f32", "get_rows.f32"],
];

function row(
  type: GgmlTypeId,
  gemm: KernelId,
  getRows: KernelId | undefined,
  repack?: WeightRepack,
  act?: ActivationFormat,
): TypeKernels {
  const activation = act ?? ggmlTypeInfo(type)!.activation!;
  return {
    type,
    activation,
    quantize: QUANTIZE[activation],
    gemm,
    getRows,
    repack,
    actRowBytes: (k) => activationRowBytes(activation, k),
  };
}

/** Every weight type's kernels, per profile. */
export const TYPE_KERNELS: Readonly<Record<NumericsProfile, ReadonlyMap<GgmlTypeId, TypeKernels>>> = {
  exact: new Map(EXACT.map(([t, g, r]) => [t, row(t, g, r)])),
  fast: new Map(FAST.map(([t, g, r, p, a]) => [t, row(t, g, r, p, a)])),
};

/** The kernels of a profile that do not depend on a weight type. */
export interface ProfileKernels {
  /** Causal GQA attention over the KV cache (same parameters in every profile). */
  readonly attention: KernelId;
  /** `silu(g) * u`. */
  readonly swiglu: KernelId;
}

/** The type-independent kernels, per profile. */
export const PROFILE_KERNELS: Readonly<Record<NumericsProfile, ProfileKernels>> = {
  exact: { attention: "attention", swiglu: "swiglu" },
  fast: { attention: "fast.attention", swiglu: "fast.swiglu" },
};

/**
 * The kernels of a weight type.
 *
 * @param type GGML type id.
 * @param profile Numerics profile (default `exact`).
 * @returns The type's kernels.
 * @throws {RangeError} When the engine has no matmul for the type; the message lists the types it has.
 * @example
 * ```ts
 * import { typeKernels } from "./type_kernels.ts";
 * import { GgmlType } from "../quant/ggml_type.ts";
 * const k = typeKernels(GgmlType.TQ2_0);
 * console.log(k.quantize, k.gemm, k.actRowBytes(512) === 2 * k.actRowBytes(256)); // quantize.q8_k gemm.tq2_0_q8_k true
 * ```
 */
export function typeKernels(type: GgmlTypeId, profile: NumericsProfile = "exact"): TypeKernels {
  const k = TYPE_KERNELS[profile].get(type);
  if (k) return k;
  const have = [...TYPE_KERNELS[profile].keys()].map(ggmlTypeName).join(", ");
  throw new RangeError(
    `No ${profile} kernels for weight type ${ggmlTypeName(type)} (id ${type}): the engine multiplies ${have}. ` +
      `Convert the tensor to one of these types.`,
  );
}
