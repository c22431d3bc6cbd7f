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

Deno.test("the llama presets have Falcon3-1B-1.58bit's and Llama3-8B-1.58's published shapes", () => {
  const shape = (preset: "falcon3-1b-1.58" | "llama3-8b-1.58") => {
    const { config, gguf } = synthesizeModel(normalizeSpec({ preset, layers: 1 }));
    const c = config;
    return {
      arch: c.arch,
      shape: [c.nEmbd, c.nFf, c.nHead, c.nHeadKv, c.headDim, c.nVocab, c.ropeFreqBase, c.rmsEps, c.nCtxTrain],
      output: gguf.tensors.some((t) => t.name === "output.weight"),
    };
  };
  // tiiuae/Falcon3-1B-Instruct config.json: 2048 hidden, 8192 FFN, 8/4 heads of 256, 131072 vocab, theta 1000042.
  assert.deepEqual(shape("falcon3-1b-1.58"), {
    arch: "llama",
    shape: [2048, 8192, 8, 4, 256, 131072, 1000042, 1e-6, 8192],
    output: true,
  });
  // meta-llama/Meta-Llama-3-8B-Instruct config.json (HF1BitLLM/Llama3-8B-1.58-100B-tokens' base).
  assert.deepEqual(shape("llama3-8b-1.58"), {
    arch: "llama",
    shape: [4096, 14336, 32, 8, 128, 128256, 500000, 1e-5, 8192],
    output: true,
  });
  assert.equal(normalizeSpec({ preset: "falcon3-1b-1.58" }).layers, undefined, "18 layers come from the preset");
  assert.equal(synthesizeModel(normalizeSpec({ preset: "falcon3-1b-1.58" })).config.nLayer, 18);
  assert.equal(synthesizeModel(normalizeSpec({ preset: "llama3-8b-1.58" })).config.nLayer, 32);
});

Deno.test("llama specs: untied output, its own type and rope_freqs round-trip; bitnet refuses them", () => {
  for (
    const spec of [
      normalizeSpec({ preset: "tiny-llama" }),
      normalizeSpec({ preset: "tiny-llama", untied: false }),
      normalizeSpec({ preset: "tiny-llama", outputType: "q6_k", ropeFreqs: true, type: "tq1_0" }),
    ]
  ) {
    assert.deepEqual(specFromQuery(specToQuery(spec)), spec);
    const f = GgufFile.fromBytes(encodeGguf(synthesizeModel(spec).gguf));
    assert.equal(f.architecture, "llama");
    assert.deepEqual(validateTensors(f.tensors, configFromGguf(f)), []);
    assert.equal(f.tensor("output.weight") !== undefined, spec.untied);
    assert.equal(f.tensor("rope_freqs.weight") !== undefined, spec.ropeFreqs === true);
  }
  assert.equal(specToQuery(normalizeSpec({ preset: "tiny-llama", untied: false })).includes("untied=0"), true);
  assert.throws(() => normalizeSpec({ untied: true }), /llama's/);
  assert.throws(() => normalizeSpec({ preset: "tiny-llama", scales: true }), /llama graph has none/);
  assert.throws(() => normalizeSpec({ preset: "tiny-llama", untied: false, outputType: "q8_0" }), /pass untied/);
});

// The official microsoft/bitnet-b1.58-2B-4T-gguf file (docs/formats.md section 4): its loader dump in
// microsoft/BitNet issue #373 lists these 24 keys in this order, and 332 tensors (F32 norms, one F16 token_embd, 210
// I2_S projections) in this per-block order, the blocks in the lexical order of their index.
const OFFICIAL_B158_KEYS = [
  "general.architecture",
  "general.name",
  "bitnet-b1.58.vocab_size",
  "bitnet-b1.58.context_length",
  "bitnet-b1.58.embedding_length",
  "bitnet-b1.58.block_count",
  "bitnet-b1.58.feed_forward_length",
  "bitnet-b1.58.rope.dimension_count",
  "bitnet-b1.58.attention.head_count",
  "bitnet-b1.58.attention.head_count_kv",
  "tokenizer.ggml.add_bos_token",
  "bitnet-b1.58.attention.layer_norm_rms_epsilon",
  "bitnet-b1.58.rope.freq_base",
  "general.file_type",
  "tokenizer.ggml.model",
  "tokenizer.ggml.tokens",
  "tokenizer.ggml.scores",
  "tokenizer.ggml.token_type",
  "tokenizer.ggml.merges",
  "tokenizer.ggml.bos_token_id",
  "tokenizer.ggml.eos_token_id",
  "tokenizer.ggml.padding_token_id",
  "tokenizer.chat_template",
  "general.quantization_version",
];
const OFFICIAL_BLOCK = [
  "attn_norm:0",
  "ffn_down:36",
  "ffn_sub_norm:0",
  "ffn_gate:36",
  "ffn_up:36",
  "ffn_norm:0",
  "attn_sub_norm:0",
  "attn_k:36",
  "attn_output:36",
  "attn_q:36",
  "attn_v:36",
];

Deno.test("a generated bitnet-b1.58 I2_S model has the official file's keys, tensor names, types and order", () => {
  const { gguf } = synthesizeModel(normalizeSpec({ preset: "2b4t", arch: "bitnet-b1.58", type: "i2_s" }));
  assert.deepEqual([...gguf.metadata].map(([k]) => k), OFFICIAL_B158_KEYS);
  const meta = new Map([...gguf.metadata]);
  assert.equal(meta.get("general.file_type")!.value, 40);
  assert.equal(meta.get("tokenizer.ggml.model")!.value, "gpt2");
  assert.equal(meta.get("tokenizer.ggml.padding_token_id")!.value, meta.get("tokenizer.ggml.eos_token_id")!.value);
  const blocks = Array.from({ length: 30 }, (_, i) => String(i)).sort();
  const want = [
    "token_embd.weight:1",
    ...blocks.flatMap((b) => OFFICIAL_BLOCK.map((x) => `blk.${b}.${x.replace(":", ".weight:")}`)),
    "output_norm.weight:0",
  ];
  assert.equal(want.length, 332);
  assert.deepEqual(gguf.tensors.map((t) => `${t.name}:${t.type}`), want);
  // The other architectures keep their own layout (and pinned hashes): the generator's keys are still there.
  const bitnet = [...synthesizeModel(normalizeSpec({ preset: "tiny" })).gguf.metadata].map(([k]) => k);
  assert.ok(bitnet.includes("crossval.synth.spec") && bitnet.includes("tokenizer.ggml.pre"));
});
