/**
 * The `Engine` API on generated models: evaluation and incremental decoding, streaming generation with timings,
 * sampling reproducibility, end-of-generation stops, cancellation, `info()`, `kernels()`, and errors that name
 * the fix.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "./synth/_testing.ts";
import { encodeGguf, GgufFile, GgufValueType } from "./gguf/mod.ts";
import { Engine, type GeneratedToken } from "./engine.ts";
import { argmax } from "./sampling.ts";

const PROMPT = "Once upon a time there was a small model";

Deno.test("Engine.eval gives fresh-sequence logits; decode continues the sequence; reset starts over", async () => {
  using e = await Engine.load(await fixtureModel({}), { backend: "wasm", threads: 2, nCtx: 128 });
  const ids = e.tokenize(PROMPT);
  const V = e.config.nVocab;
  const last = await e.eval(ids);
  assert.equal(last.length, V);
  assert.equal(e.position, ids.length);
  const all = await e.eval(ids, { positions: "all" });
  assert.equal(all.length, ids.length * V);
  assert.equal(argmax(all.subarray((ids.length - 1) * V)), argmax(last));
  // decode: the prompt minus its last token, then that token, gives the same prediction.
  e.reset();
  await e.decode(ids.subarray(0, ids.length - 1));
  const step = await e.decode(ids.subarray(ids.length - 1));
  assert.equal(argmax(step), argmax(last));
  assert.equal(e.position, ids.length);
  assert.deepEqual(await e.eval(ids), last, "eval is independent of what was decoded before");
});

Deno.test("Engine.stream yields tokens with their text; the result holds ids, text and timings", async () => {
  using e = await Engine.load(await fixtureModel({}), { backend: "wasm", threads: 2, nCtx: 128 });
  const seen: GeneratedToken[] = [], called: GeneratedToken[] = [];
  const it = e.stream(PROMPT, { maxTokens: 12, stopAtEog: false, onToken: (t) => called.push(t) });
  let r = await it.next();
  while (!r.done) {
    seen.push(r.value);
    r = await it.next();
  }
  const res = r.value;
  assert.equal(res.ids.length, 12);
  assert.deepEqual(seen.map((t) => t.id), [...res.ids]);
  assert.deepEqual(seen.map((t) => t.index), [...res.ids.keys()]);
  assert.deepEqual(called, seen);
  assert.equal(
    seen.map((t) => t.text).join(""),
    new TextDecoder().decode(e.tokenizer.decodeBytes(res.ids, { unparseSpecial: false })),
  );
  assert.deepEqual([...res.promptIds], [...e.tokenize(PROMPT)]);
  assert.equal(res.sampling.greedy, true);
  const t = res.timings;
  assert.equal(t.promptTokens, res.promptIds.length);
  assert.equal(t.genDecodes, 11);
  assert.ok(t.promptMs > 0 && t.genMs > 0 && t.promptTokPerS > 0 && t.genTokPerS > 0);
  // generate() is stream() collected.
  assert.deepEqual([...(await e.generate(PROMPT, { maxTokens: 12, stopAtEog: false })).ids], [...res.ids]);
});

Deno.test("Engine.generate: a seed reproduces a sampled run, another seed gives another run", async () => {
  using e = await Engine.load(await fixtureModel({}), { backend: "wasm", threads: 2, nCtx: 128 });
  const run = async (
    seed: number,
  ) => [...(await e.generate(PROMPT, { maxTokens: 24, temperature: 1.5, topK: 0, topP: 1, seed })).ids];
  assert.deepEqual(await run(11), await run(11));
  assert.notDeepEqual(await run(11), await run(12));
  const r = await e.generate(PROMPT, { maxTokens: 2, temperature: 0.7, seed: 5 });
  assert.deepEqual(r.sampling, { greedy: false, temperature: 0.7, topK: 40, topP: 0.95, seed: 5 });
});

Deno.test("Engine.generate stops at an end-of-generation token and includes it", async () => {
  using e = await Engine.load(await fixtureModel({}), { backend: "wasm", threads: 2, nCtx: 512 });
  assert.ok(
    e.isEog(e.tokenizer.eos) && e.isEog(e.tokenizer.eot) && !e.isEog(e.tokenize("a", { addSpecial: false })[0]),
  );
  // Near-uniform sampling over the vocabulary (a few EOG ids among 1024) reaches an EOG token within 100 steps
  // for about one seed in four.
  let stopped = 0;
  for (let seed = 1; seed <= 16 && !stopped; seed++) {
    const r = await e.generate(PROMPT, { maxTokens: 100, temperature: 1e4, topK: 0, topP: 1, seed });
    if (!r.stoppedAtEog) continue;
    stopped = seed;
    assert.ok(e.isEog(r.ids[r.ids.length - 1]), "the last token is the EOG token");
    assert.ok(r.ids.subarray(0, -1).every((id) => !e.isEog(id)), "no EOG before it");
    assert.ok(r.ids.length < 100);
  }
  assert.ok(stopped > 0, "no seed in 1..16 produced an EOG token within 100 steps");
  const noStop = await e.generate(PROMPT, {
    maxTokens: 100,
    temperature: 1e4,
    topK: 0,
    topP: 1,
    seed: stopped,
    stopAtEog: false,
  });
  assert.equal(noStop.ids.length, 100);
});

Deno.test("Engine.generate stops when its signal aborts, keeping the tokens so far", async () => {
  using e = await Engine.load(await fixtureModel({}), { backend: "wasm", threads: 2, nCtx: 128 });
  const ac = new AbortController();
  const r = await e.generate(PROMPT, {
    maxTokens: 50,
    stopAtEog: false,
    onToken: (t) => t.index === 4 && ac.abort(),
    signal: ac.signal,
  });
  assert.equal(r.ids.length, 5);
});

Deno.test("Engine.info and kernels describe the model, the backend and the kernels that ran", async () => {
  const path = await fixtureModel({ type: "tq1_0", embedType: "q8_0", scales: true });
  using e = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 64, numerics: "exact" });
  const i = e.info();
  assert.equal(i.numerics, "exact");
  assert.equal(i.numericsRequested, "exact");
  assert.equal(i.backend, "wasm");
  assert.equal(i.threads, 2);
  assert.equal(i.weightType, "TQ1_0");
  assert.equal(i.embeddingType, "Q8_0");
  assert.equal(i.hasScales, true);
  assert.equal(i.nCtx, 64);
  assert.equal(i.fileBytes, Deno.statSync(path).size);
  assert.ok(i.weightBytes > 0.9 * i.fileBytes && i.weightBytes < i.fileBytes);
  assert.equal(i.tiedOutput, true);
  assert.equal(i.outputType, "Q8_0");
  assert.deepEqual(e.kernels(), []);
  await e.eval(e.tokenize(PROMPT));
  const k = e.kernels();
  for (const id of ["gemm.tq1_0_q8_k", "quantize.q8_k", "gemm.q8_0_q8_0", "quantize.q8_0", "mul_scalar", "attention"]) {
    assert.ok(k.some((x) => x.startsWith(`wasm.${id}`)), `${id} in ${k.join(", ")}`);
  }
});

Deno.test("Engine errors say what failed and how to fix it", async () => {
  const path = await fixtureModel({});
  await assert.rejects(() => Engine.load("/nonexistent/model.gguf"), Deno.errors.NotFound);
  // A file of an architecture the engine does not run.
  using src = GgufFile.open(path);
  const meta = new Map(src.header.metadata);
  meta.set("general.architecture", { type: GgufValueType.STRING, value: "gpt2" });
  const tmp = await Deno.makeTempFile({ suffix: ".gguf" });
  await Deno.writeFile(tmp, encodeGguf({ metadata: meta, tensors: [] }));
  await assert.rejects(
    () => Engine.load(tmp),
    /architecture "gpt2" is not supported; expected "bitnet", "bitnet-b1.58"/,
  );
  await Deno.remove(tmp);
  const e = await Engine.load(path, { backend: "ref", nCtx: 16 });
  await assert.rejects(() => e.generate(PROMPT, { maxTokens: 20 }), /the context holds 16\. Load with a larger nCtx/);
  await assert.rejects(() => e.generate("", { maxTokens: 2, addSpecial: false }), /empty prompt/);
  e.close();
  e.close();
  await assert.rejects(() => e.eval([1]), /the engine is closed/);
  await assert.rejects(() => Engine.load(path, { backend: "gpu" as "ref" }), /Unknown backend "gpu"/);
});

Deno.test("the fast profile is the default: TQ weights repacked at load (<= 1.3x the file), fast kernels recorded", async () => {
  for (const type of ["tq2_0", "tq1_0"] as const) {
    const path = await fixtureModel({ type, embedType: "f16" });
    using e = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 64 });
    const i = e.info();
    assert.equal(i.numerics, "fast");
    assert.equal(i.numericsRequested, "fast");
    // TQ1_0 becomes TQ2_0x2 (66 instead of 54 bytes per 256 weights); TQ2_0 keeps its size.
    assert.ok(i.weightBytes <= 1.3 * i.fileBytes, `${type}: ${i.weightBytes} bytes of weights, file ${i.fileBytes}`);
    await e.eval(e.tokenize(PROMPT));
    const k = e.kernels();
    const repack = type === "tq2_0" ? "fast.repack.tq2_0x2" : "fast.repack.tq1_0_tq2_0x2";
    for (const id of [repack, "fast.gemm.tq2_0x2_q8_k", "fast.attention", "fast.swiglu", "fast.gemm.f16_f32"]) {
      assert.ok(k.some((x) => x.startsWith(`wasm.${id}`)), `${id} in ${k.join(", ")}`);
    }
    assert.ok(!k.some((x) => x.startsWith("wasm.gemm.tq")), `no exact ternary kernel in ${k.join(", ")}`);
  }
  await assert.rejects(
    () => Engine.load("/nonexistent.gguf", { numerics: "turbo" as "fast" }),
    /numerics "turbo": expected one of exact, fast/,
  );
});
