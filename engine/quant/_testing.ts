/**
 * Deterministic test data for the quant tests in this folder (not part of the public API).
 *
 * @module
 */

import { Prng } from "../sampling.ts";

/**
 * The engine's deterministic PRNG (mulberry32, `Prng` in engine/sampling.ts, seeded with the raw seed): same seed,
 * same sequence, on every machine; plus the draws the quant tests need.
 */
export class Rng extends Prng {
  /** Next uniform u32. */
  u32(): number {
    return this.next() * 4294967296;
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box-Muller). */
  gauss(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** Names of the value distributions used by the tests. */
export type Distribution = "gaussian" | "uniform" | "ternary" | "sparse" | "extremes" | "zeros" | "ties";

/**
 * Fill `n` f32 values from a distribution.
 *
 * - gaussian: N(0, 1) times a per-call scale; uniform: [-s, s); ternary: {-1, 0, 1} * s with s per 256-block;
 * - sparse: mostly zeros with whole zero blocks; extremes: huge, tiny, subnormal and signed-zero values mixed in;
 * - zeros: all zero (and -0); ties: small integers and halves, which hit rounding ties in the quantizers.
 */
export function makeData(dist: Distribution, n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const x = new Float32Array(n);
  const s = Math.fround(0.01 + r.float() * 3);
  for (let i = 0; i < n; i++) {
    switch (dist) {
      case "gaussian":
        x[i] = r.gauss() * s;
        break;
      case "uniform":
        x[i] = (r.float() * 2 - 1) * s;
        break;
      case "ternary": {
        const bs = Math.fround(0.05 + ((i >>> 8) % 7) * 0.37);
        x[i] = (r.int(3) - 1) * bs;
        break;
      }
      case "sparse":
        x[i] = ((i >>> 8) & 1) === 0 && r.int(8) === 0 ? r.gauss() : 0;
        break;
      case "extremes": {
        const k = r.int(8);
        x[i] = k === 0
          ? (r.int(2) ? 1 : -1) * 3e38
          : k === 1
          ? r.gauss() * 1e-40
          : k === 2
          ? -0
          : k === 3
          ? r.gauss() * 65504
          : k === 4
          ? r.gauss() * 1e-6
          : r.gauss();
        break;
      }
      case "zeros":
        x[i] = r.int(2) ? 0 : -0;
        break;
      case "ties":
        x[i] = (r.int(17) - 8) * 0.5;
        break;
    }
  }
  return x;
}
