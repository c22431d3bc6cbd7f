/**
 * The activation precision of the ternary matmuls: `int8` (the default) quantizes each projection's input as the
 * weight type's dot product does (I2_S: per token to int8, as BitNet b1.58 was trained and as bitnet.cpp computes
 * it, `quantize_row_i8_s`; TQ1_0/TQ2_0: per 256-block to Q8_K, as llama.cpp does); `float` multiplies the ternary
 * weights by the unquantized f32 input. `float` is what a reference computes that keeps activations in float
 * (ik_llama.cpp on a lossless F32 transcode), so a parity run against it compares like with like and its gates
 * can be tight (docs/parity.md, "References"). Only the ternary projections change: the output matmul keeps the
 * activation format of its weight type in both precisions (an F16 `token_embd` takes F16 input either way).
 *
 * @module
 */

import { GgmlType, type GgmlTypeId, ggmlTypeName } from "../quant/ggml_type.ts";
import type { KernelId } from "./kernel_table.ts";
import { type NumericsProfile, type TypeKernels, typeKernels } from "./type_kernels.ts";

/** How the ternary projections take their input: quantized to 8 bits, or in f32. */
export type ActivationPrecision = "int8" | "float";

/** Every precision, default first. */
export const ACTIVATION_PRECISIONS: readonly ActivationPrecision[] = ["int8", "float"];

/** Ternary weight types and their matmul with unquantized f32 activations. */
const FLOAT_GEMM: ReadonlyMap<GgmlTypeId, KernelId> = new Map([[GgmlType.I2_S, "gemm.i2_s_f32"]]);

/** Ternary weight types (those whose activations the precision decides). */
const TERNARY: ReadonlySet<GgmlTypeId> = new Set([GgmlType.I2_S, GgmlType.TQ1_0, GgmlType.TQ2_0]);

/**
 * Whether `s` names a precision.
 *
 * @param s A string (a CLI flag's value).
 * @returns True for `int8` and `float`.
 * @example
 * ```ts
 * import { isActivationPrecision } from "./activation_precision.ts";
 * console.log(isActivationPrecision("float"), isActivationPrecision("fp8")); // true false
 * ```
 */
export function isActivationPrecision(s: string): s is ActivationPrecision {
  return (ACTIVATION_PRECISIONS as readonly string[]).includes(s);
}

/**
 * The kernels of a weight type at an activation precision.
 *
 * @param type GGML type id.
 * @param precision `int8` (the type's own activation format) or `float` (ternary types: f32 input, no quantizer).
 * @param profile Numerics profile of the int8 kernels (default `exact`).
 * @returns The kernels; for non-ternary types the same in both precisions.
 * @throws {RangeError} When `float` is asked for a ternary type without an f32-input matmul (TQ1_0, TQ2_0): the
 *   message names the type and the fix.
 * @example
 * ```ts
 * import { kernelsAt } from "./activation_precision.ts";
 * import { GgmlType } from "../quant/ggml_type.ts";
 * console.log(kernelsAt(GgmlType.I2_S, "int8").gemm, kernelsAt(GgmlType.I2_S, "float").gemm); // gemm.i2_s_i8_s gemm.i2_s_f32
 * ```
 */
export function kernelsAt(
  type: GgmlTypeId,
  precision: ActivationPrecision,
  profile: NumericsProfile = "exact",
): TypeKernels {
  const base = typeKernels(type, profile);
  if (precision === "int8" || !TERNARY.has(type)) return base;
  const gemm = FLOAT_GEMM.get(type);
  if (gemm === undefined) {
    throw new RangeError(
      `No float-activation matmul for ${ggmlTypeName(type)} weights: the engine multiplies unquantized activations ` +
        `only with ${[...FLOAT_GEMM.keys()].map(ggmlTypeName).join(", ")}. Use activations "int8", or convert the ` +
        `model losslessly first (crossval convert IN --to i2_s --out OUT).`,
    );
  }
  return {
    type,
    activation: "f32",
    quantize: undefined,
    gemm,
    getRows: base.getRows,
    repack: undefined,
    actRowBytes: (k) => 4 * k,
  };
}
