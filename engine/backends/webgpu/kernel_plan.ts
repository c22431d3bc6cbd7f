/**
 * How a WGSL kernel is described to the WebGPU backend: its source (after the shared prelude), how many storage
 * bindings it has, and a pure `plan` that turns the kernel table's arguments into dispatches: the arena region each
 * binding must cover, the values of its parameter slots, and the size of its grid. Plans split a call into several
 * dispatches where one binding would exceed the adapter's `maxStorageBufferBindingSize` (the tied output matrix of a
 * 2B model is 656 MB in F16), and check the kernel's preconditions, naming the argument that breaks them.
 *
 * @module
 */

import type { KernelId } from "../kernel_table.ts";
import type { WgslMathOptions } from "./wgsl_math.ts";

/** A byte range of the arena a binding must cover. */
export interface Region {
  /** Arena pointer (byte offset). */
  readonly ptr: number;
  /** Bytes the kernel may touch from `ptr` (0 binds nothing useful but keeps the layout). */
  readonly bytes: number;
}

/** One dispatch of a kernel. */
export interface DispatchPlan {
  /** One region per storage binding, in binding order. */
  readonly regions: readonly Region[];
  /** u32 values of the argument slots (from `SLOT.args` on); f32 values as their bits ({@link f32Bits}). */
  readonly args: readonly number[];
  /** Workgroups of the linear grid (folded over x and z by the backend). */
  readonly groups: number;
  /** Workgroups along y (token tiles); default 1. */
  readonly groupsY?: number;
  /** Pipeline variant (recorded as `webgpu.<id>.<variant>`). */
  readonly variant: string;
}

/** What a plan may depend on besides the arguments. */
export interface PlanContext {
  /** Largest region one binding may cover (the adapter's `maxStorageBufferBindingSize`, aligned down). */
  readonly maxRegionBytes: number;
  /** Bytes from `ptr` to the end of the allocation that holds it (for tensors whose row count is not an argument). */
  readonly extentOf: (ptr: number) => number;
}

/** A WGSL kernel implementing one id of the kernel table. */
export interface GpuKernel {
  /** The kernel table id. */
  readonly id: KernelId;
  /** Storage bindings (`@group(0) @binding(0..n-1)`). */
  readonly bindings: number;
  /**
   * WGSL source of `variant` after the prelude: the bindings and the `main` entry point.
   *
   * @param variant A variant its plans return.
   * @param math The prelude options (some kernels specialise on them).
   */
  source(variant: string, math: WgslMathOptions): string;
  /**
   * Dispatches for one call.
   *
   * @throws {RangeError} When an argument breaks the kernel's preconditions.
   */
  plan(args: readonly number[], ctx: PlanContext): DispatchPlan[];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The bits of an f32 (for parameter slots).
 *
 * @param x A number (rounded to f32).
 * @returns Its IEEE-754 binary32 bits.
 * @example
 * ```ts
 * import { f32Bits } from "./kernel_plan.ts";
 * console.log(f32Bits(1).toString(16)); // "3f800000"
 * ```
 */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/**
 * Throw a RangeError for a kernel precondition.
 *
 * @param id The kernel.
 * @param what What is wrong, with the values.
 * @param fix What the caller must do.
 * @throws {RangeError} Always.
 */
export function reject(id: KernelId, what: string, fix: string): never {
  throw new RangeError(`Cannot run kernel ${id} on the webgpu backend: ${what}. ${fix}`);
}

/**
 * Check that pointers are multiples of `align` (the kernel reads them as f32 or u32 words).
 *
 * @param id The kernel.
 * @param names Parameter names.
 * @param values Their values.
 * @param align Required alignment in bytes.
 * @throws {RangeError} Naming the first misaligned pointer.
 */
export function requireAligned(id: KernelId, names: readonly string[], values: readonly number[], align = 4): void {
  for (let i = 0; i < names.length; i++) {
    if (values[i] % align !== 0) {
      reject(id, `${names[i]} = ${values[i]} is not a multiple of ${align}`, `Pass ${align}-byte aligned pointers`);
    }
  }
}
