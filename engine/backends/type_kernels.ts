/**
 * The type -> kernels table: for each weight type the engine multiplies or looks rows up in, which kernels do it
 * (the activation quantizer of the type's dot product, the matmul, the embedding row lookup), per numerics
 * profile. The model (`engine/model/graph.ts`) and the kernel benchmark (`bench/kernels_bench.ts`) both read it,
 * so a format's kernels are named once. The activation format and its row size come from the type table
 * (`engine/quant/ggml_type.ts`).
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
 * semantics"); other profiles add their own kernel ids.
 */
export type NumericsProfile = "exact";

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

function row(type: GgmlTypeId, gemm: KernelId, getRows: KernelId | undefined): TypeKernels {
  const activation = ggmlTypeInfo(type)!.activation!;
  return {
    type,
    activation,
    quantize: QUANTIZE[activation],
    gemm,
    getRows,
    actRowBytes: (k) => activationRowBytes(activation, k),
  };
}

/** Every weight type's kernels, per profile. */
export const TYPE_KERNELS: Readonly<Record<NumericsProfile, ReadonlyMap<GgmlTypeId, TypeKernels>>> = {
  exact: new Map(EXACT.map(([t, g, r]) => [t, row(t, g, r)])),
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
