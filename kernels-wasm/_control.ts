/**
 * Layout of the pool's control block, a 2 KiB region of the shared wasm memory (int32 indices unless
 * noted). The generation word and the done counter sit on different 64-byte lines so that workers
 * spinning on one do not contend with the other.
 *
 * Dispatch protocol (generation g): the main thread writes the call, bumps GEN to g and notifies, runs
 * its own share, then claims, for every worker that has not started yet, that worker's slot
 * (`CLAIMS[i]`: g - 1 -> g by compare-exchange) and waits only for the workers that claimed their slot
 * themselves. A worker that finds its slot already claimed skips the dispatch. Work inside a kernel is
 * handed out by an atomic chunk counter, so the threads that do run take all of it; a worker that the OS
 * has not scheduled (a loaded machine) therefore never stalls a dispatch.
 *
 * @module
 */

/** Bytes of the control block. */
export const CONTROL_BYTES = 2048;
/** Incremented by the main thread to start a dispatch (workers wait on it). */
export const GEN = 0;
/** Index of the function to run in the worker's export list. */
export const KERNEL = 1;
/** Number of kernel arguments before (ith, nth). */
export const NARGS = 2;
/** Threads of this dispatch. */
export const NTH = 3;
/** Set to 1 to make workers leave their loop. */
export const QUIT = 4;
/** Workers done with the current dispatch (main waits on it). */
export const DONE = 16;
/** Number of workers whose call threw in the current dispatch. */
export const ERRORS = 17;
/** Thread index of the first failing worker. */
export const ERR_THREAD = 18;
/** Byte length of the first error text. */
export const ERR_LEN = 19;
/** Byte offset of the f64 argument slots. */
export const ARGS_BYTE = 128;
/** Number of f64 argument slots. */
export const MAX_ARGS = 16;
/** Byte offset and capacity of the error text (UTF-8). */
export const ERR_TEXT_BYTE = 256;
export const ERR_TEXT_CAP = 256;
/** Int32 index of the per-thread claim words (`CLAIMS + ith`, ith = 1..255). */
export const CLAIMS = 256;
/** Most threads the control block has claim words for. */
export const MAX_THREADS = 256;

/** The first (and only) message a worker receives. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offset of the control block. */
  ctl: number;
  /** Initial `__stack_pointer` of this instance (top of its own stack). */
  stackTop: number;
  /** This worker's thread index (1..threads-1). */
  ith: number;
  /** Export names, indexed by the control block's KERNEL word. */
  names: string[];
  /** Spin iterations before sleeping. */
  spin: number;
}

/** Calls `f` with the first `n` values of `a`, then `ith`, `nth` (no spread, no allocation). */
// deno-lint-ignore no-explicit-any
export function invoke(f: any, a: Float64Array | number[], n: number, ith: number, nth: number): void {
  switch (n) {
    case 4:
      f(a[0], a[1], a[2], a[3], ith, nth);
      return;
    case 5:
      f(a[0], a[1], a[2], a[3], a[4], ith, nth);
      return;
    case 6:
      f(a[0], a[1], a[2], a[3], a[4], a[5], ith, nth);
      return;
    case 12:
      f(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], ith, nth);
      return;
    default: {
      const args: number[] = [];
      for (let i = 0; i < n; i++) args.push(a[i]);
      f(...args, ith, nth);
    }
  }
}

/** Writes `text` (truncated) into the error area of the control block at byte `ctl`. */
export function writeErrorText(buffer: ArrayBufferLike, ctl: number, text: string): number {
  const bytes = new TextEncoder().encode(text).subarray(0, ERR_TEXT_CAP);
  new Uint8Array(buffer, ctl + ERR_TEXT_BYTE, ERR_TEXT_CAP).set(bytes);
  return bytes.length;
}

/** Reads the error text written by `writeErrorText`. */
export function readErrorText(buffer: ArrayBufferLike, ctl: number, len: number): string {
  // Copy out of the shared buffer first: TextDecoder does not accept SharedArrayBuffer views.
  return new TextDecoder().decode(new Uint8Array(buffer, ctl + ERR_TEXT_BYTE, len).slice());
}
