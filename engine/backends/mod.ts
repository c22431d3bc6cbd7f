/**
 * Kernel backends: the port (`KernelBackend`), the kernel table, the recorder, the plain TypeScript reference
 * backend, the WASM backend and the factory.
 *
 * @module
 */
export { BACKEND_KINDS, type BackendKind, isBackendKind, type KernelBackend } from "./backend.ts";
export {
  checkKernelCall,
  cpuScratchBytes,
  KERNEL_IDS,
  type KernelId,
  KERNELS,
  type KernelSpec,
  type ScratchShape,
} from "./kernel_table.ts";
export {
  ACTIVATION_PRECISIONS,
  type ActivationPrecision,
  isActivationPrecision,
  kernelsAt,
} from "./activation_precision.ts";
export { type KernelRecord, KernelRecorder } from "./recorder.ts";
export { RefBackend, type RefBackendOptions } from "./ref.ts";
export { WasmBackend } from "./wasm.ts";
export {
  isNumericsProfile,
  NUMERICS_PROFILES,
  type NumericsProfile,
  PROFILE_KERNELS,
  type ProfileKernels,
  TYPE_KERNELS,
  type TypeKernels,
  typeKernels,
  type WeightRepack,
} from "./type_kernels.ts";
export { createBackend, type CreateBackendOptions, MAX_THREADS, resolveThreads } from "./create.ts";
