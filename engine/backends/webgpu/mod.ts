/**
 * The WebGPU kernel backend: adapter discovery ({@link describeWebGpu}), the device ({@link WebGpuDevice}), the
 * backend ({@link WebGpuBackend}) and its WGSL kernel table.
 *
 * @module
 */
export {
  describeWebGpu,
  WebGpuDevice,
  WebGpuError,
  type WebGpuLimits,
  type WebGpuOpenOptions,
  type WebGpuProbe,
  type WebGpuReport,
  withTimeout,
} from "./device.ts";
export { WebGpuBackend, type WebGpuBackendOptions, type WebGpuStats } from "./webgpu_backend.ts";
export { GPU_KERNELS } from "./kernels.ts";
export type { DispatchPlan, GpuKernel, PlanContext, Region } from "./kernel_plan.ts";
export { ChunkedArena } from "./arena.ts";
