/**
 * Evaluation through the llama.cpp bridge on a generated BitNet model: logits shape and finiteness, agreement of
 * the batch, chunked and step-by-step paths, deterministic greedy generation, tensor capture, the options in effect,
 * and the safety rules (views detached, use after close, missing or corrupt files).
 */
import assert from "node:assert/strict";
import { CppModel } from "./mod.ts";
import { fixtureModel } from "../engine/synth/_testing.ts";

const PROMPT = "Once upon a time, there was a little robot who liked to read books.";
/**
 * One llama.cpp thread in tests: ggml's worker threads meet at spinning barriers, so on a busy 2-core CI machine
 * a descheduled worker stalls every graph node (seen here: 54 ms instead of 0.2 ms per token with 2 threads).
 */
const T = { threads: 1 } as const;

/**
 * Largest |a - b| relative to the largest |a|. Batch and single-token paths run different ggml kernels
 * (mul_mat with many rows vs one), so float32 sums are reordered: differences of order 1e-7 relative per op.
 * A wrong position, a stale KV entry or a wrong row gives differences of order 1.
 */
function relMaxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}
const REL_TOL = 1e-4;

function argmaxRows(logits: Float32Array, nVocab: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < logits.length / nVocab; r++) {
    let best = 0;
    for (let k = 1; k < nVocab; k++) if (logits[r * nVocab + k] > logits[r * nVocab + best]) best = k;
    out.push(best);
  }
  return out;
}

Deno.test("eval() returns finite logits, n_vocab per position, for all positions or the last", async () => {
  using m = await CppModel.load(await fixtureModel(), { ...T, parity: true, ctx: 128 });
  const ids = m.tokenize(PROMPT);
  const info = m.info();
  assert.equal(m.nVocab, info.nVocab);
  const all = m.eval(ids, { positions: "all", copy: true });
  assert.equal(all.rows, ids.length);
  assert.equal(all.nVocab, info.nVocab);
  assert.equal(all.logits.length, ids.length * info.nVocab);
  assert.deepEqual(Array.from(all.positions), Array.from(ids, (_, i) => i));
  assert.ok(all.logits.every(Number.isFinite), "all logits finite");
  // Not a constant output: rows differ from each other.
  assert.ok(relMaxDiff(all.logits.subarray(0, info.nVocab), all.logits.subarray(info.nVocab, 2 * info.nVocab)) > 1e-3);
  const last = m.eval(ids);
  assert.equal(last.rows, 1);
  assert.equal(last.logits.length, info.nVocab);
  assert.deepEqual(Array.from(last.positions), [ids.length - 1]);
  assert.ok(relMaxDiff(all.logits.subarray((ids.length - 1) * info.nVocab), last.logits) < REL_TOL);
});

Deno.test("decode() step by step and eval() chunked by a small batch agree with one batched eval()", async () => {
  const path = await fixtureModel();
  using m = await CppModel.load(path, { ...T, parity: true, ctx: 128 });
  using small = await CppModel.load(path, { ...T, parity: true, ctx: 128, batch: 4 });
  assert.equal(small.info().settings.nBatch, 4);
  const ids = m.tokenize(PROMPT);
  assert.ok(ids.length > 8, "the prompt must span several 4-token chunks");
  const V = m.nVocab;
  const all = m.eval(ids, { positions: "all", copy: true });
  const chunked = small.eval(ids, { positions: "all" });
  assert.ok(relMaxDiff(all.logits, chunked.logits) < REL_TOL);
  m.reset();
  assert.equal(m.nPast, 0);
  for (let i = 0; i < ids.length; i++) {
    const step = m.decode([ids[i]]);
    assert.equal(m.nPast, i + 1);
    assert.ok(relMaxDiff(all.logits.subarray(i * V, (i + 1) * V), step) < REL_TOL, `position ${i}`);
  }
  assert.deepEqual(argmaxRows(chunked.logits, V), argmaxRows(all.logits, V));
});

Deno.test("generateGreedy() is deterministic across runs and across separately loaded models", async () => {
  const path = await fixtureModel();
  using a = await CppModel.load(path, { ...T, parity: true, ctx: 128 });
  const r1 = a.generateGreedy(PROMPT, 24, { stopAtEog: false });
  const r2 = a.generateGreedy(PROMPT, 24, { stopAtEog: false });
  assert.equal(r1.ids.length, 24);
  assert.deepEqual(r2.ids, r1.ids);
  using b = await CppModel.load(path, { ...T, parity: true, ctx: 128 });
  assert.deepEqual(b.generateGreedy(r1.promptIds, 24, { stopAtEog: false }).ids, r1.ids);
  assert.equal(r1.text, a.detokenize(r1.ids));
  // The first generated token is the argmax of eval(prompt).
  assert.equal(r1.ids[0], argmaxRows(a.eval(r1.promptIds).logits, a.nVocab)[0]);
  assert.equal(r1.timings.promptTokens, r1.promptIds.length);
  assert.equal(r1.timings.genDecodes, 23);
  assert.ok(r1.timings.promptTokPerS > 0 && r1.timings.genTokPerS > 0);
});

Deno.test("logits views are detached by the next decode; copy: true returns owned arrays", async () => {
  using m = await CppModel.load(await fixtureModel(), { ...T, ctx: 64 });
  const ids = m.tokenize(PROMPT);
  const view = m.eval(ids).logits;
  const owned = m.eval(ids, { copy: true }).logits;
  assert.equal(view.length, 0, "the first view is detached by the second eval");
  const step = m.decode([ids[0]]);
  assert.equal(step.length, m.nVocab);
  m.reset();
  assert.equal(step.length, 0);
  assert.equal(owned.length, m.nVocab);
  assert.ok(owned.every(Number.isFinite));
});

Deno.test("options in effect are reported: parity sets F32 KV cache and no flash attention", async () => {
  const path = await fixtureModel();
  using p = await CppModel.load(path, { parity: true, ctx: 512, batch: 32, threads: 1 });
  const s = p.info().settings;
  assert.deepEqual(
    [s.parity, s.typeK, s.typeV, s.flashAttn, s.nCtx, s.nBatch, s.nUbatch, s.threads, s.threadsBatch],
    [true, "f32", "f32", "disabled", 512, 32, 32, 1, 1],
  );
  // llama.cpp pads the context (to 256 cells here); what is reported is what is in effect.
  using padded = await CppModel.load(path, { ...T, ctx: 100 });
  assert.ok(padded.info().settings.nCtx >= 100);
  using d = await CppModel.load(path, { ...T, ctx: 64 });
  const ds = d.info().settings;
  assert.deepEqual([ds.parity, ds.typeK, ds.typeV, ds.flashAttn], [false, "f16", "f16", "auto"]);
  const info = d.info();
  assert.equal(info.arch, "bitnet");
  assert.ok(info.nLayer > 0 && info.nEmbd > 0 && info.nCtxTrain > 0);
  assert.match(info.backend, /^CPU/);
  const meta = d.metadata();
  assert.equal(meta["general.architecture"], "bitnet");
  assert.equal(Number(meta["bitnet.block_count"]), info.nLayer);
  assert.equal(d.meta("bitnet.embedding_length"), String(info.nEmbd));
  assert.equal(d.meta("no.such.key"), undefined);
  assert.ok(info.library.version.length > 0 && info.library.ggmlCommit.length > 0);
});

Deno.test("eval(ids, { capture }) copies named intermediates on the calling thread", async () => {
  using m = await CppModel.load(await fixtureModel(), { ...T, parity: true, ctx: 64, captureTensors: true });
  const libc = Deno.dlopen("libc.so.6", { gettid: { parameters: [], result: "i32" } });
  try {
    // A predicate filter runs inside the cb_eval callback: record the thread it runs on.
    const threads = new Set<number>();
    let asked = 0;
    const wanted = /^(attn_norm|l_out)-\d+$|^result_(norm|output)$/;
    const filter = (name: string) => (threads.add(libc.symbols.gettid()), asked++, wanted.test(name));
    const ids = m.tokenize(PROMPT);
    const r = m.eval(ids, { positions: "all", capture: filter });
    const info = m.info();
    const t = r.capture!.tensors;
    assert.deepEqual(
      [...t.keys()].sort(),
      [
        ...Array.from({ length: info.nLayer }, (_, il) => [`attn_norm-${il}`, `l_out-${il}`]).flat(),
        "result_norm",
        "result_output",
      ].sort(),
    );
    for (let il = 0; il < info.nLayer; il++) {
      for (const n of [`attn_norm-${il}`, `l_out-${il}`]) {
        assert.deepEqual(t.get(n)?.shape, [info.nEmbd, ids.length], n);
        assert.ok(t.get(n)!.data.every(Number.isFinite), n);
      }
    }
    assert.deepEqual(t.get("result_output")!.shape, [info.nVocab, ids.length]);
    // The captured output layer is the logits llama.cpp returns, bit for bit.
    assert.deepEqual(t.get("result_output")!.data, r.logits);
    assert.ok(asked > t.size, "asked about every graph node, not only the wanted ones");
    assert.deepEqual([...threads], [libc.symbols.gettid()], "cb_eval runs on the thread calling llama_decode");
    assert.equal(m.eval(ids).capture, undefined);
  } finally {
    libc.close();
  }
  using plain = await CppModel.load(await fixtureModel(), { ...T, ctx: 64 });
  assert.throws(() => plain.eval([1], { capture: ["l_out-0"] }), TypeError);
  using small = await CppModel.load(await fixtureModel(), { ...T, ctx: 64, batch: 4, captureTensors: true });
  assert.throws(() => small.eval([1, 2, 3, 4, 5], { capture: ["l_out-0"] }), /one micro-batch \(4\)/);
});

Deno.test("captured F16 tensors are converted exactly: the F16 K cache holds f16-rounded RoPE'd Kcur", async () => {
  // Default (non-parity) settings keep the KV cache in F16; llama.cpp stores the last Kcur-0 (after RoPE) there.
  using m = await CppModel.load(await fixtureModel(), { ctx: 64, threads: 1, captureTensors: true });
  assert.equal(m.info().settings.typeK, "f16");
  const ids = m.tokenize(PROMPT);
  const t = m.eval(ids, { positions: "all", capture: ["Kcur-0", "cache_k_l0 (view)"] }).capture!.tensors;
  const k = t.get("Kcur-0")!, cache = t.get("cache_k_l0 (view)")!;
  assert.equal(k.type, "f32");
  assert.equal(cache.type, "f16");
  const row = k.shape[0] * k.shape[1];
  assert.equal(k.shape[2], ids.length);
  for (let i = 0; i < ids.length * row; i++) {
    if (cache.data[i] !== Math.f16round(k.data[i])) assert.fail(`cache[${i}] = ${cache.data[i]}, Kcur = ${k.data[i]}`);
  }
});

Deno.test("use after close() throws a TypeError naming the fix; close() twice is harmless", async () => {
  const m = await CppModel.load(await fixtureModel(), { ...T, ctx: 64 });
  const ids = m.tokenize("hello");
  const view = m.eval(ids).logits;
  m.close();
  m.close();
  m[Symbol.dispose]();
  assert.equal(m.closed, true);
  assert.equal(view.length, 0, "views die with the model");
  const calls: [string, () => unknown][] = [
    ["tokenize", () => m.tokenize("x")],
    ["detokenize", () => m.detokenize(ids)],
    ["tokenToPiece", () => m.tokenToPiece(ids[0])],
    ["eval", () => m.eval(ids)],
    ["decode", () => m.decode(ids)],
    ["reset", () => m.reset()],
    ["generateGreedy", () => m.generateGreedy("x", 1)],
    ["info", () => m.info()],
    ["meta", () => m.meta("general.architecture")],
    ["metadata", () => m.metadata()],
  ];
  for (const [name, call] of calls) {
    assert.throws(call, (e: unknown) => e instanceof TypeError && /is closed.*CppModel\.load/.test(e.message), name);
  }
});

Deno.test("bad inputs are refused before reaching llama.cpp", async () => {
  using m = await CppModel.load(await fixtureModel(), { ...T, ctx: 256 });
  const nCtx = m.info().settings.nCtx;
  assert.throws(() => m.eval([]), RangeError);
  assert.throws(() => m.eval([m.nVocab]), RangeError);
  assert.throws(() => m.eval([0.5]), RangeError);
  const many = Array.from({ length: nCtx + 1 }, () => 1);
  assert.throws(() => m.eval(many), new RegExp(`the context holds ${nCtx}`));
  m.reset();
  m.decode(many.slice(0, nCtx));
  assert.equal(m.nPast, nCtx);
  assert.throws(() => m.decode([1]), RangeError);
  m.reset();
  assert.equal(m.decode([1]).length, m.nVocab);
  // prompt + n - 1 tokens enter the cache (the last generated token is never decoded).
  assert.throws(() => m.generateGreedy("hello", nCtx + 1), RangeError);
});

Deno.test("a missing model fails fast with the path and how to inspect and provision it", async () => {
  const path = `${await Deno.makeTempDir()}/nope.gguf`;
  const err = await CppModel.load(path).then(() => null, (e) => e);
  assert.ok(err instanceof Deno.errors.NotFound, String(err));
  for (const s of [path, `crossval inspect ${path}`, "crossval fetch --tier ci"]) assert.ok(err.message.includes(s), s);
});

Deno.test("a corrupt model fails with llama.cpp's own log and the troubleshooting steps", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const html = `${dir}/page.gguf`;
    await Deno.writeTextFile(html, "<!DOCTYPE html><html>rate limited</html>");
    const e1 = await CppModel.load(html).then(() => null, (e) => e);
    assert.ok(e1 instanceof SyntaxError, String(e1));
    assert.match(e1.message, /not a GGUF file/);
    assert.ok(e1.message.includes(`crossval inspect ${html}`));

    const bytes = await Deno.readFile(await fixtureModel());
    const cut = `${dir}/truncated.gguf`;
    await Deno.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const e2 = await CppModel.load(cut).then(() => null, (e) => e);
    assert.ok(e2 instanceof Error && !(e2 instanceof SyntaxError), String(e2));
    assert.match(e2.message, /llama\.cpp rejected it\. llama\.cpp said:\n/);
    const said = e2.message.split("llama.cpp said:\n")[1].split("\nTroubleshooting")[0];
    assert.ok(said.trim().length > 0, "the log tail is attached");
    for (const s of [`crossval inspect ${cut}`, "crossval fetch --tier ci"]) assert.ok(e2.message.includes(s), s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
