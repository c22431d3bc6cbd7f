/**
 * {@link createBackend}: pick a kernel backend by name, and {@link resolveThreads}: the one place where a thread
 * count is defaulted and validated (the CLI, the engine, the benchmarks and the backends all go through it). The
 * backends are imported when created, so code that only uses `ref` never loads the WebAssembly module or starts
 * workers (and the backends can call {@link resolveThreads} themselves).
 *
 * @module
 */

import type { BackendKind, KernelBackend } from "./backend.ts";

/** Most threads a backend accepts (the WASM worker pool's control block has 256 slots). */
export const MAX_THREADS = 256;

/** Options of {@link createBackend}. */
export interface CreateBackendOptions {
  /** Threads; default from {@link resolveThreads}. */
  readonly threads?: number;
}

/**
 * The thread count a backend runs with: `threads` when given, else the default of that backend (`wasm`: the
 * logical core count, `navigator.hardwareConcurrency`; `ref`: 1, since its threads run one after the other and
 * only exist to check how kernels split their work).
 *
 * @param kind Backend name.
 * @param threads Requested threads, or undefined for the default.
 * @returns A validated thread count.
 * @throws {RangeError} When `threads` is not an integer in 1..{@link MAX_THREADS}.
 * @example
 * ```ts
 * import { resolveThreads } from "./create.ts";
 * console.log(resolveThreads("ref"), resolveThreads("wasm", 2)); // 1 2
 * ```
 */
export function resolveThreads(kind: BackendKind, threads?: number): number {
  if (threads === undefined) {
    return kind === "ref" ? 1 : Math.min(MAX_THREADS, Math.max(1, navigator.hardwareConcurrency || 1));
  }
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new RangeError(
      `Cannot use threads=${threads} for the ${kind} backend: pass an integer from 1 to ${MAX_THREADS}`,
    );
  }
  return threads;
}

/**
 * Create a kernel backend.
 *
 * @param kind `"wasm"` (Rust -> WASM SIMD128 kernels with a worker pool), `"ref"` (plain TypeScript) or
 *   `"webgpu"` (WGSL kernels on `navigator.gpu`'s adapter; llvmpipe, a CPU rasteriser, where there is no GPU).
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
  switch (kind) {
    case "ref": {
      const { RefBackend } = await import("./ref.ts");
      return RefBackend.create({ threads: resolveThreads(kind, opts.threads) });
    }
    case "wasm": {
      const threads = resolveThreads(kind, opts.threads);
      const { WasmBackend } = await import("./wasm.ts");
      return await WasmBackend.create({ threads });
    }
    case "webgpu": {
      // One device queue: host threads do not apply (a thread count is accepted and ignored).
      if (opts.threads !== undefined) resolveThreads(kind, opts.threads);
      const { WebGpuBackend } = await import("./webgpu/webgpu_backend.ts");
      return await WebGpuBackend.create();
    }
    default:
      throw new RangeError(`Unknown backend "${kind as string}": expected "wasm", "ref" or "webgpu"`);
  }
}
