/**
 * Worker of the kernel pool: instantiates the kernel module on the shared memory with its own stack,
 * then loops: spin on the generation word, sleep with `Atomics.wait` when idle, run its share of each
 * dispatch, count itself done. Started and stopped by `WasmKernels` only.
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
  NARGS,
  NTH,
  QUIT,
  type WorkerInit,
  writeErrorText,
} from "./_control.ts";

/** The part of the worker global scope used here (typed locally: this file is also type-checked with the
 * main-thread lib when tests or `deno check` include it). */
interface WorkerScope {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
}
const scope = self as unknown as WorkerScope;

function describe(e: unknown, ex: WebAssembly.Exports, buffer: ArrayBufferLike): string {
  if (e instanceof WebAssembly.RuntimeError) {
    const len = (ex.panic_message_len as () => number)();
    const off = (ex.panic_message_offset as () => number)();
    if (len > 0) return new TextDecoder().decode(new Uint8Array(buffer, off, len).slice());
  }
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function serve(init: WorkerInit): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const ex = instance.exports;
  const sp = ex.__stack_pointer as WebAssembly.Global;
  sp.value = init.stackTop;
  const fns = init.names.map((n) => ex[n]);
  // Views over the buffer as it is now stay valid after growth (shared buffers are never detached).
  const ctl = new Int32Array(init.memory.buffer, init.ctl, CONTROL_BYTES / 4);
  const args = new Float64Array(init.memory.buffer, init.ctl + ARGS_BYTE, MAX_ARGS);
  const ith = init.ith;
  const spin = init.spin;
  // Spinning happens in wasm (about 1 ns per atomic load; a JS Atomics.load loop costs 20-30 ns).
  const spinWhileEq = ex.pool_spin_while_eq as (ptr: number, seen: number, iters: number) => number;
  const genAddr = init.ctl + 4 * GEN;
  // Read the generation before reporting ready: the first dispatch may follow the ready message at once.
  let seen = Atomics.load(ctl, GEN);
  scope.postMessage({ ready: true });
  for (;;) {
    const g = spinWhileEq(genAddr, seen, spin);
    if (g === seen) {
      Atomics.wait(ctl, GEN, seen);
      continue;
    }
    seen = g;
    if (Atomics.load(ctl, QUIT) !== 0) break;
    // Claim this dispatch; if the main thread already claimed it for us (we were late), skip it.
    if (Atomics.compareExchange(ctl, CLAIMS + ith, (g - 1) | 0, g) !== ((g - 1) | 0)) continue;
    const nth = ctl[NTH];
    if (ith < nth) {
      try {
        invoke(fns[ctl[KERNEL]], args, ctl[NARGS], ith, nth);
      } catch (e) {
        sp.value = init.stackTop; // a trap leaves the stack pointer where it was
        if (Atomics.add(ctl, ERRORS, 1) === 0) {
          ctl[ERR_THREAD] = ith;
          ctl[ERR_LEN] = writeErrorText(init.memory.buffer, init.ctl, describe(e, ex, init.memory.buffer));
        }
      }
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
  scope.close();
}

scope.onmessage = (e: MessageEvent<WorkerInit>) => {
  serve(e.data);
};
