/**
 * Test helpers for kernels-wasm: a rig that runs the same kernel call on several backends (relaxed and
 * SIMD128 modules, 1 and 2 threads) with identical inputs, a seeded RNG, and plain-JS encoders.
 *
 * @module
 */

import { type KernelId, WasmKernels, type WasmKernelsOptions } from "./mod.ts";

/** mulberry32: a small deterministic PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sample (Box-Muller) from `r`. */
export function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** A buffer allocated at the same size in every backend of a rig (offsets differ per backend). */
export interface Buf {
  readonly offs: number[];
  readonly bytes: number;
}

/** An argument of `Rig.run`: a buffer (its offset is substituted per backend) or a number. */
export type Arg = Buf | number;

/** Runs identical kernel calls on several `WasmKernels`. */
export class Rig implements Disposable {
  readonly backends: WasmKernels[];
  readonly labels: string[];

  private constructor(backends: WasmKernels[], labels: string[]) {
    this.backends = backends;
    this.labels = labels;
  }

  /** Creates one backend per option set. */
  static async create(configs: WasmKernelsOptions[]): Promise<Rig> {
    const backends: WasmKernels[] = [];
    try {
      for (const c of configs) backends.push(await WasmKernels.create(c));
    } catch (e) {
      for (const b of backends) b.close();
      throw e;
    }
    return new Rig(backends, backends.map((b) => `${b.flavor}/t${b.threads}`));
  }

  /** The usual set: relaxed (if supported) x {2, 1} threads, SIMD128 x {2, 1} threads. */
  static standard(): Promise<Rig> {
    return Rig.create([
      { relaxed: "auto", threads: 2 },
      { relaxed: "auto", threads: 1 },
      { relaxed: false, threads: 2 },
      { relaxed: false, threads: 1 },
    ]);
  }

  /** Allocates `bytes` in every backend, filled with `init` when given. */
  alloc(bytes: number, init?: Uint8Array | ArrayBufferView): Buf {
    const offs = this.backends.map((b) => b.alloc(Math.max(bytes, 1)));
    const buf = { offs, bytes };
    if (init) this.write(buf, init);
    return buf;
  }

  /** Copies `data` into `buf` in every backend. */
  write(buf: Buf, data: Uint8Array | ArrayBufferView): void {
    const src = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.backends.forEach((b, i) => new Uint8Array(b.buffer, buf.offs[i], src.length).set(src));
  }

  /** Copy of `buf`'s bytes in backend `i`. */
  read(buf: Buf, i: number): Uint8Array {
    return new Uint8Array(this.backends[i].buffer, buf.offs[i], buf.bytes).slice();
  }

  /** Runs kernel `id` in every backend (`scalar`: the scalar twin). */
  run(id: KernelId, args: Arg[], scalar = false): void {
    this.backends.forEach((b, i) => {
      const a = args.map((x) => (typeof x === "number" ? x : x.offs[i]));
      if (scalar) b.runScalar(id, ...a);
      else b.run(id, ...a);
    });
  }

  /** Runs the SIMD kernel into `out`, then its scalar twin into `ref` (same inputs), in every backend. */
  runBoth(id: KernelId, before: Arg[], out: Buf, ref: Buf, after: Arg[]): void {
    this.run(id, [...before, out, ...after]);
    this.run(id, [...before, ref, ...after], true);
  }

  /** Closes every backend. */
  close(): void {
    for (const b of this.backends) b.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Index of the first differing byte, or -1. */
/**
 * The inputs that give a ternary GEMM its largest integer sums: TQ2_0 rows of `nOut x 512` with every code 3 (which
 * only a corrupt file holds) and scale 1.0, and `nTok` Q8_K activation rows at -127 and +127 (all-ones rows quantize
 * to -127; a row of +1 with one -1, the block's max, to +127 elsewhere).
 */
export function largestTernarySums(rig: Rig, nOut: number, nTok: number): { w: Buf; xq: Buf; k: number } {
  const k = 512;
  const rows = new Uint8Array(nOut * k / 256 * 66).fill(0xff);
  for (let o = 64; o < rows.length; o += 66) rows[o] = 0x00, rows[o + 1] = 0x3c;
  const w = rig.alloc(rows.length, rows);
  const x = Float32Array.from({ length: nTok * k }, (_, i) => (i % 256 === 0 && (i >> 8) % 2 ? -1 : 1));
  const xf = rig.alloc(4 * x.length, x);
  const xq = rig.alloc(nTok * k / 256 * 292);
  rig.run("quantize.q8_k", [xf, xq, k, nTok]);
  return { w, xq, k };
}

export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Asserts that every backend's `out` equals backend 0's `ref` (the scalar twin) byte for byte, and that all
 * backends' scalar twins agree. `what` names the case in the failure message.
 */
export function assertSameBytes(rig: Rig, out: Buf, ref: Buf, what: string): void {
  const want = rig.read(ref, 0);
  for (let i = 0; i < rig.backends.length; i++) {
    for (const [buf, kind] of [[out, "simd"], [ref, "scalar"]] as const) {
      const got = rig.read(buf, i);
      const d = firstDiff(got, want);
      if (d >= 0) {
        const f = (u: Uint8Array) => new DataView(u.buffer).getFloat32(d & ~3, true);
        throw new Error(
          `${what}: ${kind} output of ${rig.labels[i]} differs from the scalar twin at byte ${d} ` +
            `(as f32: ${f(got)} vs ${f(want)})`,
        );
      }
    }
  }
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** f32 bits of `x`. */
export function f32bits(x: number): number {
  F32[0] = x;
  return U32[0];
}

/** f32 from bits. */
export function bitsf32(b: number): number {
  U32[0] = b >>> 0;
  return F32[0];
}

/** f16 bits -> number (exact), written from the IEEE definition. */
export function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** number -> f16 bits, round to nearest even (exact arithmetic on doubles; x is an f32 value). */
export function numberToF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00 | (f32bits(x) >>> 31 ? 0x8000 : 0);
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: units of 2^-24, ties to even.
    const q = a / 2 ** -24;
    let n = Math.floor(q);
    const r = q - n;
    if (r > 0.5 || (r === 0.5 && n % 2 === 1)) n++;
    return sign | n; // n == 1024 is the smallest normal, encoded correctly
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const q = (a / 2 ** e - 1) * 1024;
  let m = Math.floor(q);
  const r = q - m;
  if (r > 0.5 || (r === 0.5 && m % 2 === 1)) m++;
  if (m === 1024) {
    m = 0;
    e++;
  }
  return sign | ((e + 15) << 10) | m;
}

/** Random f16 bits with a finite value of magnitude about `scale` (normal, subnormal or zero, either sign). */
export function randomF16(r: () => number, scale: number): number {
  const u = r();
  if (u < 0.02) return r() < 0.5 ? 0 : 0x8000;
  if (u < 0.05) return (r() < 0.5 ? 0x8000 : 0) | (1 + Math.floor(r() * 1023)); // subnormal
  return numberToF16(Math.fround(gauss(r) * scale));
}

/** Round half to even (ggml's `nearest_int`, `f32x4.nearest`). */
export function rint(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** ggml's `nearest_int` bit trick in f32 arithmetic (ggml-quants.c:621-626), for any input. */
export function nearestInt(v: number): number {
  return (f32bits(Math.fround(v + 12582912)) & 0x7fffff) - 0x400000;
}

/** Q8_K of one 256-block as ggml's `quantize_row_q8_K_ref`, written from ggml-quants.c:2768-2806. */
export function q8kRef(x: Float32Array): { d: number; q: Int8Array; bsums: Int16Array } {
  let max = 0, amax = 0;
  for (const v of x) {
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const q = new Int8Array(256);
  const bsums = new Int16Array(16);
  if (amax === 0) return { d: 0, q, bsums };
  const iscale = Math.fround(-127 / max);
  // MIN(127, nearest_int(v)) stored into int8_t; nearest_int is (bits(v + 1.5*2^23) & 0x7fffff) - 2^22.
  for (let j = 0; j < 256; j++) q[j] = Math.min(127, nearestInt(Math.fround(iscale * x[j])));
  for (let j = 0; j < 256; j++) bsums[j >> 4] += q[j];
  return { d: Math.fround(1 / iscale), q, bsums };
}
