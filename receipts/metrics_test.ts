/**
 * Statistics used by the parity gates, checked against their definitions computed independently in the test
 * (closed forms for two-point distributions, brute-force sorts and sums).
 */
import assert from "node:assert/strict";
import {
  argmax,
  cosineSimilarity,
  klDivergence,
  klDivergenceLogProbs,
  logSoftmax,
  maxAbsDiff,
  nmse,
  percentile,
  proportion,
  rms,
  summarize,
  topK,
} from "./metrics.ts";

Deno.test("cosineSimilarity() is 1 for parallel, -1 for opposite, 0 for orthogonal vectors, NaN with a NaN", () => {
  assert.equal(cosineSimilarity([1, 2, 3], [2, 4, 6]), 1);
  assert.equal(cosineSimilarity([1, 2, 3], [-1, -2, -3]), -1);
  assert.equal(cosineSimilarity([1, 0], [0, 5]), 0);
  assert.equal(cosineSimilarity([0, 0], [0, 0]), 1);
  assert.equal(cosineSimilarity([0, 0], [1, 0]), 0);
  assert.ok(Number.isNaN(cosineSimilarity([1, NaN], [1, 1])));
  const a = [0.3, -1.2, 2.5], b = [0.1, -1.0, 2.9];
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  const expect = dot / Math.hypot(...a) / Math.hypot(...b);
  assert.ok(Math.abs(cosineSimilarity(a, b) - expect) < 1e-15);
  assert.throws(() => cosineSimilarity([1], [1, 2]), RangeError);
});

Deno.test("logSoftmax() sums to one in probability and survives huge logits", () => {
  const lp = logSoftmax(Float32Array.of(1000, 1001, 999));
  const p = Array.from(lp, Math.exp);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // Shift invariance: softmax(x) = softmax(x - 1000), computed naively on the shifted values.
  const z = [0, 1, -1].map(Math.exp), zs = z.reduce((a, b) => a + b, 0);
  p.forEach((v, i) => assert.ok(Math.abs(v - z[i] / zs) < 1e-12));
  assert.ok(logSoftmax([1, NaN]).every(Number.isNaN));
  assert.ok(logSoftmax([1, Infinity]).every(Number.isNaN));
  assert.throws(() => logSoftmax([]), RangeError);
});

Deno.test("klDivergence() matches the closed form for two-point distributions and is 0 for identical logits", () => {
  for (const [a, b] of [[0, 1], [2, -3], [0.5, 0.25]]) {
    // Two logits [0, a] and [0, b]: p = 1/(1+e^a), 1-p; q likewise.
    const p1 = 1 / (1 + Math.exp(a)), q1 = 1 / (1 + Math.exp(b));
    const expect = p1 * Math.log(p1 / q1) + (1 - p1) * Math.log((1 - p1) / (1 - q1));
    assert.ok(Math.abs(klDivergence([0, a], [0, b]) - expect) < 1e-14, `a=${a} b=${b}`);
  }
  const x = Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i));
  assert.equal(klDivergence(x, x), 0);
  assert.ok(klDivergenceLogProbs(logSoftmax([1, 2]), logSoftmax([2, 1])) > 0);
});

Deno.test("maxAbsDiff() and nmse() follow their definitions (nmse: ggml test-backend-ops)", () => {
  const a = [1, -2, 3, 4], b = [1.5, -2, 2, 4];
  assert.equal(maxAbsDiff(a, b), 1);
  const err = a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0), norm = a.reduce((s, v) => s + v * v, 0);
  assert.equal(nmse(a, b), err / norm);
  assert.equal(nmse([0, 0], [0, 0]), 0);
  assert.equal(nmse([0, 0], [0, 1]), Infinity);
  assert.ok(Number.isNaN(nmse([1, NaN], [1, 1])));
  assert.ok(Number.isNaN(maxAbsDiff([NaN], [1])));
});

Deno.test("topK() orders by value then lower id, skips NaN; argmax() takes the lowest id among equals", () => {
  assert.deepEqual(topK([3, 9, 9, 1, NaN, 9], 4), [1, 2, 5, 0]);
  assert.deepEqual(topK([NaN, NaN], 2), []);
  assert.equal(argmax([5, 7, 7]), 1);
  assert.equal(argmax([]), -1);
  // Brute force against a full sort on random values.
  const v = Array.from({ length: 500 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 20));
  const sorted = v.map((x, i) => [x, i]).sort((p, q) => q[0] - p[0] || p[1] - q[1]).map((p) => p[1]);
  assert.deepEqual(topK(v, 10), sorted.slice(0, 10));
  assert.throws(() => topK(v, -1), RangeError);
});

Deno.test("summarize() gives llama-perplexity's mean ± uncertainty and interpolated percentiles", () => {
  const x = Array.from({ length: 101 }, (_, i) => i * 0.5);
  const s = summarize(x);
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const mean2 = x.reduce((a, b) => a + b * b, 0) / x.length;
  assert.equal(s.n, 101);
  assert.ok(Math.abs(s.mean - mean) < 1e-12);
  assert.ok(Math.abs(s.mean_uncertainty! - Math.sqrt((mean2 - mean * mean) / (x.length - 1))) < 1e-12);
  assert.equal(s.median, 25);
  assert.equal(s.max, 50);
  assert.equal(s.min, 0);
  // p99 of 0..50 step 0.5 with 101 points: rank 0.99*100 = 99 exactly -> 49.5.
  assert.equal(s.p99, x[99]);
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(summarize([1, 2, 3]).mean_uncertainty, null);
  assert.ok(Number.isNaN(summarize([1, NaN]).mean));
  assert.throws(() => summarize([]), RangeError);
});

Deno.test("proportion() and rms() follow their definitions", () => {
  const p = proportion(97, 100);
  assert.equal(p.p, 0.97);
  const q = 97 / 100;
  assert.equal(p.uncertainty, Math.sqrt((q * (1 - q)) / 99));
  assert.equal(proportion(1, 1).uncertainty, null);
  assert.throws(() => proportion(1, 0), RangeError);
  assert.throws(() => proportion(3, 2), RangeError);
  assert.equal(rms([3, -4]), Math.sqrt(12.5));
  assert.ok(Number.isNaN(rms([])));
});
