/**
 * Statistics for comparing two engines' numbers: pure functions on typed arrays, every sum in f64.
 *
 * - `cosineSimilarity`, `maxAbsDiff`, `nmse` compare two vectors (logits rows, intermediates). `nmse` is ggml's
 *   `test-backend-ops` metric, Σ(a−b)²/Σa² with `a` the reference.
 * - `logSoftmax` and `klDivergence` follow `llama-perplexity --kl-divergence`, with two deliberate differences:
 *   the reference log-probabilities are not quantized to uint16 and no term is dropped below −16, so identical
 *   inputs give exactly 0 instead of llama.cpp's ~5e-4 floor (llama.cpp `tools/perplexity/perplexity.cpp`, `kl_divergence`).
 * - `summarize` prints like llama-perplexity's final statistics: mean ± uncertainty
 *   `sqrt((Σx²/n − mean²)/(n−1))` (only for n > 10), max, linear-interpolated percentiles, median, min;
 *   `proportion` is its "Same top p" with binomial uncertainty `sqrt(p(1−p)/(n−1))`.
 *
 * @module
 */

/** A vector of numbers: `Float32Array` logits, `Float64Array` statistics, or plain arrays in tests. */
export type Numbers = ArrayLike<number>;

function sameLength(a: Numbers, b: Numbers, what: string): void {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compute ${what}: the vectors differ in length (${a.length} vs ${b.length})`);
  }
}

/**
 * Cosine similarity of two vectors, in f64.
 *
 * @param a First vector.
 * @param b Second vector, same length.
 * @returns `a·b / (|a| |b|)`; 1 when both are all zeros, 0 when exactly one is; NaN when any value is NaN.
 * @throws {RangeError} When the lengths differ.
 * @example
 * ```ts
 * import { cosineSimilarity } from "./metrics.ts";
 * console.log(cosineSimilarity([1, 2, 3], [2, 4, 6])); // 1
 * ```
 */
export function cosineSimilarity(a: Numbers, b: Numbers): number {
  sameLength(a, b, "a cosine similarity");
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (Number.isNaN(dot + na + nb)) return NaN;
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  // Clamp the rounding of dot/(|a||b|) into [-1, 1].
  return Math.max(-1, Math.min(1, dot / (Math.sqrt(na) * Math.sqrt(nb))));
}

/**
 * Largest absolute difference of two vectors.
 *
 * @param a First vector.
 * @param b Second vector, same length.
 * @returns `max |a_i − b_i|` (0 for empty vectors, NaN when any value is NaN).
 * @throws {RangeError} When the lengths differ.
 * @example
 * ```ts
 * import { maxAbsDiff } from "./metrics.ts";
 * console.log(maxAbsDiff([1, 2], [1.5, 1])); // 1
 * ```
 */
export function maxAbsDiff(a: Numbers, b: Numbers): number {
  sameLength(a, b, "a max |difference|");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

/**
 * Normalized mean squared error, `Σ(ref−x)² / Σref²` (ggml `tests/test-backend-ops.cpp`, `nmse`).
 *
 * @param ref Reference vector.
 * @param x Vector under test, same length.
 * @returns The NMSE; 0 when both are all zeros; Infinity when only `ref` is all zeros; NaN when any value is NaN
 *   or infinite (callers treat NaN as a failure, as test-backend-ops does).
 * @throws {RangeError} When the lengths differ.
 * @example
 * ```ts
 * import { nmse } from "./metrics.ts";
 * console.log(nmse([1, 1], [1, 1.1])); // ≈ 0.005
 * ```
 */
export function nmse(ref: Numbers, x: Numbers): number {
  sameLength(ref, x, "an NMSE");
  let err = 0, norm = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = ref[i] - x[i];
    err += d * d;
    norm += ref[i] * ref[i];
  }
  if (!Number.isFinite(err) || !Number.isFinite(norm)) return NaN;
  if (norm === 0) return err === 0 ? 0 : Infinity;
  return err / norm;
}

/**
 * Natural-log softmax in f64: `x_i − max − log Σ exp(x_j − max)`.
 *
 * @param x Logits (any finite values).
 * @param out Optional destination of the same length (reused to avoid allocation).
 * @returns Log-probabilities; all NaN when any input is NaN or +Infinity.
 * @throws {RangeError} When `x` is empty or `out` has the wrong length.
 * @example
 * ```ts
 * import { logSoftmax } from "./metrics.ts";
 * const lp = logSoftmax([0, 0]);
 * console.log(Math.exp(lp[0])); // 0.5
 * ```
 */
export function logSoftmax(x: Numbers, out: Float64Array = new Float64Array(x.length)): Float64Array {
  if (x.length === 0) throw new RangeError("Cannot compute a log-softmax of an empty vector");
  if (out.length !== x.length) {
    throw new RangeError(`Cannot compute a log-softmax into ${out.length} values: the input has ${x.length}`);
  }
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (Number.isNaN(v) || v === Infinity) return out.fill(NaN);
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
  return out;
}

/**
 * Kullback–Leibler divergence `KL(P‖Q) = Σ p_i (log p_i − log q_i)` from log-probabilities, full vocabulary,
 * no clamping.
 *
 * @param logP Reference log-probabilities (P).
 * @param logQ Log-probabilities under test (Q), same length.
 * @returns KL in nats, ≥ 0 up to rounding (tiny negative sums are returned as 0); NaN when an input is NaN.
 * @throws {RangeError} When the lengths differ.
 * @example
 * ```ts
 * import { klDivergenceLogProbs, logSoftmax } from "./metrics.ts";
 * console.log(klDivergenceLogProbs(logSoftmax([1, 2, 3]), logSoftmax([1, 2, 3]))); // 0
 * ```
 */
export function klDivergenceLogProbs(logP: Numbers, logQ: Numbers): number {
  sameLength(logP, logQ, "a KL divergence");
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i];
    if (lp === -Infinity) continue; // p = 0 contributes nothing
    kl += Math.exp(lp) * (lp - logQ[i]);
  }
  if (Number.isNaN(kl)) return NaN;
  return kl < 0 ? 0 : kl;
}

/**
 * `KL(softmax(ref) ‖ softmax(x))` from raw logits (log-softmax in f64 on both sides).
 *
 * @param refLogits Reference logits.
 * @param logits Logits under test, same length.
 * @returns KL in nats (NaN when an input is NaN or +Infinity).
 * @throws {RangeError} When the lengths differ or the vectors are empty.
 * @example
 * ```ts
 * import { klDivergence } from "./metrics.ts";
 * console.log(klDivergence([0, 0], [0, Math.log(3)]).toFixed(4)); // 0.1438
 * ```
 */
export function klDivergence(refLogits: Numbers, logits: Numbers): number {
  sameLength(refLogits, logits, "a KL divergence");
  return klDivergenceLogProbs(logSoftmax(refLogits), logSoftmax(logits));
}

/**
 * Indices of the `k` largest values, largest first; equal values are ordered by lower index first (the greedy
 * tie-break of both engines), NaNs are never chosen.
 *
 * @param x Values.
 * @param k How many (clamped to the number of non-NaN values).
 * @returns Indices.
 * @throws {RangeError} When `k` is not a non-negative integer.
 * @example
 * ```ts
 * import { topK } from "./metrics.ts";
 * console.log(topK([3, 9, 9, 1], 3)); // [1, 2, 0]
 * ```
 */
export function topK(x: Numbers, k: number): number[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`Cannot take the top ${k}: k must be an integer >= 0`);
  const idx: number[] = [];
  const better = (i: number, j: number) => x[i] > x[j] || (x[i] === x[j] && i < j);
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) continue;
    if (idx.length < k) {
      idx.push(i);
      for (let p = idx.length - 1; p > 0 && better(idx[p], idx[p - 1]); p--) {
        [idx[p], idx[p - 1]] = [idx[p - 1], idx[p]];
      }
    } else if (k > 0 && better(i, idx[k - 1])) {
      idx[k - 1] = i;
      for (let p = k - 1; p > 0 && better(idx[p], idx[p - 1]); p--) [idx[p], idx[p - 1]] = [idx[p - 1], idx[p]];
    }
  }
  return idx;
}

/**
 * Index of the largest value, lowest index on ties, NaN ignored (the same rule as `ffi`'s and the engine's greedy).
 *
 * @param x Values.
 * @returns The index, or -1 when `x` is empty or all NaN.
 * @example
 * ```ts
 * import { argmax } from "./metrics.ts";
 * console.log(argmax([1, 5, 5])); // 1
 * ```
 */
export function argmax(x: Numbers): number {
  return topK(x, 1)[0] ?? -1;
}

/**
 * Root mean square of values.
 *
 * @param x Values.
 * @returns `sqrt(Σx²/n)`; NaN for an empty input.
 * @example
 * ```ts
 * import { rms } from "./metrics.ts";
 * console.log(rms([3, -3])); // 3
 * ```
 */
export function rms(x: Numbers): number {
  if (x.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / x.length);
}

/** llama-perplexity-style summary of a sample. */
export interface Summary {
  /** Sample size. */
  readonly n: number;
  /** Mean. */
  readonly mean: number;
  /** `sqrt((Σx²/n − mean²)/(n−1))`, the uncertainty of the mean; null when n ≤ 10 (llama.cpp prints none). */
  readonly mean_uncertainty: number | null;
  /** Largest value. */
  readonly max: number;
  /** 99.9th percentile (linear interpolation between order statistics). */
  readonly p99_9: number;
  /** 99th percentile. */
  readonly p99: number;
  /** 95th percentile. */
  readonly p95: number;
  /** Median. */
  readonly median: number;
  /** Smallest value. */
  readonly min: number;
}

/**
 * Percentile of sorted values by linear interpolation between closest ranks (`fraction·(n−1)`), as
 * llama-perplexity's KLD percentiles.
 *
 * @param sorted Values sorted ascending (non-empty).
 * @param fraction In [0, 1].
 * @returns The interpolated value.
 * @throws {RangeError} For an empty input or a fraction outside [0, 1].
 * @example
 * ```ts
 * import { percentile } from "./metrics.ts";
 * console.log(percentile([1, 2, 3, 4], 0.5)); // 2.5
 * ```
 */
export function percentile(sorted: Numbers, fraction: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile of an empty sample");
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`Cannot take percentile ${fraction}: expected 0..1`);
  const p = fraction * (sorted.length - 1);
  const i = Math.floor(p);
  const f = p - i;
  return i + 1 < sorted.length ? (1 - f) * sorted[i] + f * sorted[i + 1] : sorted[i];
}

/**
 * Summary statistics of a sample.
 *
 * @param values The sample (NaN values make every statistic NaN: a NaN must never hide in a mean).
 * @returns Mean ± uncertainty, max, p99.9/p99/p95, median, min.
 * @throws {RangeError} For an empty sample.
 * @example
 * ```ts
 * import { summarize } from "./metrics.ts";
 * const s = summarize([1, 2, 3, 4]);
 * console.log(s.mean, s.median, s.mean_uncertainty); // 2.5 2.5 null
 * ```
 */
export function summarize(values: Numbers): Summary {
  const n = values.length;
  if (n === 0) throw new RangeError("Cannot summarize an empty sample: nothing was compared");
  const sorted = Float64Array.from(values);
  if (sorted.some(Number.isNaN)) {
    return { n, mean: NaN, mean_uncertainty: NaN, max: NaN, p99_9: NaN, p99: NaN, p95: NaN, median: NaN, min: NaN };
  }
  sorted.sort();
  let s = 0, s2 = 0;
  for (const v of sorted) {
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  // llama-perplexity: sqrt((<x²> − <x>²)/(n − 1)), only for n > 10; clamp rounding below zero.
  const mean_uncertainty = n > 10 ? Math.sqrt(Math.max(0, s2 / n - mean * mean) / (n - 1)) : null;
  return {
    n,
    mean,
    mean_uncertainty,
    max: sorted[n - 1],
    p99_9: percentile(sorted, 0.999),
    p99: percentile(sorted, 0.99),
    p95: percentile(sorted, 0.95),
    median: percentile(sorted, 0.5),
    min: sorted[0],
  };
}

/** A proportion with its binomial uncertainty. */
export interface Proportion {
  /** Successes. */
  readonly k: number;
  /** Trials. */
  readonly n: number;
  /** `k/n`. */
  readonly p: number;
  /** `sqrt(p(1−p)/(n−1))` (llama-perplexity's "Same top p ± ..."); null when n < 2. */
  readonly uncertainty: number | null;
}

/**
 * A proportion with llama-perplexity's binomial uncertainty.
 *
 * @param k Successes.
 * @param n Trials (> 0).
 * @returns `{k, n, p, uncertainty}`.
 * @throws {RangeError} When n is 0 or k is outside 0..n.
 * @example
 * ```ts
 * import { proportion } from "./metrics.ts";
 * console.log(proportion(99, 100).p); // 0.99
 * ```
 */
export function proportion(k: number, n: number): Proportion {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Cannot compute a proportion of ${n} trials: need n >= 1`);
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new RangeError(`Cannot compute a proportion ${k}/${n}: k out of range`);
  }
  const p = k / n;
  return { k, n, p, uncertainty: n > 1 ? Math.sqrt((p * (1 - p)) / (n - 1)) : null };
}

/**
 * Index of the first difference of two id sequences.
 *
 * @param a First sequence.
 * @param b Second sequence.
 * @returns The index, `min(len)` when one is a prefix of the other, or -1 when they are equal.
 * @example
 * ```ts
 * import { firstDifference } from "./metrics.ts";
 * console.log(firstDifference([1, 2, 3], [1, 2, 4])); // 2
 * console.log(firstDifference([1, 2], [1, 2])); // -1
 * ```
 */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
