/**
 * `WasmKernels`: the `wasm` kernel backend. One shared `WebAssembly.Memory` (the arena) is instantiated by
 * the main thread and by `threads - 1` persistent workers; weights are loaded into it once. A kernel call
 * is one dispatch through a control block in that memory, synchronized with Atomics (no messages): the
 * main thread is thread 0 and computes its share, workers spin briefly then sleep in `Atomics.wait`.
 *
 * Arena layout: `[0, 1 MiB)` the main instance's stack (rustc's stack-first layout), the module's data,
 * then from `__heap_base`: the control block, one 1 MiB stack per worker, then `alloc()`ations.
 *
 * @module
 */

import {
  ARGS_BYTE,
  CLAIMS,
  CONTROL_BYTES,
  DONE,
  ERR_LEN,
  ERR_THREAD,
  ERRORS,
  GEN,
  invoke,
  KERNEL,
  MAX_ARGS,
  MAX_THREADS,
  NARGS,
  NTH,
  QUIT,
  readErrorText,
  type WorkerInit,
} from "./_control.ts";
import { detectFeatures, type Flavor, loadModuleBytes, type WasmFeatures } from "./_load.ts";
import { type HostKernels, KERNEL_IDS, type KernelId, KERNELS } from "./kernel_table.ts";

/** Options of {@linkcode WasmKernels.create}. */
export interface WasmKernelsOptions {
  /** Threads per kernel call (main thread included). Default: `navigator.hardwareConcurrency`. */
  threads?: number;
  /** Use the relaxed-SIMD module: `true` requires it, `false` never, `"auto"` (default) when supported. */
  relaxed?: boolean | "auto";
  /** Arena bytes to reserve up front for `alloc` (it grows on demand anyway). Default 16 MiB. */
  initialBytes?: number;
  /** Worker spin iterations (atomic loads in wasm, ~1 ns each) before `Atomics.wait`. Default 100,000. */
  spin?: number;
  /**
   * Calls whose estimated single-thread cost (`KernelSpec.costNs`) is below this many nanoseconds run on the
   * calling thread only. Default 10,000; 0 sends every call through the pool.
   */
  inlineBelowNs?: number;
}

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, wasm32's limit and the module's declared maximum
const STACK_BYTES = 1 << 20;
/** Main-thread spin (atomic loads in wasm, about 1 ns each) before it sleeps waiting for workers. */
const MAIN_SPIN = 50_000;
/** Default `inlineBelowNs`: a dispatch through the workers costs about a microsecond on 2 cores. */
const INLINE_BELOW_NS = 10_000;

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/**
 * The WebAssembly SIMD kernels of ABI.md with a persistent worker pool.
 *
 * @example
 * ```ts
 * import { WasmKernels } from "./mod.ts";
 * using k = await WasmKernels.create({ threads: 2 });
 * const n = 8;
 * const a = k.alloc(4 * n), b = k.alloc(4 * n), y = k.alloc(4 * n);
 * new Float32Array(k.buffer, a, n).fill(1.5);
 * new Float32Array(k.buffer, b, n).fill(2);
 * k.run("add", a, b, y, n);
 * console.log(new Float32Array(k.buffer, y, n)[0]); // 3.5
 * console.log(k.kernels()); // ["wasm.add.simd128"]
 * ```
 */
export class WasmKernels implements HostKernels {
  /** Backend id. */
  readonly id: "wasm" = "wasm";
  /** Threads per kernel call, main thread included. */
  readonly threads: number;
  /** Features detected in this runtime. */
  readonly features: WasmFeatures;
  /** The module that runs: `relaxed` (relaxed-SIMD ternary kernels) or `simd128`. */
  readonly flavor: Flavor;

  #memory: WebAssembly.Memory;
  #exports: WebAssembly.Exports;
  #fns: unknown[];
  #ctl: number;
  #ctlI32: Int32Array;
  #args: Float64Array;
  #counter: Int32Array;
  #workers: Worker[];
  #top: number;
  #recorded = new Set<string>();
  #closed = false;
  #mainStack: number;
  #spinWhileBelow: (ptr: number, want: number, iters: number) => number;
  #inlineBelowNs: number;

  private constructor(
    init: {
      threads: number;
      features: WasmFeatures;
      flavor: Flavor;
      memory: WebAssembly.Memory;
      exports: WebAssembly.Exports;
      ctl: number;
      top: number;
      workers: Worker[];
      inlineBelowNs: number;
    },
  ) {
    this.threads = init.threads;
    this.features = init.features;
    this.flavor = init.flavor;
    this.#memory = init.memory;
    this.#exports = init.exports;
    this.#fns = NAMES.map((n) => init.exports[n]);
    this.#ctl = init.ctl;
    this.#ctlI32 = new Int32Array(init.memory.buffer, init.ctl, CONTROL_BYTES / 4);
    this.#args = new Float64Array(init.memory.buffer, init.ctl + ARGS_BYTE, MAX_ARGS);
    const counterOffset = (init.exports.sched_counter_offset as () => number)();
    this.#counter = new Int32Array(init.memory.buffer, counterOffset, 1);
    this.#workers = init.workers;
    this.#top = init.top;
    this.#mainStack = (init.exports.__stack_pointer as WebAssembly.Global).value as number;
    this.#inlineBelowNs = init.inlineBelowNs;
    this.#spinWhileBelow = init.exports.pool_spin_while_below as (ptr: number, want: number, iters: number) => number;
  }

  /**
   * Loads the kernel module, creates the arena and starts `threads - 1` workers.
   *
   * @param options Thread count, relaxed-SIMD choice, initial arena size, worker spin.
   * @returns A ready backend; dispose it (or `close()`) to stop the workers.
   * @throws {RangeError} When `threads` is not an integer in 1..256 or `initialBytes` exceeds 4 GiB.
   * @throws {Error} When the runtime lacks SIMD128 or shared memory, or relaxed SIMD when `relaxed: true`.
   * @example
   * ```ts
   * import { WasmKernels } from "./mod.ts";
   * using k = await WasmKernels.create({ threads: 1, relaxed: false });
   * console.log(k.flavor); // "simd128"
   * ```
   */
  static async create(options: WasmKernelsOptions = {}): Promise<WasmKernels> {
    const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new RangeError(
        `Cannot create WasmKernels: threads = ${threads}. Fix: pass an integer from 1 to ${MAX_THREADS}`,
      );
    }
    const features = detectFeatures();
    if (!features.simd128 || !features.threads) {
      throw new Error(
        `Cannot create WasmKernels: this runtime lacks ${
          !features.simd128 ? "WebAssembly SIMD128" : "shared memory"
        }. ` +
          `Fix: use Deno >= 1.33 or the ref backend`,
      );
    }
    const want = options.relaxed ?? "auto";
    if (want === true && !features.relaxedSimd) {
      throw new Error(
        'Cannot create WasmKernels with relaxed: true: this runtime lacks relaxed SIMD. Fix: pass relaxed: false or "auto"',
      );
    }
    const flavor: Flavor = want === "auto"
      ? (features.relaxedSimd ? "relaxed" : "simd128")
      : want
      ? "relaxed"
      : "simd128";
    const module = await WebAssembly.compile(await loadModuleBytes(flavor) as Uint8Array<ArrayBuffer>);

    const initialBytes = options.initialBytes ?? 16 << 20;
    const reserve = 2 * STACK_BYTES + CONTROL_BYTES + (threads - 1) * STACK_BYTES + initialBytes;
    const pages = Math.ceil(reserve / PAGE);
    if (pages > MAX_PAGES) {
      throw new RangeError(
        `Cannot create WasmKernels: initialBytes = ${initialBytes} exceeds the 4 GiB arena. Fix: pass less`,
      );
    }
    const memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const ex = instance.exports;
    const heapBase = (ex.__heap_base as WebAssembly.Global).value as number;
    const ctl = alignUp(heapBase, 64);
    new Uint8Array(memory.buffer, ctl, CONTROL_BYTES).fill(0);
    let top = ctl + CONTROL_BYTES;
    const stackTops: number[] = [];
    for (let i = 1; i < threads; i++) {
      const base = alignUp(top, 64);
      top = base + STACK_BYTES;
      stackTops.push(top);
    }
    if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / PAGE));

    const spin = options.spin ?? 100_000;
    const workers: Worker[] = [];
    try {
      await Promise.all(stackTops.map((stackTop, i) => {
        const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
        workers.push(w);
        const init: WorkerInit = { module, memory, ctl, stackTop, ith: i + 1, names: NAMES, spin };
        return new Promise<void>((resolve, reject) => {
          w.onmessage = () => resolve();
          w.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`Cannot start kernel worker ${i + 1}: ${e.message}`));
          };
          w.postMessage(init);
        });
      }));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    const inlineBelowNs = options.inlineBelowNs ?? INLINE_BELOW_NS;
    return new WasmKernels({ threads, features, flavor, memory, exports: ex, ctl, top, workers, inlineBelowNs });
  }

  /** The arena (`WebAssembly.Memory.buffer`); re-read after `alloc`, growth replaces the object. */
  get buffer(): SharedArrayBuffer {
    return this.#memory.buffer as SharedArrayBuffer;
  }

  /** The shared memory itself. */
  get memory(): WebAssembly.Memory {
    return this.#memory;
  }

  /**
   * Bump-allocates `bytes` in the arena, growing it when needed. Allocations live until `close()`.
   *
   * @param bytes Size in bytes (>= 0).
   * @param align Alignment, a power of two (default 64).
   * @returns The byte offset of the block (never 0).
   * @throws {RangeError} On a bad size or alignment, or when the arena would pass 4 GiB.
   * @example
   * ```ts
   * import { WasmKernels } from "./mod.ts";
   * using k = await WasmKernels.create({ threads: 1 });
   * const off = k.alloc(1024);
   * console.log(off % 64); // 0
   * ```
   */
  alloc(bytes: number, align = 64): number {
    this.#open("alloc");
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new RangeError(`Cannot alloc ${bytes} bytes: not a non-negative integer. Fix: pass a byte count`);
    }
    if (!Number.isInteger(align) || align < 1 || (align & (align - 1)) !== 0) {
      throw new RangeError(`Cannot alloc with align = ${align}: not a power of two. Fix: pass 1, 2, 4, ... 64`);
    }
    const off = alignUp(this.#top, align);
    const end = off + bytes;
    if (end > MAX_PAGES * PAGE) {
      throw new RangeError(
        `Cannot alloc ${bytes} bytes: the arena would reach ${end} bytes, past wasm32's 4 GiB ` +
          `(${this.#top} in use). Fix: use smaller or fewer tensors`,
      );
    }
    const have = this.#memory.buffer.byteLength;
    if (end > have) this.#memory.grow(Math.ceil((end - have) / PAGE));
    this.#top = end;
    return off;
  }

  /**
   * Runs kernel `id` (ABI.md) over all threads and returns when every thread is done.
   *
   * @param id Kernel id.
   * @param args The kernel's parameters before `(ith, nth)`: byte offsets, counts, f32 values.
   * @throws {TypeError} When `id` is unknown or the argument count is wrong.
   * @throws {RangeError} When the kernel rejects its arguments (message from the kernel, naming it).
   * @example
   * ```ts
   * import { WasmKernels } from "./mod.ts";
   * using k = await WasmKernels.create({ threads: 1 });
   * const x = k.alloc(16), y = k.alloc(16);
   * new Float32Array(k.buffer, x, 4).set([-1, 0, 1, 2]);
   * k.run("relu2_glu", x, x, y, 4); // max(x,0)^2 * x
   * console.log(Array.from(new Float32Array(k.buffer, y, 4))); // [-0, 0, 1, 8]
   * ```
   */
  run(id: KernelId, ...args: number[]): void {
    this.#dispatch(id, false, args);
  }

  /**
   * Runs the scalar twin of kernel `id`: same arguments, same output bytes, much slower. For verification.
   *
   * @param id Kernel id.
   * @param args As for {@linkcode WasmKernels.run}.
   * @throws {TypeError} When `id` is unknown or the argument count is wrong.
   * @throws {RangeError} When the kernel rejects its arguments.
   * @example
   * ```ts
   * import { WasmKernels } from "./mod.ts";
   * using k = await WasmKernels.create({ threads: 1 });
   * const x = k.alloc(16), s = k.alloc(4), y = k.alloc(16);
   * new Float32Array(k.buffer, s, 1)[0] = 2;
   * k.runScalar("mul_scalar", x, s, y, 4);
   * console.log(k.kernels()); // ["wasm.mul_scalar.scalar"]
   * ```
   */
  runScalar(id: KernelId, ...args: number[]): void {
    this.#dispatch(id, true, args);
  }

  /** Kernel variants that executed, in first-run order: `wasm.<id>.<relaxed|simd128|scalar>`. */
  kernels(): string[] {
    return [...this.#recorded];
  }

  /** Stops the workers. The arena stays readable through views taken before; further calls throw. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#ctlI32, QUIT, 1);
    Atomics.add(this.#ctlI32, GEN, 1);
    Atomics.notify(this.#ctlI32, GEN);
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(what: string): void {
    if (this.#closed) throw new Error(`Cannot ${what}: this WasmKernels is closed. Fix: create a new one`);
  }

  #dispatch(id: KernelId, scalar: boolean, args: number[]): void {
    this.#open(`run ${id}`);
    const spec = KERNELS[id];
    if (spec === undefined) {
      throw new TypeError(`Cannot run kernel "${id}": unknown id. Fix: use one of ${KERNEL_IDS.join(", ")}`);
    }
    if (args.length !== spec.params.length) {
      throw new TypeError(
        `Cannot run kernel ${id}: got ${args.length} arguments, expected ${spec.params.length} ` +
          `(${spec.params.join(", ")}). Fix: pass them without (ith, nth)`,
      );
    }
    const index = INDEX.get(id)! * 2 + (scalar ? 1 : 0);
    const fn = this.#fns[index];
    // Small calls stay on this thread (see KernelSpec.costNs); scalar twins are only cheap when tiny.
    const nth = this.threads === 1 || spec.costNs(args) * (scalar ? 20 : 1) < this.#inlineBelowNs ? 1 : this.threads;
    const variant = scalar ? "scalar" : spec.relaxed && this.flavor === "relaxed" ? "relaxed" : "simd128";
    this.#recorded.add(`wasm.${id}.${variant}`);
    if (nth === 1) {
      try {
        invoke(fn, args, args.length, 0, 1);
      } catch (e) {
        throw this.#fail(id, e, 0);
      }
      return;
    }
    const ctl = this.#ctlI32;
    Atomics.store(this.#counter, 0, 0);
    this.#args.set(args);
    ctl[KERNEL] = index;
    ctl[NARGS] = args.length;
    ctl[NTH] = nth;
    ctl[DONE] = 0;
    ctl[ERRORS] = 0;
    const g = Atomics.add(ctl, GEN, 1) + 1 | 0;
    Atomics.notify(ctl, GEN);
    let mainError: unknown = undefined;
    try {
      invoke(fn, args, args.length, 0, nth);
    } catch (e) {
      mainError = e;
    }
    // Workers that have not started by now are skipped: the chunk counter gave all work to the threads
    // that ran (see _control.ts). Wait only for those that claimed the dispatch.
    let want = 0;
    for (let i = 1; i < nth; i++) {
      if (Atomics.compareExchange(ctl, CLAIMS + i, (g - 1) | 0, g) !== ((g - 1) | 0)) want++;
    }
    let done = want === 0 ? 0 : this.#spinWhileBelow(this.#ctl + 4 * DONE, want, MAIN_SPIN);
    while (done < want) {
      Atomics.wait(ctl, DONE, done);
      done = Atomics.load(ctl, DONE);
    }
    if (mainError !== undefined) throw this.#fail(id, mainError, 0);
    if (Atomics.load(ctl, ERRORS) !== 0) {
      (this.#exports.panic_message_clear as () => void)();
      const text = readErrorText(this.#memory.buffer, this.#ctl, ctl[ERR_LEN]);
      throw new RangeError(`Kernel ${id} failed on thread ${ctl[ERR_THREAD]}: ${text}`);
    }
  }

  #fail(id: KernelId, e: unknown, thread: number): Error {
    const sp = this.#exports.__stack_pointer as WebAssembly.Global;
    sp.value = this.#mainStack; // a trap leaves the stack pointer where it was
    if (e instanceof WebAssembly.RuntimeError) {
      const len = (this.#exports.panic_message_len as () => number)();
      const off = (this.#exports.panic_message_offset as () => number)();
      if (len > 0) {
        const text = new TextDecoder().decode(new Uint8Array(this.#memory.buffer, off, len).slice());
        (this.#exports.panic_message_clear as () => void)();
        return new RangeError(`Kernel ${id} failed on thread ${thread}: ${text}`, { cause: e });
      }
    }
    return e instanceof Error ? e : new Error(String(e));
  }
}

const NAMES: string[] = KERNEL_IDS.flatMap((id) => [KERNELS[id].exportName, `${KERNELS[id].exportName}__scalar`]);
const INDEX: Map<KernelId, number> = new Map(KERNEL_IDS.map((id, i) => [id, i]));
