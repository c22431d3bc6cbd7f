/**
 * The kernel backend interface of `kernels-wasm/ABI.md`, as the engine sees it: re-exported from the kernel table
 * that `kernels-wasm/` defines (one definition for both backends), plus the backend names the engine creates.
 * Every backend (`ref` in plain TypeScript, `wasm` from `kernels-wasm/`) exposes the same kernels over one flat byte
 * arena, so the forward pass in `engine/model/` is written once.
 *
 * @module
 */

export { KERNEL_IDS, type KernelBackend, type KernelId } from "../../kernels-wasm/kernel_table.ts";

/** Backend names the engine can create. */
export type BackendKind = "ref" | "wasm";
