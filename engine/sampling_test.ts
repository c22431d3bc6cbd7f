/**
 * Sampling and the kernel recorder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { argmax, Prng, Sampler } from "./sampling.ts";
import { KernelRecorder } from "./backends/recorder.ts";

Deno.test("argmax() takes the lowest id on ties and never picks NaN", () => {
  assert.equal(argmax(Float32Array.of(1, 5, 5, 2)), 1);
  assert.equal(argmax(Float32Array.of(NaN, -1, NaN, -1)), 1);
  assert.equal(argmax(Float32Array.of(-Infinity, -Infinity)), 0);
  assert.equal(argmax(new Float32Array(0)), -1);
});

Deno.test("Sampler is greedy without a temperature and with temperature 0", () => {
  const logits = Float32Array.of(0.1, 2, 2, -3);
  assert.equal(new Sampler(4).greedy, true);
  assert.equal(new Sampler(4).sample(logits), 1);
  assert.equal(new Sampler(4, { temperature: 0, seed: 3 }).sample(logits), 1);
});

Deno.test("Sampler with the same seed reproduces the same draws; another seed differs", () => {
  const rng = new Prng(1);
  const logits = Float32Array.from({ length: 500 }, () => rng.next() * 4);
  const draw = (seed: number) => {
    const s = new Sampler(500, { temperature: 1.5, topK: 0, topP: 1, seed });
    return Array.from({ length: 50 }, () => s.sample(logits));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

Deno.test("Sampler top-k 1 and a tiny top-p always return the argmax", () => {
  const rng = new Prng(2);
  const logits = Float32Array.from({ length: 300 }, () => rng.next());
  const best = argmax(logits);
  for (let seed = 0; seed < 20; seed++) {
    assert.equal(new Sampler(300, { temperature: 5, topK: 1, seed }).sample(logits), best);
    assert.equal(new Sampler(300, { temperature: 5, topK: 0, topP: 1e-6, seed }).sample(logits), best);
  }
});

Deno.test("Sampler draws follow softmax(logits / T) and top-k drops the tail", () => {
  const p = [0.5, 0.3, 0.15, 0.05];
  const logits = Float32Array.from(p, (x) => Math.log(x));
  const counts = (opts: { temperature: number; topK: number }) => {
    const s = new Sampler(4, { ...opts, topP: 1, seed: 12345 });
    const c = [0, 0, 0, 0];
    for (let i = 0; i < 40000; i++) c[s.sample(logits)]++;
    return c.map((x) => x / 40000);
  };
  const t1 = counts({ temperature: 1, topK: 0 });
  p.forEach((want, i) => assert.ok(Math.abs(t1[i] - want) < 0.01, `T=1 id ${i}: ${t1[i]} vs ${want}`));
  // T = 2: probabilities proportional to sqrt(p).
  const z = p.reduce((a, x) => a + Math.sqrt(x), 0);
  const t2 = counts({ temperature: 2, topK: 0 });
  p.forEach((x, i) => assert.ok(Math.abs(t2[i] - Math.sqrt(x) / z) < 0.01, `T=2 id ${i}`));
  // top-k 2 renormalizes over the two best.
  const k2 = counts({ temperature: 1, topK: 2 });
  assert.deepEqual([k2[2], k2[3]], [0, 0]);
  assert.ok(Math.abs(k2[0] - 0.5 / 0.8) < 0.01);
});

Deno.test("Sampler top-p keeps the shortest prefix reaching p", () => {
  const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05], (x) => Math.log(x));
  const s = new Sampler(4, { temperature: 1, topK: 0, topP: 0.75, seed: 9 });
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(s.sample(logits));
  assert.deepEqual([...seen].sort(), [0, 1]);
});

Deno.test("Sampler rejects out-of-range parameters with the accepted range", () => {
  assert.throws(() => new Sampler(4, { temperature: 1, topK: -1 }), /topK -1: pass an integer >= 0/);
  assert.throws(() => new Sampler(4, { temperature: 1, topP: 0 }), /topP 0: pass a value in \(0, 1\]/);
  assert.throws(() => new Sampler(4, { temperature: NaN }), /temperature NaN/);
});

Deno.test("KernelRecorder keeps first-run order and counts launches", () => {
  const r = new KernelRecorder();
  for (const id of ["ref.rms_norm", "ref.gemm.tq2_0_q8_k", "ref.rms_norm", "ref.add", "ref.rms_norm"]) r.record(id);
  assert.deepEqual(r.ids(), ["ref.rms_norm", "ref.gemm.tq2_0_q8_k", "ref.add"]);
  assert.deepEqual(r.records(), [
    { id: "ref.rms_norm", calls: 3 },
    { id: "ref.gemm.tq2_0_q8_k", calls: 1 },
    { id: "ref.add", calls: 1 },
  ]);
  assert.equal(r.totalCalls, 5);
  r.reset();
  assert.deepEqual(r.ids(), []);
});
