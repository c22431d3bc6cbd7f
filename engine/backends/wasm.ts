/**
 * {@link WasmBackend}: the `wasm` backend of the port, over the Rust -> WASM SIMD kernels of `kernels-wasm/`
 * (one shared `WebAssembly.Memory` arena and a worker pool). The arena is host-visible, so `write` and `read`
 * are plain copies and `hostBuffer` lets the engine read logits through a view; every launch is recorded with
 * the variant the module runs (`wasm.gemm.tq2_0_q8_k.relaxed`).
 *
 * @module
 */

import { KERNELS as WASM_KERNELS, WasmKernels, type WasmKernelsOptions } from "../../kernels-wasm/mod.ts";
import type { KernelBackend } from "./backend.ts";
import { cpuScratchBytes, KERNEL_IDS, type KernelId, type ScratchShape } from "./kernel_table.ts";
import { KernelRecorder } from "./recorder.ts";

/**
 * The WASM kernels as a {@link KernelBackend}.
 *
 * @example
 * ```ts
 * import { WasmBackend } from "./wasm.ts";
 * using be = await WasmBackend.create({ threads: 1 });
 * const x = be.alloc(8), y = be.alloc(8);
 * be.write(x, new Uint8Array(Float32Array.of(1, 2).buffer));
 * be.run("add", x, x, y, 2);
 * console.log(new Float32Array((await be.read(y, 8)).buffer)); // Float32Array(2) [ 2, 4 ]
 * ```
 */
export class WasmBackend implements KernelBackend {
  /** Backend id. */
  readonly id = "wasm";
  /** Threads per kernel call, main thread included. */
  readonly threads: number;
  /** Every launch with its count. */
  readonly recorder: KernelRecorder = new KernelRecorder();
  /** The kernel module and its worker pool. */
  readonly kernelModule: WasmKernels;
  readonly #recordedId: ReadonlyMap<KernelId, string>;

  private constructor(kernels: WasmKernels) {
    this.kernelModule = kernels;
    this.threads = kernels.threads;
    // The variant the module runs for each id (relaxed-SIMD code path or SIMD128), as WasmKernels records it.
    this.#recordedId = new Map(
      KERNEL_IDS.map((
        id,
      ) => [id, `wasm.${id}.${WASM_KERNELS[id].relaxed && kernels.flavor === "relaxed" ? "relaxed" : "simd128"}`]),
    );
  }

  /**
   * Load the kernel module and start its workers.
   *
   * @param opts Options of `WasmKernels.create` (threads must already be resolved: `resolveThreads`).
   * @returns The backend; close it to stop the workers.
   * @throws {Error} When the runtime lacks SIMD128 or shared memory.
   */
  static async create(opts: WasmKernelsOptions & { readonly threads: number }): Promise<WasmBackend> {
    return new WasmBackend(await WasmKernels.create(opts));
  }

  /** The shared arena (`WebAssembly.Memory.buffer`; growth replaces the object). */
  get hostBuffer(): SharedArrayBuffer {
    return this.kernelModule.buffer;
  }

  /** Bump-allocate (see {@link KernelBackend.alloc}). */
  alloc(bytes: number, align = 64): number {
    return this.kernelModule.alloc(bytes, align);
  }

  /** Copy host bytes into the arena. */
  write(ptr: number, bytes: Uint8Array): void {
    new Uint8Array(this.kernelModule.buffer, ptr, bytes.length).set(bytes);
  }

  /** Run a kernel over the pool and record it. */
  run(id: KernelId, ...args: number[]): void {
    this.kernelModule.run(id, ...args); // checks the id and the argument count

    this.recorder.record(this.#recordedId.get(id)!);
  }

  /** Copy arena bytes out (every kernel has finished when `run` returns). */
  read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array> {
    const src = new Uint8Array(this.kernelModule.buffer, ptr, bytes);
    if (into) {
      into.set(src);
      return Promise.resolve(into.subarray(0, bytes));
    }
    return Promise.resolve(src.slice());
  }

  /** Scratch bytes of a kernel on this many threads. */
  scratchBytes(id: KernelId, shape: ScratchShape): number {
    return cpuScratchBytes(id, shape, this.threads);
  }

  /** Recorded kernel ids, in first-run order. */
  kernels(): string[] {
    return this.recorder.ids();
  }

  /** Stop the workers (idempotent). */
  close(): void {
    this.kernelModule.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
