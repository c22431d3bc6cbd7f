/**
 * Statistics for benchmark samples, all pure functions over arrays of numbers:
 * - the llama-bench conventions (`tools/llama-bench/llama-bench.cpp`): `avg` is the arithmetic mean of the
 *   per-repetition values and `stddev` the sample standard deviation (N - 1), defined as 0 when N <= 1;
 * - the median and quantiles (linear interpolation between order statistics, numpy's default "type 7");
 * - percentile-bootstrap confidence intervals of a median and of a ratio of medians, with a seeded generator so a
 *   verdict computed twice from the same receipts is the same verdict;
 * - the Mann-Whitney U rank test (two-sided): exact distribution for small samples without ties, normal
 *   approximation with tie and continuity corrections otherwise (as `scipy.stats.mannwhitneyu`).
 *
 * Why medians, bootstrap and a rank test: per-repetition timings on shared machines are skewed and heavy-tailed
 * (a repetition that lost its core to another process), so a mean and a t-test are dragged by single outliers.
 * Laaber, Scheuner and Leitner (Empirical Software Engineering 24(4), 2019) detect slowdowns of 10% on cloud
 * machines with "Wilcoxon rank-sum and overlapping bootstrapped confidence intervals"; criterion.rs gates a change
 * on significance and an effect size together. receipts/baseline_compare.ts builds its verdict from these.
 *
 * @module
 */

import type { StatsJson } from "./bench_receipt.ts";
import { Prng } from "./prng.ts";

/** Summary of one sample, in the units of the sample: the shape bench receipts store (`StatsJson`). */
export type SampleStats = StatsJson;

/** A point estimate with a two-sided confidence interval. */
export interface Interval {
  /** The estimate computed from the full samples. */
  readonly estimate: number;
  /** Lower bound of the interval. */
  readonly low: number;
  /** Upper bound of the interval. */
  readonly high: number;
  /** Confidence level, e.g. 0.95. */
  readonly confidence: number;
  /** Bootstrap resamples drawn. */
  readonly resamples: number;
}

/** Options of the bootstrap functions. */
export interface BootstrapOptions {
  /** Confidence level in (0, 1); default 0.95. */
  readonly confidence?: number;
  /** Resamples; default 10,000. */
  readonly resamples?: number;
  /** Generator seed; default 1. */
  readonly seed?: number;
}

/** Result of {@link mannWhitneyU}. */
export interface RankTest {
  /** U statistic of the first sample: pairs (x, y) with x > y, plus half the ties. */
  readonly u: number;
  /** Two-sided p-value. */
  readonly p: number;
  /** How p was computed. */
  readonly method: "exact" | "normal";
}

function checkSample(x: ArrayLike<number>, what: string): void {
  if (x.length === 0) throw new RangeError(`Cannot compute the ${what} of an empty sample: pass at least one value`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new RangeError(`Cannot compute the ${what}: value ${i} is ${x[i]}; samples must be finite numbers`);
    }
  }
}

function sorted(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x).sort();
}

/**
 * Arithmetic mean.
 *
 * @param x Finite values (at least one).
 * @returns The mean.
 * @throws {RangeError} For an empty sample or a non-finite value.
 * @example
 * ```ts
 * import { mean } from "./stats.ts";
 * console.log(mean([1, 2, 3, 4])); // 2.5
 * ```
 */
export function mean(x: ArrayLike<number>): number {
  checkSample(x, "mean");
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/**
 * Quantile by linear interpolation between order statistics (numpy's default, Hyndman and Fan type 7):
 * `h = (n - 1) q`, result `x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])` over the sorted values.
 *
 * @param x Finite values (at least one).
 * @param q Quantile in [0, 1].
 * @returns The quantile.
 * @throws {RangeError} For an empty sample, a non-finite value or `q` outside [0, 1].
 * @example
 * ```ts
 * import { quantile } from "./stats.ts";
 * console.log(quantile([1, 2, 3, 4, 5], 0.25)); // 2
 * ```
 */
export function quantile(x: ArrayLike<number>, q: number): number {
  checkSample(x, "quantile");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Cannot compute quantile ${q}: q must be in [0, 1]`);
  return quantileSorted(sorted(x), q);
}

function quantileSorted(s: ArrayLike<number>, q: number): number {
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/**
 * Median (the 0.5 quantile: the mean of the two middle values for an even count).
 *
 * @param x Finite values (at least one).
 * @returns The median.
 * @throws {RangeError} For an empty sample or a non-finite value.
 * @example
 * ```ts
 * import { median } from "./stats.ts";
 * console.log(median([4, 1, 3, 2])); // 2.5
 * ```
 */
export function median(x: ArrayLike<number>): number {
  return quantile(x, 0.5);
}

/**
 * Sample standard deviation with N - 1 in the denominator; 0 for a single value, as llama-bench's `stdev()`.
 *
 * @param x Finite values (at least one).
 * @returns The standard deviation.
 * @throws {RangeError} For an empty sample or a non-finite value.
 * @example
 * ```ts
 * import { sampleStddev } from "./stats.ts";
 * console.log(sampleStddev([2, 4, 4, 4, 5, 5, 7, 9])); // 2.138... = sqrt(32 / 7)
 * ```
 */
export function sampleStddev(x: ArrayLike<number>): number {
  const m = mean(x);
  if (x.length <= 1) return 0;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - m) ** 2;
  return Math.sqrt(ss / (x.length - 1));
}

/**
 * Count, mean, median, sample standard deviation, minimum and maximum of a sample.
 *
 * @param x Finite values (at least one).
 * @returns The summary.
 * @throws {RangeError} For an empty sample or a non-finite value.
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * console.log(summarize([3, 1, 2])); // { n: 3, mean: 2, median: 2, stddev: 1, min: 1, max: 3 }
 * ```
 */
export function summarize(x: ArrayLike<number>): SampleStats {
  const s = sorted(x);
  checkSample(s, "summary");
  return {
    n: s.length,
    mean: mean(s),
    median: quantileSorted(s, 0.5),
    stddev: sampleStddev(s),
    min: s[0],
    max: s[s.length - 1],
  };
}

function bootstrapSettings(opts: BootstrapOptions): { confidence: number; resamples: number; rng: Prng } {
  const confidence = opts.confidence ?? 0.95;
  const resamples = opts.resamples ?? 10_000;
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`Cannot bootstrap at confidence ${confidence}: it must be in (0, 1), e.g. 0.95`);
  }
  if (!Number.isInteger(resamples) || resamples < 100) {
    throw new RangeError(`Cannot bootstrap with ${resamples} resamples: use an integer >= 100`);
  }
  return { confidence, resamples, rng: new Prng(opts.seed ?? 1) };
}

/** Median of a resample of `x` drawn with replacement into `buf`. */
function resampledMedian(x: ArrayLike<number>, buf: Float64Array, rng: Prng): number {
  for (let i = 0; i < buf.length; i++) buf[i] = x[rng.int(x.length)];
  buf.sort();
  return quantileSorted(buf, 0.5);
}

function percentileInterval(estimate: number, stats: Float64Array, confidence: number): Interval {
  stats.sort();
  const alpha = 1 - confidence;
  return {
    estimate,
    low: quantileSorted(stats, alpha / 2),
    high: quantileSorted(stats, 1 - alpha / 2),
    confidence,
    resamples: stats.length,
  };
}

/**
 * Percentile-bootstrap confidence interval of a median: resample with replacement, take each resample's median,
 * report the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of those medians.
 *
 * @param x Finite values (at least one).
 * @param opts Confidence, resamples, seed.
 * @returns The median with its interval.
 * @throws {RangeError} For an empty sample, a non-finite value or bad options.
 * @example
 * ```ts
 * import { bootstrapMedianCi } from "./stats.ts";
 * const ci = bootstrapMedianCi([10, 11, 12, 13, 14], { seed: 7 });
 * console.log(ci.estimate, ci.low <= 12 && 12 <= ci.high); // 12 true
 * ```
 */
export function bootstrapMedianCi(x: ArrayLike<number>, opts: BootstrapOptions = {}): Interval {
  checkSample(x, "median interval");
  const { confidence, resamples, rng } = bootstrapSettings(opts);
  const buf = new Float64Array(x.length);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) stats[r] = resampledMedian(x, buf, rng);
  return percentileInterval(median(x), stats, confidence);
}

/**
 * Percentile-bootstrap confidence interval of `median(current) / median(base)`: each resample draws both samples
 * independently with replacement (they are different runs), and the interval is taken over the ratios.
 *
 * @param base Positive finite values of the reference run (e.g. a baseline's tokens/s).
 * @param current Positive finite values of the run under test.
 * @param opts Confidence, resamples, seed.
 * @returns The ratio of medians with its interval (below 1: `current` is smaller).
 * @throws {RangeError} For an empty sample, a non-finite or non-positive value, or bad options.
 * @example
 * ```ts
 * import { bootstrapMedianRatioCi } from "./stats.ts";
 * const ci = bootstrapMedianRatioCi([100, 100, 100], [80, 80, 80]);
 * console.log(ci.estimate, ci.low, ci.high); // 0.8 0.8 0.8
 * ```
 */
export function bootstrapMedianRatioCi(
  base: ArrayLike<number>,
  current: ArrayLike<number>,
  opts: BootstrapOptions = {},
): Interval {
  checkSample(base, "ratio interval (base)");
  checkSample(current, "ratio interval (current)");
  for (const [name, x] of [["base", base], ["current", current]] as const) {
    for (let i = 0; i < x.length; i++) {
      if (x[i] <= 0) {
        throw new RangeError(`Cannot bootstrap a ratio: ${name} value ${i} is ${x[i]}; values must be > 0`);
      }
    }
  }
  const { confidence, resamples, rng } = bootstrapSettings(opts);
  const bb = new Float64Array(base.length), cb = new Float64Array(current.length);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) stats[r] = resampledMedian(current, cb, rng) / resampledMedian(base, bb, rng);
  return percentileInterval(median(current) / median(base), stats, confidence);
}

/**
 * Probabilities of the Mann-Whitney U statistic under the null hypothesis for sizes `m`, `n` without ties:
 * `P(m, n, k) = m/(m+n) P(m-1, n, k-n) + n/(m+n) P(m, n-1, k)` (the largest of the m+n values is from the first
 * sample with probability m/(m+n), and then beats all n values of the second).
 */
function exactUDistribution(m: number, n: number): Float64Array {
  // table[j] holds P(i, j, .) for the current i.
  let prev: Float64Array[] = [];
  for (let i = 0; i <= m; i++) {
    const cur: Float64Array[] = [];
    for (let j = 0; j <= n; j++) {
      const p = new Float64Array(i * j + 1);
      if (i === 0 || j === 0) p[0] = 1;
      else {
        const a = i / (i + j), b = j / (i + j);
        const left = prev[j], right = cur[j - 1];
        for (let k = 0; k < left.length; k++) p[k + j] += a * left[k];
        for (let k = 0; k < right.length; k++) p[k] += b * right[k];
      }
      cur.push(p);
    }
    prev = cur;
  }
  return prev[n];
}

/** Complementary error function (Numerical Recipes `erfcc`, Chebyshev fit, fractional error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 +
      t * (1.00002368 +
          t * (0.37409196 +
              t * (0.09678418 +
                  t *
                    (-0.18628806 +
                      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/**
 * Mann-Whitney U (Wilcoxon rank-sum) test, two-sided: do the two samples come from the same distribution?
 * Exact null distribution when there are no ties and both samples have at most 50 values; otherwise the normal
 * approximation with the tie-corrected variance and a continuity correction of 0.5 (scipy's defaults).
 *
 * @param x First sample (finite values).
 * @param y Second sample (finite values).
 * @returns U of `x` and the two-sided p-value.
 * @throws {RangeError} For an empty sample or a non-finite value.
 * @example
 * ```ts
 * import { mannWhitneyU } from "./stats.ts";
 * console.log(mannWhitneyU([1, 2, 3], [4, 5, 6])); // { u: 0, p: 0.1, method: "exact" }: 2 of C(6,3) = 20 orders
 * ```
 */
export function mannWhitneyU(x: ArrayLike<number>, y: ArrayLike<number>): RankTest {
  checkSample(x, "rank test (first sample)");
  checkSample(y, "rank test (second sample)");
  const m = x.length, n = y.length, total = m + n;
  const all = [...Array.from(x, (v) => ({ v, first: true })), ...Array.from(y, (v) => ({ v, first: false }))]
    .sort((a, b) => a.v - b.v);
  // Mid-ranks (1-based), and the tie term sum(t^3 - t).
  let rankSumX = 0, tieTerm = 0;
  for (let i = 0; i < total;) {
    let j = i;
    while (j + 1 < total && all[j + 1].v === all[i].v) j++;
    const t = j - i + 1, rank = (i + j) / 2 + 1;
    tieTerm += t ** 3 - t;
    for (let k = i; k <= j; k++) if (all[k].first) rankSumX += rank;
    i = j + 1;
  }
  const u = rankSumX - (m * (m + 1)) / 2;
  if (tieTerm === 0 && m <= 50 && n <= 50) {
    const dist = exactUDistribution(m, n);
    const lo = Math.min(u, m * n - u);
    let cdf = 0;
    for (let k = 0; k <= lo; k++) cdf += dist[k];
    return { u, p: Math.min(1, 2 * cdf), method: "exact" };
  }
  const mu = (m * n) / 2;
  const variance = ((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1)));
  if (variance <= 0) return { u, p: 1, method: "normal" };
  const z = (Math.abs(u - mu) - 0.5) / Math.sqrt(variance);
  // Two-sided: 2 * P(Z > z) = erfc(z / sqrt 2).
  return { u, p: Math.min(1, z <= 0 ? 1 : erfc(z / Math.SQRT2)), method: "normal" };
}
