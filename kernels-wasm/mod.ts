/**
 * WebAssembly SIMD kernels for the BitNet engine: the `wasm` kernel backend of ABI.md, built from the Rust
 * crate in `src/` (the compiled modules are committed next to this file), with a shared-memory worker
 * pool.
 *
 * @example
 * ```ts
 * import { WasmKernels } from "./mod.ts";
 * using k = await WasmKernels.create();
 * console.log(k.threads >= 1, k.flavor);
 * ```
 *
 * @module
 */

export { WasmKernels, type WasmKernelsOptions } from "./wasm_kernels.ts";
export { type HostKernels, KERNEL_IDS, type KernelId, KERNELS, type KernelSpec } from "./kernel_table.ts";
export { detectFeatures, type Flavor, type WasmFeatures } from "./_load.ts";
