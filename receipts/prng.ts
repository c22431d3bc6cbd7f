/**
 * {@link Prng}: a small seeded pseudo-random generator for the two places benchmarks need reproducible randomness:
 * the token ids fed to each repetition (llama-bench feeds `std::rand() % n_vocab`; we want the same ids on both
 * engines and on every run) and the bootstrap resamples of the statistics (a verdict must not change when the same
 * receipts are verified twice). It is mulberry32 (the engine's sampler generator, `Prng` in engine/sampling.ts)
 * seeded through splitmix32 (as engine/synth/prng.ts expands seeds), so that small consecutive seeds start far apart.
 *
 * Written out here rather than imported: receipts are verified without the engine (verdicts recomputed by
 * `crossval receipt verify` must not change when the engine does). `receipts/prng_test.ts` checks that the
 * sequence is the engine's, seed for seed.
 *
 * @module
 */

/** splitmix32 finaliser (Sebastiano Vigna): consecutive seeds give unrelated states. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Seeded generator of uniform 32-bit integers and floats.
 *
 * @example
 * ```ts
 * import { Prng } from "./prng.ts";
 * const a = new Prng(42), b = new Prng(42);
 * console.log(a.int(1000) === b.int(1000)); // true: same seed, same sequence
 * ```
 */
export class Prng {
  #s: number;

  /**
   * Create a generator.
   *
   * @param seed Any integer; only its low 32 bits are used.
   */
  constructor(seed: number) {
    this.#s = splitmix32(seed);
  }

  /**
   * Next uniform double in [0, 1) (mulberry32 step, 32 random bits).
   *
   * @returns A float in [0, 1).
   */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) | 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * Next uniform integer in [0, 2^32).
   *
   * @returns An unsigned 32-bit integer.
   */
  u32(): number {
    return this.next() * 4294967296;
  }

  /**
   * Next uniform float in [0, 1).
   *
   * @returns A float with 32 random bits.
   */
  float(): number {
    return this.next();
  }

  /**
   * Next uniform integer in [0, n).
   *
   * @param n Exclusive upper bound, a positive integer at most 2^32.
   * @returns An integer in [0, n).
   * @throws {RangeError} When `n` is not a positive integer.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`Cannot draw an integer below ${n}: n must be an integer in [1, 2^32]`);
    }
    return Math.floor(this.float() * n);
  }
}
