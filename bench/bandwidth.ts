/**
 * Memory-bandwidth probes for the roofline of the benchmarks: how fast this machine streams reads, natively
 * (`bench/bandwidth.c`, compiled with the system C compiler into the cache on first use) and from WebAssembly
 * (`probe.read` of kernels-wasm, on the same worker pool the engine uses). A decode step reads every weight once,
 * so `bytes read per token / seconds per token` against these numbers is the fraction of the roofline reached.
 *
 * Both report the best of `reps` repetitions over a buffer much larger than the last-level cache (default 1 GiB):
 * the best, because other work on the machine only ever makes a repetition slower.
 *
 * @example
 * ```ts ignore
 * import { nativeBandwidth, wasmBandwidth } from "./bandwidth.ts";
 * const n = await nativeBandwidth({ threads: 2 });
 * const w = await wasmBandwidth({ threads: 2 });
 * console.log(n.gbPerSecond, w.gbPerSecond);
 * ```
 *
 * @module
 */

import { cacheRoot } from "../lock/cache_dir.ts";
import { WasmKernels } from "../kernels-wasm/mod.ts";

/**
 * Size of this machine's last-level data cache (Linux sysfs: the highest-level data or unified cache of CPU 0), or
 * null where it cannot be read. A model whose decode reads fewer bytes per token than this is served from the cache,
 * so its read rate says nothing about DRAM: the benchmark table shows no share of the roofline for it.
 *
 * @param root The sysfs directory of CPU 0's caches (for tests).
 * @returns Bytes, or null.
 */
export function lastLevelCacheBytes(root = "/sys/devices/system/cpu/cpu0/cache"): number | null {
  let best: { level: number; bytes: number } | null = null;
  try {
    for (const e of Deno.readDirSync(root)) {
      if (!/^index\d+$/.test(e.name)) continue;
      const read = (f: string) => Deno.readTextFileSync(`${root}/${e.name}/${f}`).trim();
      if (read("type") === "Instruction") continue;
      const m = /^(\d+)([KMG]?)$/.exec(read("size"));
      const level = Number(read("level"));
      if (!m || !Number.isInteger(level)) continue;
      const bytes = Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]];
      if (!best || level > best.level) best = { level, bytes };
    }
  } catch {
    return null; // not Linux, or no sysfs
  }
  return best?.bytes ?? null;
}

/** Options of both probes. */
export interface BandwidthOptions {
  /** Threads reading at once (each its contiguous share). Default: `navigator.hardwareConcurrency`. */
  readonly threads?: number;
  /** Buffer size in MiB (read once per repetition). Default 1024. */
  readonly mib?: number;
  /** Repetitions; the best is reported. Default 5. */
  readonly reps?: number;
}

/** Options of {@linkcode nativeBandwidth}. */
export interface NativeBandwidthOptions extends BandwidthOptions {
  /** C compiler. Default: `CC` from the environment, else `gcc`. */
  readonly cc?: string;
  /** Cache root for the compiled probe. Default: `cacheRoot()` (`~/.cache/bitnet`). */
  readonly cacheDir?: string;
}

/** What a probe measured. */
export interface BandwidthResult {
  /** `"native"` (C) or `"wasm"` (kernels-wasm `probe.read`). */
  readonly probe: "native" | "wasm";
  readonly threads: number;
  /** Bytes read per repetition. */
  readonly bytes: number;
  /** Seconds of each repetition. */
  readonly seconds: readonly number[];
  /** `bytes / min(seconds) / 1e9`. */
  readonly gbPerSecond: number;
}

const SOURCE = new URL("./bandwidth.c", import.meta.url);
const FLAGS = ["-O3", "-march=native", "-pthread"];

function resolve(o: BandwidthOptions): { threads: number; mib: number; reps: number } {
  const threads = o.threads ?? navigator.hardwareConcurrency ?? 1;
  const mib = o.mib ?? 1024;
  const reps = o.reps ?? 5;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`Cannot probe bandwidth with threads = ${threads}. Fix: pass an integer from 1 to 256`);
  }
  if (!Number.isInteger(mib) || mib < 1 || mib > 3072) {
    throw new RangeError(`Cannot probe bandwidth over ${mib} MiB. Fix: pass an integer from 1 to 3072`);
  }
  if (!Number.isInteger(reps) || reps < 1) {
    throw new RangeError(`Cannot probe bandwidth with reps = ${reps}. Fix: pass a positive integer`);
  }
  return { threads, mib, reps };
}

function result(probe: "native" | "wasm", threads: number, bytes: number, seconds: number[]): BandwidthResult {
  return { probe, threads, bytes, seconds, gbPerSecond: bytes / Math.min(...seconds) / 1e9 };
}

async function sha256Hex(parts: readonly string[]): Promise<string> {
  const data = new TextEncoder().encode(parts.join("\0"));
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Compiles `bench/bandwidth.c` into `<cacheDir>/bandwidth/<sha256 of source, compiler, flags>/bandwidth` unless it
 * is there already (built in a temporary folder beside it and renamed into place, so a crash leaves no half file).
 *
 * @param opts Compiler and cache root.
 * @returns Path of the executable.
 * @throws {Error} When the compiler is missing or fails; the message names it and the fix.
 */
export async function buildNativeProbe(opts: NativeBandwidthOptions = {}): Promise<string> {
  const cc = opts.cc ?? Deno.env.get("CC") ?? "gcc";
  const source = await Deno.readTextFile(SOURCE);
  const key = await sha256Hex([source, cc, ...FLAGS]);
  const dir = `${opts.cacheDir ?? cacheRoot()}/bandwidth/${key}`;
  const exe = `${dir}/bandwidth`;
  try {
    await Deno.stat(exe);
    return exe;
  } catch {
    // not built yet
  }
  const parent = `${opts.cacheDir ?? cacheRoot()}/bandwidth`;
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: ".build-" });
  try {
    await Deno.writeTextFile(`${tmp}/bandwidth.c`, source);
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(cc, {
        args: [...FLAGS, "bandwidth.c", "-o", "bandwidth"],
        cwd: tmp,
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (e) {
      throw new Error(
        `Cannot build the native bandwidth probe: C compiler "${cc}" is not runnable (${(e as Error).message}). ` +
          `Fix: install gcc (apt-get install gcc) or set CC`,
      );
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).split("\n").slice(0, 6).join("\n");
      throw new Error(`Cannot build the native bandwidth probe with "${cc}":\n${err}\nFix: check the compiler (CC)`);
    }
    await Deno.remove(`${tmp}/bandwidth.c`);
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // Another process built the same key first: use its copy.
      if (!(e instanceof Deno.errors.AlreadyExists) && !(await exists(exe))) throw e;
    }
    return exe;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Native streaming-read bandwidth (C, POSIX threads, the widest vector loads the compiler emits for this CPU).
 *
 * @param opts Threads, buffer size, repetitions, compiler, cache.
 * @returns The measurement.
 * @throws {Error} When the probe cannot be built or fails (message with its stderr and the fix).
 * @example
 * ```ts ignore
 * import { nativeBandwidth } from "./bandwidth.ts";
 * console.log((await nativeBandwidth({ threads: 1, mib: 256 })).gbPerSecond);
 * ```
 */
export async function nativeBandwidth(opts: NativeBandwidthOptions = {}): Promise<BandwidthResult> {
  const { threads, mib, reps } = resolve(opts);
  const exe = await buildNativeProbe(opts);
  const out = await new Deno.Command(exe, {
    args: [String(mib), String(threads), String(reps)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(
      `The native bandwidth probe failed (exit ${out.code}): ${err}. Fix: use a smaller buffer (mib) or fewer threads`,
    );
  }
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as { threads: number; bytes: number; seconds: number[] };
  return result("native", r.threads, r.bytes, r.seconds);
}

/**
 * WebAssembly streaming-read bandwidth: kernels-wasm's `probe.read` over a buffer in the kernel arena, on a
 * worker pool of `threads` (as the engine's kernels run). Pass `kernels` to measure on an existing pool (its
 * thread count is used; the buffer stays allocated in its arena).
 *
 * @param opts Threads, buffer size, repetitions; `kernels`: a pool to reuse.
 * @returns The measurement.
 * @throws {Error} When the runtime lacks WebAssembly SIMD or shared memory.
 * @example
 * ```ts ignore
 * import { wasmBandwidth } from "./bandwidth.ts";
 * console.log((await wasmBandwidth({ threads: 2, mib: 256 })).gbPerSecond);
 * ```
 */
export async function wasmBandwidth(opts: BandwidthOptions & { kernels?: WasmKernels } = {}): Promise<BandwidthResult> {
  const { threads, mib, reps } = resolve({ ...opts, threads: opts.kernels?.threads ?? opts.threads });
  const bytes = mib << 20;
  const own = opts.kernels === undefined;
  const k = opts.kernels ?? await WasmKernels.create({ threads, initialBytes: bytes + (1 << 20) });
  try {
    const x = k.alloc(bytes), out = k.alloc(64);
    const u8 = new Uint8Array(k.buffer, x, bytes);
    for (let i = 0; i < Math.min(bytes, 1 << 20); i++) u8[i] = (i * 131 + 7) & 255;
    for (let n = 1 << 20; n < bytes; n *= 2) u8.copyWithin(n, 0, Math.min(n, bytes - n));
    const seconds: number[] = [];
    k.run("probe.read", x, bytes, out); // warm-up: V8 tiers the kernel up
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      k.run("probe.read", x, bytes, out);
      seconds.push((performance.now() - t0) / 1000);
    }
    return result("wasm", k.threads, bytes, seconds);
  } finally {
    if (own) k.close();
  }
}
