/**
 * The decision rule of `compareToBaseline`, scenario by scenario. The structure (machine, model, settings) comes
 * from one real bench receipt; the samples are then replaced by constructed ones with a known shift, because what
 * is tested here is the rule (significance + effect, llama.cpp as the control, like-with-like), not a machine. The
 * end-to-end proof on real measurements is tests/baseline_regression_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "../engine/synth/_testing.ts";
import { benchModelFile } from "../bench/bench_model.ts";
import { type Baseline, generateBaseline, verifyBaseline } from "./baseline.ts";
import { compareToBaseline } from "./baseline_compare.ts";
import { verifyReceipt } from "./verify.ts";
import type { BenchReceipt } from "./bench_receipt.ts";

const real = await benchModelFile(await fixtureModel(), { threads: 1, tests: ["pp16", "tg4"], reps: 3, warmup: 0 });
const template = generateBaseline([real]);

// deno-lint-ignore no-explicit-any
type Json = { [k: string]: any };
const N = 10;
/** Values around a level, `step` apart (a spread of about +-5% by default), in a scrambled order. */
const spread = (level: number, k: number, step = 0.01) =>
  Array.from({ length: N }, (_, i) => level * (1 - 5 * step + step * ((i * k) % N)));

interface Scenario {
  /** Factor on our engine's tokens/s. */
  engine: number;
  /** Factor on llama.cpp's tokens/s (the machine). */
  reference: number;
  /** Repetitions in the current receipt. */
  reps?: number;
  /** Change the current receipt. */
  edit?: (r: Json) => void;
  /** Threshold (default 0.10). */
  threshold?: number;
  /** Spacing of llama.cpp's values (default 0.01, about +-5%; 0: a perfectly steady control). */
  referenceStep?: number;
}

function run(s: Scenario) {
  const baseE = spread(1000, 3), baseR = spread(2000, 7, s.referenceStep);
  const baseline = structuredClone(template) as Json as Baseline & Json;
  for (const b of baseline.benchmarks as unknown as Json[]) {
    b.engine.samples_ts = baseE;
    b.reference.samples_ts = baseR;
    b.ratio_samples = baseE.map((x, i) => x / baseR[i]);
  }
  const reps = s.reps ?? N;
  const cur = JSON.parse(JSON.stringify(real)) as Json;
  cur.settings.reps = reps;
  for (const res of cur.results as Json[]) {
    const e = spread(1000 * s.engine, 7).slice(0, reps),
      r = spread(2000 * s.reference, 3, s.referenceStep).slice(0, reps);
    res.engine.samples_ts = e;
    res.reference.samples_ts = r;
    res.ratio.samples = e.map((x, i) => x / r[i]);
  }
  s.edit?.(cur);
  return compareToBaseline(baseline, [cur as unknown as BenchReceipt], { threshold: s.threshold ?? 0.10 });
}
const verdicts = (c: ReturnType<typeof run>) => c.verdicts.map((v) => v.verdict);

Deno.test("identical distributions: no change, pass", () => {
  const c = run({ engine: 1, reference: 1 });
  assert.deepEqual(verdicts(c), ["no_change", "no_change"]);
  assert.equal(c.status, "pass");
});

Deno.test("the engine 40% slower on an unchanged machine: regression, fail", () => {
  const c = run({ engine: 0.6, reference: 1 });
  assert.deepEqual(verdicts(c), ["regression", "regression"]);
  assert.equal(c.status, "fail");
  const v = c.verdicts[0];
  assert.ok(v.engine!.ratio.estimate < 0.9 && v.engine!.ratio.high < 1 && v.engine!.p < 0.05);
  assert.equal(v.control!.significant, false);
});

Deno.test("the whole machine 40% slower (llama.cpp too): inconclusive, not a regression", () => {
  const c = run({ engine: 0.6, reference: 0.6 });
  assert.deepEqual(verdicts(c), ["inconclusive", "inconclusive"]);
  assert.equal(c.status, "pass");
  assert.ok(c.warnings.some((w) => w.includes("inconclusive")));
  assert.equal(c.verdicts[0].control!.change, "slower");
});

Deno.test("the machine slower and the engine slower still: regression (the ratio to llama.cpp moved too)", () => {
  const c = run({ engine: 0.3, reference: 0.6 });
  assert.deepEqual(verdicts(c), ["regression", "regression"]);
  assert.equal(c.verdicts[0].relative!.change, "slower");
});

Deno.test("fewer threads than the baseline: llama.cpp is no control, the engine's own drop is a regression", () => {
  const c = run({
    engine: 0.6,
    reference: 0.6,
    edit: (r) => {
      r.settings.threads += 1;
    },
  });
  assert.deepEqual(verdicts(c), ["regression", "regression"]);
  assert.equal(c.verdicts[0].control, null);
  assert.ok(c.verdicts[0].notes.some((n) => n.startsWith("threads differ")));
});

Deno.test("llama.cpp alone faster (the ratio falls, the engine's median does not): inconclusive", () => {
  const c = run({ engine: 1, reference: 1.6 });
  assert.deepEqual(verdicts(c), ["inconclusive", "inconclusive"]);
  assert.equal(c.verdicts[0].relative!.change, "slower");
  assert.equal(c.status, "pass");
});

Deno.test("the engine 50% faster: improvement, reported, pass", () => {
  const c = run({ engine: 1.5, reference: 1 });
  assert.deepEqual(verdicts(c), ["improvement", "improvement"]);
  assert.equal(c.status, "pass");
});

Deno.test("a significant 5% slowdown is within the 10% threshold: no change", () => {
  const c = run({ engine: 0.95, reference: 1 });
  assert.deepEqual(verdicts(c), ["no_change", "no_change"]);
  assert.ok(c.verdicts[0].engine!.significant, "the 5% shift is significant: the effect gate decided");
  // With a 3% threshold and a steady control (so the engine/llama.cpp ratio carries the engine's shift alone), the
  // same 5% shift is a regression.
  const strict = run({ engine: 0.95, reference: 1, threshold: 0.03, referenceStep: 0 });
  assert.deepEqual(verdicts(strict), ["regression", "regression"]);
});

Deno.test("another machine's baseline is a warning, not a verdict", () => {
  const c = run({
    engine: 0.5,
    reference: 1,
    edit: (r) => {
      r.machine.fingerprint = "0000000000000000";
    },
  });
  assert.deepEqual(verdicts(c), ["not_comparable", "not_comparable"]);
  assert.equal(c.status, "pass");
  assert.ok(c.warnings.some((w) => w.includes("another machine")));
  assert.ok(c.warnings.some((w) => w.includes("nothing was compared")));
});

Deno.test("another model, too few repetitions, or a missing test are not verdicts either", () => {
  const model = run({ engine: 0.5, reference: 1, edit: (r) => (r.model_sha256 = "f".repeat(64)) });
  assert.deepEqual(verdicts(model), ["not_comparable", "not_comparable"]);
  // 1 repetition against 10: the smallest two-sided p a rank test can give is 2 / C(11, 1) = 0.18, so no
  // difference could ever be significant at 95%.
  const few = run({ engine: 0.5, reference: 1, reps: 1 });
  assert.deepEqual(verdicts(few), ["not_comparable", "not_comparable"]);
  assert.match(few.verdicts[0].reason, /too few repetitions/);
  const missing = run({ engine: 1, reference: 1, edit: (r) => r.results.pop() });
  assert.deepEqual(verdicts(missing), ["no_change", "missing"]);
});

Deno.test("a generated baseline verifies; a hand-edited one fails for the stated reason", () => {
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(template))), []);
  const codes = (b: Json) => [...new Set(verifyBaseline(b).map((p) => p.code))].sort();
  const tps = JSON.parse(JSON.stringify(template)) as Json;
  tps.cpu_tps *= 2;
  assert.deepEqual(codes(tps), ["headline_inconsistent"]);
  const samples = JSON.parse(JSON.stringify(template)) as Json;
  samples.benchmarks[0].engine.samples_ts[0] *= 2;
  assert.deepEqual(codes(samples), ["ratio_inconsistent", "stats_inconsistent"]);
  const id = JSON.parse(JSON.stringify(template)) as Json;
  id.benchmarks[0].id = "other/pp16";
  assert.deepEqual(codes(id), ["baseline_id"]);
});
