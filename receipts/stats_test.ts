/**
 * The statistics against cases small enough to check by hand (the derivation is in each test), with the value
 * scipy 1.17 / numpy 2.4 print for the same input noted where one exists.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  bootstrapMedianCi,
  bootstrapMedianRatioCi,
  mannWhitneyU,
  mean,
  median,
  quantile,
  sampleStddev,
  summarize,
} from "./stats.ts";
import { Prng } from "./prng.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: got ${a}, expected ${b} (tolerance ${tol})`);

Deno.test("mean(), median() and quantile() follow the textbook and numpy definitions", () => {
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5); // mean of the middle two
  // Type 7: h = (5 - 1) * 0.25 = 1 -> the second order statistic (numpy.quantile gives 2.0).
  assert.equal(quantile([5, 4, 3, 2, 1], 0.25), 2);
  // h = 4 * 0.1 = 0.4 -> 1 + 0.4 * (2 - 1).
  close(quantile([1, 2, 3, 4, 5], 0.1), 1.4, 1e-12, "interpolated quantile");
  assert.equal(quantile([7], 0.9), 7);
});

Deno.test("sampleStddev() divides by N - 1 and is 0 for one value, as llama-bench", () => {
  // Squared deviations from the mean 5: 9+1+1+1+0+0+4+16 = 32; sqrt(32 / 7) (numpy ddof=1: 2.138089935299395).
  close(sampleStddev([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7), 1e-12, "stddev");
  assert.equal(sampleStddev([5]), 0);
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, mean: 2, median: 2, stddev: 1, min: 1, max: 3 });
});

Deno.test("the statistics reject empty samples and non-finite values with the index", () => {
  assert.throws(() => mean([]), /empty sample/);
  assert.throws(() => median([1, NaN]), /value 1 is NaN/);
  assert.throws(() => quantile([1], 1.5), /q must be in \[0, 1\]/);
  assert.throws(() => bootstrapMedianRatioCi([1, 0], [1]), /base value 1 is 0/);
});

Deno.test("mannWhitneyU() exact p-values: complete separation and an interleaving", () => {
  // [1,2,3] below [4,5,6]: U = 0. Of the C(6,3) = 20 equally likely orders, only the two fully separated ones
  // are as extreme, so p = 2/20 (scipy exact: 0.1).
  const a = mannWhitneyU([1, 2, 3], [4, 5, 6]);
  assert.equal(a.method, "exact");
  assert.equal(a.u, 0);
  close(a.p, 0.1, 1e-12, "separated 3 vs 3");
  // The mirror image gives U = m*n = 9 and the same p.
  assert.equal(mannWhitneyU([4, 5, 6], [1, 2, 3]).u, 9);
  close(mannWhitneyU([4, 5, 6], [1, 2, 3]).p, 0.1, 1e-12, "mirror");
  // [1,3,5] vs [2,4,6]: pairs x > y are (3,2), (5,2), (5,4): U = 3. Counts of U = 0..9 for 3 vs 3 are
  // 1,1,2,3,3,3,3,2,1,1 (sum 20), so P(U <= 3) = 7/20 and p = 0.7 (scipy exact: 0.7).
  const b = mannWhitneyU([1, 3, 5], [2, 4, 6]);
  assert.equal(b.u, 3);
  close(b.p, 0.7, 1e-12, "interleaved");
  // 5 vs 5 separated: p = 2 / C(10,5) = 2/252 (scipy exact: 0.007936507936507936).
  close(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p, 2 / 252, 1e-12, "separated 5 vs 5");
});

Deno.test("mannWhitneyU() with ties uses mid-ranks and the tie-corrected normal approximation", () => {
  // Sorted: 1x 2x 2x 2y 3x 3y 3y 4y. Mid-ranks 1, 3,3,3, 6,6,6, 8. Rank sum of x = 1+3+3+6 = 13,
  // U = 13 - 4*5/2 = 3, mean 8. Ties: two groups of 3 -> sum(t^3 - t) = 48.
  // var = 16/12 * (9 - 48/56) = 10.857142857..., z = (|3 - 8| - 0.5) / sqrt(var) = 1.36570,
  // p = 2 * (1 - Phi(1.36570)) = 0.17203 (scipy asymptotic: 0.1720337089218229).
  const r = mannWhitneyU([1, 2, 2, 3], [2, 3, 3, 4]);
  assert.equal(r.method, "normal");
  assert.equal(r.u, 3);
  close(r.p, 0.1720337089218229, 2e-6, "tied p");
  // All values equal: no evidence of a difference.
  assert.equal(mannWhitneyU([5, 5, 5], [5, 5]).p, 1);
});

Deno.test("mannWhitneyU() switches to the normal approximation above 50 values", () => {
  // x = 0..59, y = 10.5..69.5: value k beats k - 10 of the y's, U = 1 + ... + 49 = 1225; mean 1800,
  // var = 3600/12 * 121 = 36300, z = (575 - 0.5) / 190.526 = 3.0153, p = 0.0025669 (scipy: 0.0025668879435241754).
  const x = Array.from({ length: 60 }, (_, i) => i), y = Array.from({ length: 60 }, (_, i) => i + 10.5);
  const r = mannWhitneyU(x, y);
  assert.equal(r.method, "normal");
  assert.equal(r.u, 1225);
  close(r.p, 0.0025668879435241754, 1e-6, "large-sample p");
});

Deno.test("bootstrap intervals are exact for constant samples and bounded by the extreme medians", () => {
  const c = bootstrapMedianRatioCi([100, 100, 100, 100], [80, 80, 80]);
  assert.deepEqual([c.estimate, c.low, c.high], [0.8, 0.8, 0.8]);
  // Every resampled median of [50..59] lies in [50, 59] and of [100..109] in [100, 109]: the ratio interval
  // must lie within [50/109, 59/100] and contain the estimate 54.5/104.5.
  const base = Array.from({ length: 10 }, (_, i) => 100 + i), cur = Array.from({ length: 10 }, (_, i) => 50 + i);
  const r = bootstrapMedianRatioCi(base, cur, { seed: 3 });
  close(r.estimate, 54.5 / 104.5, 1e-12, "estimate");
  assert.ok(r.low >= 50 / 109 && r.high <= 59 / 100, `interval [${r.low}, ${r.high}] outside the possible range`);
  assert.ok(r.low < r.estimate && r.estimate < r.high, `interval [${r.low}, ${r.high}] misses ${r.estimate}`);
  assert.equal(r.resamples, 10_000);
  assert.equal(r.confidence, 0.95);
});

Deno.test("bootstrap intervals are reproducible with a seed and widen with the confidence level", () => {
  const rng = new Prng(11);
  const x = Array.from({ length: 15 }, () => 100 + 20 * rng.float());
  const a = bootstrapMedianCi(x, { seed: 5 }), b = bootstrapMedianCi(x, { seed: 5 });
  assert.deepEqual(a, b);
  const wide = bootstrapMedianCi(x, { seed: 5, confidence: 0.99 });
  assert.ok(wide.low <= a.low && wide.high >= a.high, "a 99% interval must contain the 95% one");
  assert.ok(a.low >= Math.min(...x) && a.high <= Math.max(...x));
  assert.throws(() => bootstrapMedianCi(x, { confidence: 1 }), /confidence 1/);
  assert.throws(() => bootstrapMedianCi(x, { resamples: 10 }), /10 resamples/);
});

Deno.test("Prng is deterministic per seed and uniform enough for token ids", () => {
  const a = new Prng(1), b = new Prng(1), c = new Prng(2);
  const sa = Array.from({ length: 8 }, () => a.u32()), sb = Array.from({ length: 8 }, () => b.u32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, Array.from({ length: 8 }, () => c.u32()));
  // 100,000 draws over 10 bins: each bin's expected count is 10,000 with sd ~95; 5 sd is 475.
  const bins = new Array(10).fill(0);
  const r = new Prng(9);
  for (let i = 0; i < 100_000; i++) bins[r.int(10)]++;
  for (const [i, n] of bins.entries()) assert.ok(Math.abs(n - 10_000) < 475, `bin ${i} has ${n}`);
  assert.throws(() => r.int(0), /n must be an integer/);
});
