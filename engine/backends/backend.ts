/**
 * The backend port: what the engine's forward pass needs from a kernel backend, owned by the engine. Every
 * backend (`ref` in plain TypeScript, `wasm` over `kernels-wasm/`, `webgpu`) implements {@link KernelBackend}
 * with the kernels of the table beside it (`kernel_table.ts`, semantics in `kernels-wasm/ABI.md`), so the
 * architectures in `engine/model/` are written once.
 *
 * The port admits a backend whose arena is not visible to the host and whose work is asynchronous (WebGPU):
 * `run` may only enqueue; `read` waits for the queued work and copies arena bytes out; `write` copies host bytes
 * in (weights at load, token ids, the RoPE table); in-arena moves are the `copy` kernel, never host code. A CPU
 * backend whose arena is an `ArrayBuffer` the host can see exposes it as `hostBuffer`, and the engine then reads
 * logits and hooked tensors through views instead of copies.
 *
 * @module
 */

import type { KernelId, ScratchShape } from "./kernel_table.ts";
import type { KernelRecorder } from "./recorder.ts";
import type { NumericsProfile } from "./type_kernels.ts";

export {
  checkKernelCall,
  KERNEL_IDS,
  type KernelId,
  KERNELS,
  type KernelSpec,
  type ScratchShape,
} from "./kernel_table.ts";

/** Backend names `createBackend` can create. */
export type BackendKind = "ref" | "wasm" | "webgpu";

/** Every {@link BackendKind}, for flag validation (`--backend`). */
export const BACKEND_KINDS: readonly BackendKind[] = ["wasm", "ref", "webgpu"];

/**
 * Whether `s` names a backend.
 *
 * @param s A flag value.
 * @returns True for `wasm`, `ref` and `webgpu`.
 * @example
 * ```ts
 * import { isBackendKind } from "./backend.ts";
 * console.log(isBackendKind("webgpu"), isBackendKind("cuda")); // true false
 * ```
 */
export function isBackendKind(s: unknown): s is BackendKind {
  return typeof s === "string" && (BACKEND_KINDS as readonly string[]).includes(s);
}

/**
 * A kernel backend over one flat byte arena. Pointers are byte offsets into the arena (u32, never 0).
 *
 * Ownership: the engine that loads a model into a backend closes it.
 */
export interface KernelBackend extends Disposable {
  /** Backend id, the first part of recorded kernel ids (`ref`, `wasm`, `webgpu`). */
  readonly id: string;
  /** Threads each kernel call is split across (1 for a backend that does not split on the host). */
  readonly threads: number;
  /**
   * What computes, when it is not the host CPU: a label naming the device (the WebGPU adapter, with
   * `[CPU fallback]` for a software rasteriser such as llvmpipe); undefined for CPU backends.
   */
  readonly device?: string;
  /**
   * The numerics profiles whose kernel sets this backend implements (`type_kernels.ts`), when not all of them:
   * the engine runs a profile the backend lacks with the first one listed (the `webgpu` backend lists `exact`:
   * its WGSL kernels are its own fast path). Undefined: every profile.
   */
  readonly numerics?: readonly NumericsProfile[];
  /**
   * The arena as an `ArrayBuffer` the host can read and write, when it is one (CPU backends); undefined when the
   * arena lives elsewhere (a GPU buffer). Re-read after `alloc`: growing the arena may replace the object.
   */
  readonly hostBuffer?: ArrayBufferLike;
  /**
   * Bump-allocate `bytes` (aligned to `align`, default 64), growing the arena. Allocations live until `close`.
   *
   * @returns The byte offset (never 0).
   */
  alloc(bytes: number, align?: number): number;
  /** Copy host bytes into the arena at `ptr` (ordered before kernels run after it). */
  write(ptr: number, bytes: Uint8Array): void;
  /**
   * Run kernel `id` with its table parameters (CPU backends append `(ith, nth)`). May only enqueue the work;
   * `read` waits for it.
   */
  run(id: KernelId, ...args: number[]): void;
  /**
   * Wait for every kernel run so far, then copy `bytes` arena bytes at `ptr` to the host.
   *
   * @param into Destination of at least `bytes` bytes (reused to avoid an allocation); a new array otherwise.
   * @returns The bytes (`into`'s first `bytes` bytes when given).
   */
  read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * Bytes of scratch kernel `id` needs on this backend for calls up to `shape` (0 when it has none): the model
   * allocates what the kernel asks for, never a size of its own.
   */
  scratchBytes(id: KernelId, shape: ScratchShape): number;
  /** Every kernel launch so far, with counts (ids `<backend>.<kernel id>[.<variant>]`). */
  readonly recorder: KernelRecorder;
  /** Ids of the kernel variants that executed, in first-run order (`wasm.gemm.tq2_0_q8_k.relaxed`). */
  kernels(): string[];
  /** Release the backend (workers, memory, device). Idempotent. */
  close(): void;
}
