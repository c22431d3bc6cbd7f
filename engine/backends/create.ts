/**
 * {@link createBackend}: pick a kernel backend by name. The WASM backend is imported dynamically, so code that only
 * uses `ref` never loads the WebAssembly module or starts workers.
 *
 * @module
 */

import type { BackendKind, KernelBackend } from "./backend.ts";
import { RefBackend } from "./ref.ts";

/** Options of {@link createBackend}. */
export interface CreateBackendOptions {
  /** Threads; default: the core count (`navigator.hardwareConcurrency`) for wasm, 1 for ref. */
  readonly threads?: number;
}

/** Default thread count: the number of logical cores. */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Create a kernel backend.
 *
 * @param kind `"wasm"` (Rust -> WASM SIMD128 kernels with a worker pool) or `"ref"` (plain TypeScript).
 * @param opts Thread count.
 * @returns The backend; close it (or `using`) to stop its workers.
 * @throws {RangeError} For an unknown backend name or a bad thread count.
 * @example
 * ```ts
 * import { createBackend } from "./create.ts";
 * using be = await createBackend("ref");
 * console.log(be.id, be.threads); // ref 1
 * ```
 */
export async function createBackend(kind: BackendKind, opts: CreateBackendOptions = {}): Promise<KernelBackend> {
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw new RangeError(`Cannot create the ${kind} backend with threads=${opts.threads}: pass a positive integer`);
  }
  switch (kind) {
    case "ref":
      return RefBackend.create({ threads: opts.threads ?? 1 });
    case "wasm": {
      const { WasmKernels } = await import("../../kernels-wasm/mod.ts");
      return await WasmKernels.create({ threads: opts.threads ?? defaultThreads() });
    }
    default:
      throw new RangeError(`Unknown backend "${kind as string}": expected "wasm" or "ref"`);
  }
}
