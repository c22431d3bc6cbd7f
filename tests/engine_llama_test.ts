/**
 * The `llama` family (Falcon3-1.58bit, Llama3-8B-1.58: `engine/model/llama.ts`) against the pinned llama.cpp on
 * generated tiny-llama models (GQA 4:1, NORM RoPE, Falcon3's rope theta and eps): TQ2_0 and TQ1_0 weights, an untied
 * `output.weight` in each output type or logits from the tied embedding, and Llama 3's `rope_freqs.weight`. Both
 * backends follow llama.cpp's x86 float order, so the logits are bit-identical (KLD 0) and greedy continuations
 * identical; the reference loads the same file in parity mode (F32 KV cache, no flash attention).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fixtureModel } from "./_fixtures.ts";
import { Engine } from "../engine/engine.ts";
import { argmax } from "../engine/sampling.ts";
import type { SynthSpec } from "../engine/synth/mod.ts";
import { CppModel } from "../ffi/mod.ts";

const PROMPTS = [
  "Once upon a time",
  "The quick brown fox jumps over the lazy dog because",
  "In the beginning there was a small model that wanted to be checked against a big library.",
];
const GREEDY_TOKENS = 24;

const MODELS: Partial<SynthSpec>[] = [
  { type: "tq2_0" },
  { type: "tq1_0", outputType: "q6_k" },
  { type: "tq2_0", embedType: "q6_k", outputType: "q8_0", ropeFreqs: true, seed: 4 },
  { type: "tq1_0", untied: false, embedType: "bf16", seed: 2 },
];

function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.findIndex((v, i) => v !== y[i]);
}

for (const spec of MODELS) {
  const label = Object.entries(spec).map(([k, v]) => `${k}=${v}`).join(" ");
  Deno.test(`engine matches llama.cpp bit for bit on a tiny llama model (${label})`, async (t) => {
    const path = await fixtureModel({ preset: "tiny-llama", ...spec });
    using cpp = await CppModel.load(path, { parity: true, threads: 1, ctx: 256 });
    assert.equal(cpp.info().arch, "llama");
    using wasm = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 256, numerics: "exact" });
    using ref = await Engine.load(path, { backend: "ref", nCtx: 256, numerics: "exact" });
    assert.equal(wasm.info().tiedOutput, spec.untied === false);
    for (const prompt of PROMPTS) assert.deepEqual(wasm.tokenize(prompt), cpp.tokenize(prompt), prompt);
    const cases = PROMPTS.map((prompt) => {
      const ids = cpp.tokenize(prompt);
      return {
        prompt,
        ids,
        logits: cpp.eval(ids, { copy: true }).logits,
        greedy: cpp.generateGreedy(ids, GREEDY_TOKENS),
      };
    });
    for (const [name, engine] of [["wasm", wasm], ["ref", ref]] as const) {
      await t.step(`${name}: last-position logits bit-identical`, async () => {
        for (const { prompt, ids, logits } of cases) {
          const ours = await engine.eval(ids);
          const d = firstBitDifference(ours, logits);
          assert.equal(d, -1, `"${prompt}": logit ${d} differs (${ours[d]} vs ${logits[d]})`);
          assert.equal(argmax(ours), argmax(logits));
        }
      });
    }
    await t.step(`wasm: greedy ${GREEDY_TOKENS}-token continuations identical`, async () => {
      for (const { prompt, ids, greedy } of cases) {
        const got = await wasm.generate(ids, { maxTokens: GREEDY_TOKENS, greedy: true });
        assert.deepEqual([...got.ids], [...greedy.ids], `"${prompt}": greedy continuation`);
      }
    });
  });
}

Deno.test("a llama file with a tensor the llama graph does not compute is refused, naming it", async () => {
  const { encodeGguf, GgufFile } = await import("../engine/gguf/mod.ts");
  const { GgmlType } = await import("../engine/quant/ggml_type.ts");
  using src = GgufFile.open(await fixtureModel({ preset: "tiny-llama" }));
  const tensors = src.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: t.type,
    data: src.readTensor(t.name),
  }));
  tensors.push({ name: "blk.0.attn_q.bias", shape: [256], type: GgmlType.F32, data: new Uint8Array(1024) });
  const tmp = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    await Deno.writeFile(tmp, encodeGguf({ metadata: new Map(src.header.metadata), tensors }));
    await assert.rejects(() => Engine.load(tmp, { backend: "ref" }), /does not compute: blk\.0\.attn_q\.bias/);
  } finally {
    await Deno.remove(tmp);
  }
});
