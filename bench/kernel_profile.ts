/**
 * Where a forward pass spends its time, per kernel: `deno run -A bench/kernel_profile.ts [--model NAME|PATH]
 * [--numerics fast,exact] [--depth 0,512,2048] [--tg N] [--pp N] [--threads N] [--json]`.
 *
 * The model runs on a timing wrapper around the `wasm` backend ({@link TimedBackend}: every `run` is timed with
 * `performance.now()`; the WASM backend returns when all threads are done, so the time is the kernel's wall time,
 * dispatch included). For each profile it runs one `pp<N>` prompt (default 128 tokens) and `tg<N>` single-token
 * decodes (default 8) at each context depth: the decodes start at that position of a cache whose earlier rows are
 * not filled (attention does the same work whatever the rows hold; a real prefill of 2048 tokens would take a
 * minute per depth). The table gives milliseconds per token (pp: per prompt token) by kernel id, the share of the
 * total, calls per token, and the GB/s of the matrix kernels (weight bytes read per second).
 *
 * @module
 */

import { GgufFile } from "../engine/gguf/file.ts";
import { loadModel } from "../engine/model/architectures.ts";
import type { KernelBackend, KernelId, NumericsProfile, ScratchShape } from "../engine/backends/mod.ts";
import { isNumericsProfile, WasmBackend } from "../engine/backends/mod.ts";
import type { KernelRecorder } from "../engine/backends/recorder.ts";
import { resolveModel } from "../lock/mod.ts";

/** Time spent in each kernel id. */
export interface KernelTimes {
  /** Milliseconds per kernel id. */
  readonly ms: Map<KernelId, number>;
  /** Calls per kernel id. */
  readonly calls: Map<KernelId, number>;
}

/** A backend that times every kernel call of the backend it wraps (which it owns). */
export class TimedBackend implements KernelBackend {
  readonly #inner: KernelBackend;
  /** Accumulated times since the last {@link reset}. */
  times: KernelTimes = { ms: new Map(), calls: new Map() };

  /**
   * @param inner The backend to time (closed with this one).
   */
  constructor(inner: KernelBackend) {
    this.#inner = inner;
  }
  /** Backend id of the wrapped backend. */
  get id(): string {
    return this.#inner.id;
  }
  /** Threads of the wrapped backend. */
  get threads(): number {
    return this.#inner.threads;
  }
  /** Profiles of the wrapped backend. */
  get numerics(): readonly NumericsProfile[] | undefined {
    return this.#inner.numerics;
  }
  /** Arena of the wrapped backend. */
  get hostBuffer(): ArrayBufferLike | undefined {
    return this.#inner.hostBuffer;
  }
  /** Recorder of the wrapped backend. */
  get recorder(): KernelRecorder {
    return this.#inner.recorder;
  }
  /** Forget the accumulated times. */
  reset(): void {
    this.times = { ms: new Map(), calls: new Map() };
  }
  alloc(bytes: number, align?: number): number {
    return this.#inner.alloc(bytes, align);
  }
  write(ptr: number, bytes: Uint8Array): void {
    this.#inner.write(ptr, bytes);
  }
  run(id: KernelId, ...args: number[]): void {
    const t0 = performance.now();
    this.#inner.run(id, ...args);
    const dt = performance.now() - t0;
    this.times.ms.set(id, (this.times.ms.get(id) ?? 0) + dt);
    this.times.calls.set(id, (this.times.calls.get(id) ?? 0) + 1);
  }
  read(ptr: number, bytes: number, into?: Uint8Array): Promise<Uint8Array> {
    return this.#inner.read(ptr, bytes, into);
  }
  scratchBytes(id: KernelId, shape: ScratchShape): number {
    return this.#inner.scratchBytes(id, shape);
  }
  kernels(): string[] {
    return this.#inner.kernels();
  }
  close(): void {
    this.#inner.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

/** One measured phase. */
export interface ProfileRow {
  readonly numerics: NumericsProfile;
  /** `pp128`, `tg@512`, ... */
  readonly phase: string;
  /** Tokens the times are divided by. */
  readonly tokens: number;
  /** Wall milliseconds of the whole phase (kernels and host code). */
  readonly wallMs: number;
  readonly times: KernelTimes;
}

function flag(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}

if (import.meta.main) {
  const args = Deno.args;
  const model = flag(args, "model", "bench-2b4t-tq2");
  const profiles = flag(args, "numerics", "fast,exact").split(",");
  const depths = flag(args, "depth", "0,512,2048").split(",").map(Number);
  const tg = Number(flag(args, "tg", "8")), pp = Number(flag(args, "pp", "128"));
  const threads = Number(flag(args, "threads", "2"));
  const path = model.endsWith(".gguf") ? model : (await resolveModel(model)).path;
  const rows: ProfileRow[] = [];
  for (const p of profiles) {
    if (!isNumericsProfile(p)) throw new RangeError(`--numerics: "${p}" is not exact or fast`);
    const nCtx = Math.max(...depths) + tg + 1;
    using be = new TimedBackend(await WasmBackend.create({ threads }));
    using file = GgufFile.open(path);
    const m = loadModel(file, be, { nCtx: Math.max(nCtx, pp), numerics: p });
    const ids = Int32Array.from({ length: Math.max(pp, tg) }, (_, i) => (i * 7919 + 11) % m.config.nVocab);
    // Warm up (first calls compile and page in).
    await m.forward(ids.subarray(0, 1), 0);
    be.reset();
    let t0 = performance.now();
    await m.forward(ids.subarray(0, pp), 0);
    rows.push({ numerics: p, phase: `pp${pp}`, tokens: pp, wallMs: performance.now() - t0, times: be.times });
    for (const d of depths) {
      be.reset();
      t0 = performance.now();
      for (let i = 0; i < tg; i++) await m.forward(ids.subarray(i, i + 1), d + i);
      rows.push({ numerics: p, phase: `tg@${d}`, tokens: tg, wallMs: performance.now() - t0, times: be.times });
    }
  }
  if (args.includes("--json")) {
    console.log(JSON.stringify(rows.map((r) => ({
      ...r,
      times: { ms: Object.fromEntries(r.times.ms), calls: Object.fromEntries(r.times.calls) },
    }))));
  } else {
    for (const r of rows) {
      const total = [...r.times.ms.values()].reduce((a, b) => a + b, 0);
      console.log(
        `\n${r.numerics} ${r.phase}: ${(r.wallMs / r.tokens).toFixed(2)} ms/token wall, kernels ${
          (total / r.tokens).toFixed(2)
        } ms/token`,
      );
      const sorted = [...r.times.ms.entries()].sort((a, b) => b[1] - a[1]);
      for (const [id, ms] of sorted) {
        console.log(
          `  ${id.padEnd(28)} ${(ms / r.tokens).toFixed(3).padStart(9)} ms  ${
            (100 * ms / total).toFixed(1).padStart(5)
          }%  ${((r.times.calls.get(id) ?? 0) / r.tokens).toFixed(1).padStart(6)} calls`,
        );
      }
    }
  }
}
