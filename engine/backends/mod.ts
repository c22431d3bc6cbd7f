/**
 * Kernel backends: the ABI interface, the plain TypeScript reference backend and the factory.
 *
 * @module
 */
export { type BackendKind, KERNEL_IDS, type KernelBackend, type KernelId } from "./backend.ts";
export { RefBackend, type RefBackendOptions } from "./ref.ts";
export { createBackend, type CreateBackendOptions, defaultThreads } from "./create.ts";
