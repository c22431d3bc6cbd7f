import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { bytesSource, encodeGguf, GgufFile, parseGgufHeader } from "../gguf/mod.ts";
import { configFromGguf, validateTensors } from "../model/architectures.ts";
import { normalizeSpec, specFromQuery, specToQuery, synthesizeModel, trainSynthVocab } from "./mod.ts";

function bytesOf(spec: Parameters<typeof normalizeSpec>[0]): Uint8Array {
  return encodeGguf(synthesizeModel(normalizeSpec(spec)).gguf);
}
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("synthesizeModel() gives identical bytes for the same spec", () => {
  assert.deepEqual(sha(bytesOf({ seed: 7 })), sha(bytesOf({ seed: 7 })));
});

Deno.test("synthesizeModel() gives different weights for another seed", () => {
  assert.notDeepEqual(sha(bytesOf({ seed: 1 })), sha(bytesOf({ seed: 2 })));
});

for (const type of ["tq2_0", "tq1_0", "i2_s"] as const) {
  for (const embedType of ["f16", "bf16", "q8_0", "q6_k"] as const) {
    Deno.test(`synthesizeModel() writes a valid ${type}/${embedType} model that matches the manifest`, () => {
      const f = GgufFile.fromBytes(bytesOf({ type, embedType, layers: 1 }));
      const cfg = configFromGguf(f);
      assert.deepEqual(validateTensors(f.tensors, cfg), []);
      assert.deepEqual(cfg.nVocab, f.getArray("tokenizer.ggml.tokens")!.items.length);
    });
  }
}

Deno.test("synthesizeModel() writes .scale tensors only when asked", () => {
  const plain = GgufFile.fromBytes(bytesOf({ layers: 1 }));
  const scaled = GgufFile.fromBytes(bytesOf({ layers: 1, scales: true }));
  assert.ok(!plain.tensors.some((t) => t.name.endsWith(".scale")));
  assert.deepEqual(scaled.tensors.filter((t) => t.name.endsWith(".scale")).length, 7);
  assert.deepEqual(validateTensors(scaled.tensors, configFromGguf(scaled)), []);
});

Deno.test("the 2b4t preset has BitNet b1.58 2B4T's exact shape", () => {
  const { config, gguf } = synthesizeModel(normalizeSpec({ preset: "2b4t" }));
  assert.deepEqual(
    [config.nLayer, config.nEmbd, config.nFf, config.nHead, config.nHeadKv, config.nVocab, config.ropeFreqBase],
    [30, 2560, 6912, 20, 5, 128256, 500000],
  );
  assert.deepEqual(gguf.tensors.length, 30 * 11 + 2);
});

Deno.test("specToQuery() and specFromQuery() round-trip", () => {
  const spec = normalizeSpec({ preset: "tiny", type: "tq1_0", embedType: "q6_k", seed: 9, headsKv: 1, scales: true });
  assert.deepEqual(specFromQuery(specToQuery(spec)), spec);
  assert.deepEqual(specToQuery(normalizeSpec({})), "preset=tiny&arch=bitnet&type=tq2_0&embed-type=f16&seed=1");
});

Deno.test("normalizeSpec() rejects impossible shapes with the reason", () => {
  assert.throws(() => normalizeSpec({ embd: 300 }), { name: "RangeError", message: /multiple\ of\ 256/ });
  assert.throws(() => normalizeSpec({ heads: 3 }), { name: "RangeError", message: /divisible\ by\ the\ head\ count/ });
  assert.throws(() => normalizeSpec({ headsKv: 3 }), {
    name: "RangeError",
    message: /multiple\ of\ the\ KV\ head\ count/,
  });
  assert.throws(() => specFromQuery("preset=tiny&colour=red"), { name: "SyntaxError", message: /unknown\ key/ });
});

Deno.test("trainSynthVocab() is deterministic and has Llama 3 specials after the normal tokens", () => {
  const a = trainSynthVocab();
  const b = trainSynthVocab();
  assert.deepEqual(a.tokens, b.tokens);
  assert.deepEqual(a.merges, b.merges);
  assert.deepEqual(a.tokens[a.bos], "<|begin_of_text|>");
  assert.deepEqual(a.tokens[a.eot], "<|eot_id|>");
  assert.deepEqual(new Set(a.tokens).size, a.tokens.length);
  assert.ok(a.merges.length > 300, `only ${a.merges.length} merges learned`);
  // every merge result is a token
  const tokens = new Set(a.tokens);
  for (const m of a.merges) assert.ok(tokens.has(m.replace(" ", "")), m);
});

Deno.test("header of a generated model parses without reading tensor data", () => {
  const bytes = bytesOf({ seed: 3 });
  const h = parseGgufHeader(bytesSource(bytes));
  assert.deepEqual(h.version, 3);
  assert.ok(h.tensors.every((t) => h.dataOffset + t.offset + t.byteLength <= bytes.length));
});
