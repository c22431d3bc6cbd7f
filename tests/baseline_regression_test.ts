/**
 * The regression gate on real measurements. A baseline is generated from a real run of our engine and llama.cpp
 * on a generated tiny model; then
 * - a repeat run of the unchanged engine must not be flagged (no regression, status pass);
 * - a run whose engine is really slower must be flagged as a regression: the engine is wrapped in a test-only
 *   adapter that, after every decode call, busy-waits twice as long as the call itself took, so its tokens/s
 *   really drop to a third (-67%, far beyond the 10% threshold and beyond what load from other jobs did to a
 *   single-threaded run here), while llama.cpp, interleaved with it, is unchanged. No number is edited.
 * The same receipts then go through the CLI: `baselines gen` writes the dated and latest files, `baselines verify`
 * exits 0 on the repeat and 1 on the slowed run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { crossval } from "../cli/_testing.ts";
import { fixtureModel } from "./_fixtures.ts";
import { Engine } from "../engine/engine.ts";
import { CppModel } from "../ffi/mod.ts";
import { benchModelInfo } from "../bench/bench_model.ts";
import { runBench } from "../bench/run_bench.ts";
import { type BenchSubject, cppBenchSubject, engineBenchSubject } from "../bench/subject.ts";
import { generateBaseline } from "../receipts/baseline.ts";
import { compareToBaseline } from "../receipts/baseline_compare.ts";
import { verifyReceipt } from "../receipts/verify.ts";
import { writeJsonAtomic } from "../receipts/write.ts";

/** TEST-ONLY: after each decode, spin twice as long as the decode took: three times its cost, in real CPU work. */
function slowedDown(inner: BenchSubject): BenchSubject {
  return {
    ...inner,
    async decode(ids) {
      const t0 = performance.now();
      await inner.decode(ids);
      const spent = performance.now() - t0;
      while (performance.now() - t0 < 3 * spent) {
        // busy-wait: the slowdown is real time on the CPU, as a slower kernel would be
      }
    },
    describe: () => ({
      ...inner.describe(),
      faults: { delay: "busy-wait after each decode for twice its time (test-only)" },
    }),
  };
}

const path = await fixtureModel();
// Threads 1: the CI machine has two cores and other jobs; both engines get the same.
using cpp = await CppModel.load(path, { threads: 1, ctx: 64 });
using engine = await Engine.load(path, { backend: "wasm", threads: 1, nCtx: 64 });
const model = await benchModelInfo(path, cpp);
// 20 repetitions: on a busy machine the interval of a median ratio needs them (docs/benchmarks.md, "Repetitions").
const opts = { name: "tiny", model, tests: ["pp32", "tg16"], reps: 20, warmup: 2 };
const run = (e: BenchSubject) => runBench(e, cppBenchSubject(cpp), opts);
const base = await run(engineBenchSubject(engine));
const repeat = await run(engineBenchSubject(engine));
const slowed = await run(slowedDown(engineBenchSubject(engine)));
const baseline = generateBaseline([base]);

Deno.test("the baseline and repeat receipts are valid; the slowed one is marked as not a real engine run", () => {
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(base))), []);
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(repeat))), []);
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(slowed))).map((p) => p.code), ["engine_faults"]);
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(baseline))), []);
  assert.deepEqual(baseline.benchmarks.map((b) => b.id), ["tiny/pp32", "tiny/tg16"]);
  assert.equal(baseline.cpu_tps, base.tokens_per_second);
});

Deno.test("a repeat run of the unchanged engine passes baselines verify", () => {
  const cmp = compareToBaseline(baseline, [repeat]);
  const detail = cmp.verdicts.map((v) => `${v.id}: ${v.verdict}: ${v.reason}`).join("\n");
  assert.equal(cmp.status, "pass", detail);
  assert.equal(cmp.counts.regression, 0, detail);
  assert.equal(cmp.verdicts.length, 2);
});

Deno.test("a really slowed-down engine fails baselines verify as a regression of both tests", () => {
  const cmp = compareToBaseline(baseline, [slowed]);
  const detail = cmp.verdicts.map((v) => `${v.id}: ${v.verdict}: ${v.reason}`).join("\n");
  assert.equal(cmp.status, "fail", detail);
  for (const v of cmp.verdicts) {
    assert.equal(v.verdict, "regression", detail);
    // The adapter triples the time per call: relative to llama.cpp, interleaved with it, the engine is far beyond
    // the 10% threshold, and its own median is lower too.
    assert.ok(v.relative!.ratio.estimate < 0.9 && v.relative!.ratio.high < 1, detail);
    assert.ok(v.engine!.ratio.estimate < 1, detail);
    assert.ok(v.notes.some((n) => n.includes("test-only")), "the verdict must say the engine was modified");
  }
});

Deno.test("baselines gen and baselines verify on the CLI: exit 0 for the repeat, 1 for the slowed engine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crossval-baselines-" });
  try {
    await writeJsonAtomic(`${dir}/base/bench_tiny.json`, base);
    await writeJsonAtomic(`${dir}/repeat/bench_tiny.json`, repeat);
    await writeJsonAtomic(`${dir}/slowed/bench_tiny.json`, slowed);
    const cli = (...args: string[]) => crossval(args);
    const gen = await cli("baselines", "gen", "--receipts", `${dir}/base`, "--out", `${dir}/baselines`, "--json");
    assert.equal(gen.code, 0, gen.stderr);
    const written = JSON.parse(gen.stdout) as { files: string[] };
    assert.equal(written.files.length, 2);
    assert.ok(
      written.files.some((f) => /\/\d{8}-cpu\.json$/.test(f)) &&
        written.files.some((f) => f.endsWith("/latest-cpu.json")),
    );
    const latest = `${dir}/baselines/latest-cpu.json`;
    const ok = await cli("baselines", "verify", "--baseline", latest, "--receipts", `${dir}/repeat`, "--json");
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(JSON.parse(ok.stdout).comparison.status, "pass");
    const bad = await cli("baselines", "verify", "--baseline", latest, "--receipts", `${dir}/slowed`, "--json");
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    const report = JSON.parse(bad.stdout);
    assert.equal(report.comparison.status, "fail");
    assert.deepEqual(report.comparison.verdicts.map((v: { verdict: string }) => v.verdict), [
      "regression",
      "regression",
    ]);
    // The human table names the regression.
    const text = await cli("baselines", "verify", "--baseline", latest, "--receipts", `${dir}/slowed`);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /REGRESSION/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
