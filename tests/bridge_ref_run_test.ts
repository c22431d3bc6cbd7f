/**
 * `crossval ref-run` shows the reference working on its own: the ids and text it prints are those of
 * `CppModel.generateGreedy` for the same prompt, with timings and the library in effect.
 */
import assert from "node:assert/strict";
import { Engine } from "../engine/engine.ts";
import { CppModel } from "../ffi/mod.ts";
import { crossval as run } from "../cli/_testing.ts";
import { fixtureModel } from "./_fixtures.ts";

const crossval = (...args: string[]) => run(args);

Deno.test("ref-run --json prints llama.cpp's greedy continuation, ids, timings and settings", async () => {
  const model = await fixtureModel();
  const prompt = "Once upon a time";
  const r = await crossval(
    "ref-run",
    "--model",
    model,
    "--prompt",
    prompt,
    "-n",
    "6",
    "--threads",
    "1",
    "--parity",
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  using m = await CppModel.load(model, { threads: 1, parity: true });
  const expected = m.generateGreedy(prompt, 6);
  assert.deepEqual(j.prompt_ids, [...expected.promptIds]);
  assert.deepEqual(j.ids, [...expected.ids]);
  assert.equal(j.text, expected.text);
  assert.equal(j.settings.parity, true);
  assert.equal(j.settings.type_k, "f32");
  assert.equal(j.settings.threads, 1);
  assert.equal(j.reference.version, m.info().library.version);
  for (const k of ["load_ms", "prompt_ms", "prompt_tok_per_s", "gen_ms"]) assert.ok(j.timings[k] > 0, k);
});

Deno.test("ref-run text output shows the continuation, both id lists and tokens per second", async () => {
  const model = await fixtureModel();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/p.txt`, "Hello there");
    const r = await crossval("ref-run", "--model", model, "--prompt-file", `${dir}/p.txt`, "-n", "3", "--threads", "1");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hello there/);
    assert.match(r.stdout, /prompt ids \(\d+\): [\d ]+\n/);
    assert.match(r.stdout, /generated ids \(\d+[^)]*\): [\d ]+\n/);
    assert.match(r.stdout, /load \d+ ms \| prompt \d+ tok in [\d.]+ ms = \d+ tok\/s \| generation \d+ decodes/);
    assert.match(r.stdout, /llama\.cpp \S+ \(v0\.5\.0/);
    assert.equal(r.stderr.includes("llama.cpp info:"), false, "llama.cpp's log stays hidden without --verbose");
    const v = await crossval("ref-run", "--model", model, "--prompt", "Hi", "-n", "1", "--threads", "1", "--verbose");
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /llama\.cpp info: .*llama_model_loader/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ref-run exits 2 with the fix for usage errors and unloadable models", async () => {
  const model = await fixtureModel();
  const noPrompt = await crossval("ref-run", "--model", model);
  assert.equal(noPrompt.code, 2);
  assert.match(noPrompt.stderr, /exactly one of --prompt <text> or --prompt-file <file>/);
  const badN = await crossval("ref-run", "--model", model, "--prompt", "x", "-n", "-1");
  assert.equal(badN.code, 2);
  const missing = await crossval("ref-run", "--model", `${model}.missing`, "--prompt", "x");
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /crossval fetch --tier ci/);
});

Deno.test("ref-run picks ik_llama.cpp for bitnet-b1.58 by default, on the lossless F32 transcode; llama.cpp refuses it", async () => {
  const model = await fixtureModel({ arch: "bitnet-b1.58", type: "i2_s", layers: 2 });
  const prompt = "Once upon a time";
  const r = await crossval("ref-run", "--model", model, "--prompt", prompt, "-n", "6", "--threads", "1", "--json");
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.reference.library, "ik_llama.cpp");
  assert.deepEqual(j.reference.selection, { flag: "ik_llama", by: "architecture" });
  assert.equal(j.reference.input.weight_types[0], "F32");
  assert.equal(j.reference.input.transcode.verified.equal, true);
  // The same continuation as our engine computing the same math (float activations, as against the F32 transcode).
  using e = await Engine.load(model, { backend: "ref", threads: 1, nCtx: 64, activations: "float" });
  const ours = await e.generate(prompt, { maxTokens: 6 });
  assert.deepEqual(j.prompt_ids, [...ours.promptIds]);
  assert.deepEqual(j.ids, [...ours.ids]);

  const refused = await crossval(
    "ref-run",
    "--model",
    model,
    "--prompt",
    prompt,
    "-n",
    "1",
    "--reference",
    "llama.cpp",
  );
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /has no bitnet-b1\.58 architecture.*Fix: --reference ik_llama/);
});
