/**
 * {@link Prng}: a small seeded pseudo-random generator for the two places benchmarks need reproducible randomness:
 * the token ids fed to each repetition (llama-bench feeds `std::rand() % n_vocab`; we want the same ids on both
 * engines and on every run) and the bootstrap resamples of the statistics (a verdict must not change when the same
 * receipts are verified twice). It is the engine's mulberry32 (`Prng` in engine/sampling.ts) seeded through
 * splitmix32 (engine/synth/prng.ts), so that small consecutive seeds start far apart.
 *
 * @module
 */

import { Prng as Mulberry32 } from "../engine/sampling.ts";
import { splitmix32 } from "../engine/synth/prng.ts";

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
export class Prng extends Mulberry32 {
  /**
   * Create a generator.
   *
   * @param seed Any integer; only its low 32 bits are used.
   */
  constructor(seed: number) {
    super(splitmix32(seed));
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
