/**
 * llama.cpp in its supervised child process computes exactly what it computes in this process: every op of
 * ffi/PROTOCOL.md against `CppModel` on the same file, bit for bit, and the benchmark adapter times inside the child.
 * Needs the llama.cpp library.
 */
import assert from "node:assert/strict";
import { CppModel, ReferenceProcess } from "../ffi/mod.ts";
import { refBenchSubject } from "../bench/subject.ts";
import { parseTestName, repetitionTokens, timeRepetition } from "../bench/measure.ts";
import { fixtureModel } from "./_fixtures.ts";

const OPTS = { threads: 1, ctx: 128, parity: true } as const;
const CAPTURE = "^([A-Za-z_]+-[0-9]+|result_norm|result_output)$";

function same(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, in-process ${b[i]}`);
  }
}

Deno.test("every protocol op gives what CppModel gives in this process, bit for bit", async () => {
  const path = await fixtureModel();
  await using ref = await ReferenceProcess.spawn();
  assert.equal(ref.identity.library, "llama.cpp");
  assert.equal(ref.identity.driver, "deno");
  assert.ok(ref.identity.ops.includes("capture"));
  await using m = await ref.load(path, OPTS);
  await using c = await ref.load(path, { ...OPTS, captureTensors: true });
  using local = await CppModel.load(path, { ...OPTS, captureTensors: true });

  const text = "Once upon a time, there was a <|eot_id|> token";
  for (const v of [{ addSpecial: true, parseSpecial: false }, { addSpecial: false, parseSpecial: true }]) {
    assert.deepEqual(await m.tokenize(text, v), local.tokenize(text, v));
  }
  const ids = local.tokenize(text);
  assert.equal(await m.detokenize(ids), local.detokenize(ids));
  assert.deepEqual(
    await m.detokenizeBytes(ids, { removeSpecial: true }),
    local.detokenizeBytes(ids, { removeSpecial: true }),
  );
  assert.deepEqual(
    await m.pieces(ids, { special: true }),
    Array.from(ids, (id) => local.tokenToPiece(id, { special: true })),
  );
  assert.deepEqual(await m.isEog([0, local.info().eos]), [false, true]);
  assert.equal(await m.meta("general.architecture"), "bitnet");
  assert.equal(await m.meta("no.such.key"), undefined);
  assert.deepEqual(await m.metadata(), local.metadata());
  const info = m.info();
  assert.deepEqual(
    [info.nVocab, info.nLayer, info.settings.typeK, info.settings.flashAttn, info.settings.nCtx],
    [local.nVocab, local.info().nLayer, "f32", "disabled", local.info().settings.nCtx],
  );

  // eval: all and last positions, reset and append.
  const all = await m.eval(ids, { positions: "all" });
  same(all.logits, local.eval(ids, { positions: "all", copy: true }).logits, "eval all");
  assert.deepEqual(all.positions, Int32Array.from(ids, (_, i) => i));
  assert.ok(all.decodeMs > 0);
  await m.eval(ids.subarray(0, 5));
  const appended = await m.eval(ids.subarray(5), { positions: "all", append: true });
  assert.equal(appended.positions[0], 5);
  same(appended.logits, all.logits.subarray(5 * all.nVocab), "eval append");
  assert.equal(m.nPast, ids.length);

  // greedy: ids, and the trajectory's rows are the step-by-step logits.
  const g = await m.generateGreedy(ids, 8, { stopAtEog: false });
  assert.deepEqual(g.ids, local.generateGreedy(ids, 8, { stopAtEog: false }).ids);
  const t = await m.greedyTrajectory(ids, 8);
  assert.deepEqual(t.ids, g.ids);
  let logits = local.eval(ids, { copy: true }).logits;
  for (let s = 0; s < 8; s++) {
    same(t.logits.subarray(s * info.nVocab, (s + 1) * info.nVocab), logits, `greedy step ${s}`);
    logits = local.decode([t.ids[s]]).slice();
  }

  // capture: every tensor, same shape and values.
  const cap = await c.capture(ids, CAPTURE);
  const want = local.eval(ids, { positions: "all", copy: true, capture: new RegExp(CAPTURE) }).capture!;
  assert.deepEqual([...cap.tensors.keys()], [...want.tensors.keys()]);
  for (const [name, x] of want.tensors) {
    assert.deepEqual(cap.tensors.get(name)!.shape, x.shape, name);
    same(cap.tensors.get(name)!.data, x.data, name);
  }

  // Errors are replies: the process stays usable.
  await assert.rejects(() => m.eval([info.nVocab + 5]), RangeError);
  await assert.rejects(
    () => m.capture(ids, CAPTURE),
    (e: Error) => e instanceof TypeError && /capture=1/.test(e.message),
  );
  await assert.rejects(() => ref.load(`${path}.missing`), Deno.errors.NotFound);
  await assert.rejects(() => ref.request("no_such_op"), /Unknown op "no_such_op"/);
  assert.deepEqual(await m.tokenize("ok", { addSpecial: false }), local.tokenize("ok", { addSpecial: false }));
});

Deno.test("refBenchSubject() times decodes inside the child: the repetition is not longer than its wall time", async () => {
  const path = await fixtureModel();
  await using ref = await ReferenceProcess.spawn();
  await using m = await ref.load(path, { threads: 1, ctx: 64 });
  const subject = refBenchSubject(m);
  assert.equal(subject.describe().typeK, "f16");
  assert.deepEqual(subject.library?.release, "v0.5.0");
  for (const name of ["pp16", "tg8"]) {
    const test = parseTestName(name);
    const ids = repetitionTokens(test, 0, { seed: 1, nVocab: subject.nVocab, bos: subject.bos });
    const t0 = performance.now();
    const r = await timeRepetition(subject, test, ids);
    const wallNs = (performance.now() - t0) * 1e6;
    assert.ok(r.ns > 0 && r.ns < wallNs, `${name}: ${r.ns} ns timed inside, ${wallNs} ns around`);
    assert.equal(m.nPast, ids.length);
  }
});
