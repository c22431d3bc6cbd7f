/**
 * Token sampling: greedy argmax (ties go to the lowest id), and temperature / top-k / top-p sampling driven by a
 * seeded PRNG, so a seed reproduces a generation exactly. The stochastic chain follows llama.cpp's default
 * sampler order (`common/sampling.cpp`): top-k, then top-p on the untempered distribution, then temperature, then
 * a draw.
 *
 * @module
 */

/** How to pick the next token. */
export interface SamplingOptions {
  /** Always take the most likely token (the default when no temperature is given). */
  readonly greedy?: boolean;
  /** Softmax temperature; `<= 0` means greedy. Default 0.8 when sampling. */
  readonly temperature?: number;
  /** Keep only the K most likely tokens; `0` keeps all. Default 40. */
  readonly topK?: number;
  /** Keep the smallest set of tokens whose probability reaches P; `1` keeps all. Default 0.95. */
  readonly topP?: number;
  /** PRNG seed (unsigned 32-bit). Default: a random seed, reported by {@link Sampler.seed}. */
  readonly seed?: number;
}

/**
 * Index of the largest logit; ties go to the lowest index, NaNs never win.
 *
 * @param logits Scores.
 * @returns The index, or -1 when every score is NaN or the array is empty.
 * @example
 * ```ts
 * import { argmax } from "./sampling.ts";
 * console.log(argmax(new Float32Array([1, 3, 3, 2]))); // 1
 * ```
 */
export function argmax(logits: Float32Array): number {
  let best = -1, bestV = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > bestV || (best < 0 && v === -Infinity)) {
      best = i;
      bestV = v;
    }
  }
  return best;
}

/**
 * A small seeded PRNG (mulberry32): 32-bit state, uniform doubles in [0, 1).
 *
 * @example
 * ```ts
 * import { Prng } from "./sampling.ts";
 * const a = new Prng(42), b = new Prng(42);
 * console.log(a.next() === b.next()); // true
 * ```
 */
export class Prng {
  #s: number;

  /**
   * Create a generator.
   *
   * @param seed Unsigned 32-bit seed.
   */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** Next uniform double in [0, 1) (32 random bits). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) | 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/**
 * Picks tokens from logits. Buffers are sized once for the vocabulary; `sample` allocates nothing.
 *
 * @example
 * ```ts
 * import { Sampler } from "./sampling.ts";
 * const s = new Sampler(4, { temperature: 0.7, topK: 2, seed: 1 });
 * const id = s.sample(new Float32Array([0, 5, 4.5, -1]));
 * console.log(id === 1 || id === 2); // true
 * ```
 */
export class Sampler {
  /** True when the sampler always takes the argmax. */
  readonly greedy: boolean;
  /** Temperature used (0 when greedy). */
  readonly temperature: number;
  /** Top-k used (0 = all). */
  readonly topK: number;
  /** Top-p used (1 = all). */
  readonly topP: number;
  /** The seed in use (reproduces the run). */
  readonly seed: number;
  #prng: Prng;
  #idx: Int32Array;
  #p: Float64Array;

  /**
   * Create a sampler for a vocabulary.
   *
   * @param nVocab Vocabulary size.
   * @param opts Sampling parameters.
   * @throws {RangeError} For a negative top-k, a top-p outside (0, 1] or a non-finite temperature.
   */
  constructor(nVocab: number, opts: SamplingOptions = {}) {
    const temp = opts.temperature ?? (opts.greedy === false ? 0.8 : 0);
    if (!Number.isFinite(temp)) {
      throw new RangeError(`Cannot sample with temperature ${temp}: pass a finite number (0 = greedy)`);
    }
    const topK = opts.topK ?? 40, topP = opts.topP ?? 0.95;
    if (!Number.isInteger(topK) || topK < 0) {
      throw new RangeError(`Cannot sample with topK ${topK}: pass an integer >= 0 (0 = all)`);
    }
    if (!(topP > 0 && topP <= 1)) throw new RangeError(`Cannot sample with topP ${topP}: pass a value in (0, 1]`);
    this.greedy = opts.greedy === true || temp <= 0;
    this.temperature = this.greedy ? 0 : temp;
    this.topK = topK;
    this.topP = topP;
    this.seed = (opts.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
    this.#prng = new Prng(this.seed);
    this.#idx = new Int32Array(this.greedy ? 0 : nVocab);
    this.#p = new Float64Array(this.greedy ? 0 : nVocab);
  }

  /**
   * Pick the next token.
   *
   * @param logits `[V]` scores of the last position.
   * @returns The token id.
   */
  sample(logits: Float32Array): number {
    if (this.greedy) return argmax(logits);
    const idx = this.#idx, p = this.#p, V = logits.length;
    // top-k: the k best ids in descending order (ties: lower id first), by insertion into a sorted prefix.
    let n: number;
    if (this.topK > 0 && this.topK < V) {
      const k = this.topK;
      n = 0;
      for (let i = 0; i < V; i++) {
        const v = logits[i];
        if (!(v === v)) continue;
        if (n === k && !(v > logits[idx[k - 1]])) continue;
        let j = n < k ? n++ : k - 1;
        while (j > 0 && v > logits[idx[j - 1]]) {
          idx[j] = idx[j - 1];
          j--;
        }
        idx[j] = i;
      }
    } else {
      n = 0;
      for (let i = 0; i < V; i++) if (logits[i] === logits[i]) idx[n++] = i;
      idx.subarray(0, n).sort((a, b) => logits[b] - logits[a] || a - b);
    }
    if (n === 0) return argmax(logits);
    // top-p on the untempered softmax: keep the shortest prefix whose mass reaches P (at least one token).
    const max = logits[idx[0]];
    if (this.topP < 1) {
      let sum = 0;
      for (let j = 0; j < n; j++) sum += p[j] = Math.exp(logits[idx[j]] - max);
      let cum = 0, keep = n;
      for (let j = 0; j < n; j++) {
        cum += p[j] / sum;
        if (cum >= this.topP) {
          keep = j + 1;
          break;
        }
      }
      n = keep;
    }
    // temperature, then a draw from the renormalized distribution.
    let sum = 0;
    for (let j = 0; j < n; j++) sum += p[j] = Math.exp((logits[idx[j]] - max) / this.temperature);
    let u = this.#prng.next() * sum;
    for (let j = 0; j < n; j++) {
      u -= p[j];
      if (u < 0) return idx[j];
    }
    return idx[n - 1];
  }
}
