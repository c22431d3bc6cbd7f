/**
 * Loading the committed kernel modules and detecting what this runtime supports. The `.wasm` files sit
 * next to this module, so they are found by URL both from a checkout (`file:`), from a remote import
 * (`https:`, fetched) and inside a `deno compile` binary (include them with `--include`).
 *
 * @module
 */

/** Which module file to load. */
export type Flavor = "simd128" | "relaxed";

const FILES: Record<Flavor, string> = { simd128: "kernels.wasm", relaxed: "kernels_relaxed.wasm" };

/** `\0asm`, version 1: the start of every module. */
const WASM_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
// (module (func (result v128) (i32x4.splat (i32.const 0))))
// deno-fmt-ignore
const SIMD_PROBE = new Uint8Array([
  ...WASM_HEADER,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x0b, // code: i32.const 0, i32x4.splat
]);
// (module (func (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s))
// deno-fmt-ignore
const RELAXED_PROBE = new Uint8Array([
  ...WASM_HEADER,
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7b, 0x7b, 0x01, 0x7b, // type section: (v128, v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0b, 0x01, 0x09, 0x00, 0x20, 0x00, 0x20, 0x01, 0xfd, 0x92, 0x02, 0x0b, // code: local.get 0, 1, relaxed dot
]);

/** WebAssembly features the kernels use, as detected in this runtime. */
export interface WasmFeatures {
  /** Fixed-width SIMD (required). */
  readonly simd128: boolean;
  /** Relaxed SIMD (`i16x8.relaxed_dot_i8x16_i7x16_s`), used by the ternary kernels when present. */
  readonly relaxedSimd: boolean;
  /** Shared memory + atomics (required). */
  readonly threads: boolean;
}

function sharedMemoryWorks(): boolean {
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return m.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** Detects SIMD128, relaxed SIMD and shared memory with `WebAssembly.validate` and a probe memory. */
export function detectFeatures(): WasmFeatures {
  return {
    simd128: WebAssembly.validate(SIMD_PROBE),
    relaxedSimd: WebAssembly.validate(RELAXED_PROBE),
    threads: sharedMemoryWorks(),
  };
}

/** Reads the bytes of a module file next to this one (file URL: readFile; otherwise fetch). */
export async function loadModuleBytes(flavor: Flavor): Promise<Uint8Array> {
  const url = new URL(`./${FILES[flavor]}`, import.meta.url);
  if (url.protocol === "file:") {
    try {
      return await Deno.readFile(url);
    } catch (e) {
      throw new Error(
        `Cannot load kernel module ${url.pathname}: ${e instanceof Error ? e.message : e}. ` +
          `Fix: keep ${FILES[flavor]} next to kernels-wasm/mod.ts (deno compile: --include kernels-wasm/), ` +
          `or rebuild it with: deno task build:wasm`,
        { cause: e },
      );
    }
  }
  const res = await fetch(url);
  if (!res.ok) {
    throw new Error(
      `Cannot load kernel module ${url.href}: HTTP ${res.status}. Fix: serve ${FILES[flavor]} beside mod.ts`,
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}
