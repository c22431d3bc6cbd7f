/**
 * The WebGPU kernel table: one {@link GpuKernel} per id of the engine's kernel table (`../kernel_table.ts`).
 *
 * @module
 */

import type { KernelId } from "../kernel_table.ts";
import type { GpuKernel } from "./kernel_plan.ts";
import { ATTENTION } from "./kernels_attention.ts";
import {
  GEMM_BF16,
  GEMM_F16,
  GEMM_F32,
  GEMM_I2_S,
  GEMM_Q6_K,
  GEMM_Q8_0,
  GEMM_TQ1_0,
  GEMM_TQ2_0,
} from "./kernels_gemm.ts";
import { GEMM_I2_S_F32 } from "./kernels_i2s_f32.ts";
import { ADD, COPY, GET_ROWS, MUL_SCALAR, RELU2_GLU, RMS_NORM, ROPE, SWIGLU } from "./kernels_ops.ts";
import { REFUSED } from "./kernels_refused.ts";
import { QUANTIZE_BF16, QUANTIZE_F16, QUANTIZE_I8_S, QUANTIZE_Q8_0, QUANTIZE_Q8_K } from "./kernels_quantize.ts";

/** Every kernel id with its WGSL kernel, or its refusal (`kernels_refused.ts`). */
export const GPU_KERNELS: Readonly<Record<KernelId, GpuKernel>> = Object.fromEntries(
  [
    QUANTIZE_Q8_K,
    QUANTIZE_Q8_0,
    QUANTIZE_F16,
    QUANTIZE_BF16,
    QUANTIZE_I8_S,
    GEMM_TQ2_0,
    GEMM_TQ1_0,
    GEMM_Q6_K,
    GEMM_Q8_0,
    GEMM_F16,
    GEMM_BF16,
    GEMM_F32,
    GEMM_I2_S,
    GEMM_I2_S_F32,
    ...GET_ROWS,
    RMS_NORM,
    ...ROPE,
    ATTENTION,
    SWIGLU,
    RELU2_GLU,
    ADD,
    MUL_SCALAR,
    COPY,
    ...REFUSED,
  ].map((k) => [k.id, k]),
) as Record<KernelId, GpuKernel>;
