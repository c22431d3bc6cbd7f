/**
 * `runBench` and `timeRepetition` on real engines (our engine and llama.cpp on a generated tiny model): what is
 * timed, in which order, with which ids; the checks that refuse an unfair comparison; and a side that fails
 * mid-run, which yields a receipt that says so and never verifies.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "./_fixtures.ts";
import { Engine } from "../engine/engine.ts";
import { CppModel } from "../ffi/mod.ts";
import { benchModelInfo } from "../bench/bench_model.ts";
import { parseTestName, repetitionTokens, timeRepetition } from "../bench/measure.ts";
import { type BenchEvent, runBench } from "../bench/run_bench.ts";
import { type BenchSubject, cppBenchSubject, engineBenchSubject } from "../bench/subject.ts";
import { verifyReceipt } from "../receipts/verify.ts";

const path = await fixtureModel();

/** Forwards to a real subject and records the calls it receives. */
function recording(inner: BenchSubject, log: string[]): BenchSubject {
  return {
    ...inner,
    reset() {
      log.push("reset");
      return inner.reset();
    },
    decode(ids) {
      log.push(`decode ${Array.from(ids).join(",")}`);
      return inner.decode(ids);
    },
  };
}

Deno.test("timeRepetition(): pp is one decode of the whole prompt, tg is N single-token decodes, after a reset", async () => {
  using cpp = await CppModel.load(path, { threads: 1, ctx: 64 });
  const subject = cppBenchSubject(cpp);
  const log: string[] = [];
  const rec = recording(subject, log);
  const pp = parseTestName("pp8"), tg = parseTestName("tg5");
  const ppIds = repetitionTokens(pp, 0, { seed: 1, nVocab: subject.nVocab, bos: subject.bos });
  const r = await timeRepetition(rec, pp, ppIds);
  assert.deepEqual(log, ["reset", `decode ${Array.from(ppIds).join(",")}`]);
  assert.equal(cpp.nPast, 8);
  assert.ok(r.ns > 0 && Math.abs(r.ts - 8e9 / r.ns) < 1e-6 && Math.abs(r.latencyMs - r.ns / 1e6) < 1e-9);
  log.length = 0;
  const tgIds = repetitionTokens(tg, 0, { seed: 1, nVocab: subject.nVocab, bos: subject.bos });
  const t = await timeRepetition(rec, tg, tgIds);
  assert.deepEqual(log, ["reset", ...Array.from(tgIds, (id) => `decode ${id}`)]);
  assert.equal(cpp.nPast, 5, "the cache holds exactly the generated tokens");
  assert.ok(Math.abs(t.latencyMs - t.ns / 1e6 / 5) < 1e-9);
  await assert.rejects(
    () => timeRepetition(rec, parseTestName("pp1000"), new Int32Array(1000)),
    /do not fit the context/,
  );
});

Deno.test("runBench(): ABAB order, the same ids on both engines, warmups unrecorded, progress events", async () => {
  using cpp = await CppModel.load(path, { threads: 1, ctx: 64 });
  using engine = await Engine.load(path, { backend: "wasm", threads: 1, nCtx: 64 });
  const eLog: string[] = [], rLog: string[] = [], order: string[] = [];
  const events: BenchEvent[] = [];
  const e = recording(engineBenchSubject(engine), eLog), r = recording(cppBenchSubject(cpp), rLog);
  const receipt = await runBench(e, r, {
    name: "tiny",
    model: await benchModelInfo(path, cpp),
    tests: ["pp8", "tg3"],
    reps: 3,
    warmup: 1,
    onEvent: (ev) => {
      events.push(ev);
      if (ev.type === "repetition") order.push(`${ev.test}:${ev.side}:${ev.rep}`);
    },
  });
  assert.deepEqual(eLog, rLog, "both engines received exactly the same calls and ids");
  assert.deepEqual(order, [
    ..."-1 0 1 2".split(" ").flatMap((rep) => [`pp8:engine:${rep}`, `pp8:reference:${rep}`]),
    ..."-1 0 1 2".split(" ").flatMap((rep) => [`tg3:engine:${rep}`, `tg3:reference:${rep}`]),
  ]);
  assert.equal(receipt.results[0].engine!.samples_ns.length, 3, "the warmup is not a sample");
  assert.deepEqual(events.filter((x) => x.type === "test_done").map((x) => x.test), ["pp8", "tg3"]);
  assert.equal(receipt.headline_test, "tg3");
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(receipt))), []);
});

Deno.test("runBench() refuses unequal thread counts, different vocabularies and tests that do not fit", async () => {
  using cpp1 = await CppModel.load(path, { threads: 1, ctx: 64 });
  using engine2 = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 64 });
  const model = await benchModelInfo(path, cpp1);
  const opts = { name: "tiny", model, tests: ["pp8"] };
  await assert.rejects(
    () => runBench(engineBenchSubject(engine2), cppBenchSubject(cpp1), opts),
    /engine runs 2 threads and llama.cpp 1/,
  );
  using engine1 = await Engine.load(path, { backend: "wasm", threads: 1, nCtx: 64 });
  // A subject whose vocabulary does not match (as another model's would not).
  const odd = { ...engineBenchSubject(engine1), nVocab: cpp1.nVocab + 1 };
  await assert.rejects(() => runBench(odd, cppBenchSubject(cpp1), opts), /load the same model on both/);
  await assert.rejects(
    () => runBench(engineBenchSubject(engine1), cppBenchSubject(cpp1), { ...opts, tests: ["pp1000"] }),
    /do not fit the context/,
  );
  await assert.rejects(
    () => runBench(engineBenchSubject(engine1), cppBenchSubject(cpp1), { ...opts, reps: 0 }),
    /reps=0/,
  );
});

Deno.test("an engine that fails mid-run yields a receipt that records the error and does not verify", async () => {
  using cpp = await CppModel.load(path, { threads: 1, ctx: 64 });
  const engine = await Engine.load(path, { backend: "wasm", threads: 1, nCtx: 64 });
  const subject = engineBenchSubject(engine);
  let calls = 0;
  const failing: BenchSubject = {
    ...subject,
    decode(ids) {
      // A real failure: the engine is closed under the benchmark after its first call.
      if (++calls === 2) engine.close();
      return subject.decode(ids);
    },
  };
  const receipt = await runBench(failing, cppBenchSubject(cpp), {
    name: "tiny",
    model: await benchModelInfo(path, cpp),
    tests: ["pp8"],
    reps: 2,
    warmup: 0,
  });
  engine.close();
  assert.equal(receipt.engine.ran, false);
  assert.match(receipt.engine.error!, /engine is closed/);
  assert.equal(receipt.results[0].engine, null);
  assert.equal(receipt.results[0].reference!.samples_ns.length, 2, "llama.cpp was still measured");
  assert.equal(receipt.tokens_per_second, null);
  const codes = new Set(verifyReceipt(JSON.parse(JSON.stringify(receipt))).map((p) => p.code));
  assert.ok(codes.has("engine_not_run") && codes.has("engine_record_missing"), [...codes].join(", "));
});
