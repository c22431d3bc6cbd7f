import assert from "node:assert/strict";
import { bool, tinyBpe, tinyGguf, u32 } from "./_testing.ts";
import { TOKEN_NULL, TokenAttr } from "./token_attr.ts";
import { loadVocab, mergeKey } from "./vocab.ts";

Deno.test("loadVocab() applies llama.cpp's per-kind defaults (SPM: BOS 1/EOS 2, add BOS, space prefix)", () => {
  const v = loadVocab(tinyGguf({ model: "llama", tokens: ["<unk>", "<s>", "</s>", "a"], scores: [0, 0, 0, 0] }));
  assert.equal(v.kind, "SPM");
  assert.deepEqual([v.special.bos, v.special.eos, v.special.unk], [1, 2, 0]);
  assert.deepEqual([v.addBos, v.addEos, v.addSpacePrefix, v.cleanSpaces], [true, false, true, false]);
  assert.equal(v.pre, "default");
  // No token_type: every token is NORMAL, then "</s>" is found by its text as end-of-generation and made CONTROL.
  assert.deepEqual([...v.attrs], [4, 4, 4 | 8, 4]);
  assert.deepEqual([...v.eog], [2]);
});

Deno.test("loadVocab() reads special ids and add_* flags from metadata, ignoring out-of-range ids", () => {
  const v = loadVocab(tinyBpe([], [], [
    ["tokenizer.ggml.bos_token_id", u32(5)],
    ["tokenizer.ggml.eos_token_id", u32(999_999)], // bad special token: keep the default (11)
    ["tokenizer.ggml.add_bos_token", bool(false)],
    ["tokenizer.ggml.add_eos_token", bool(true)],
  ]));
  assert.equal(v.special.bos, 5);
  assert.equal(v.special.eos, 11);
  assert.deepEqual([v.addBos, v.addEos], [false, true]);
  assert.equal(v.preType.type, "llama3");
  assert.equal(v.ignoreMerges, true);
});

Deno.test("loadVocab() keeps the first rank of a duplicated merge, like bpe_ranks.emplace", () => {
  const v = loadVocab(
    tinyGguf({ model: "gpt2", pre: "gpt-2", tokens: ["a", "b", "c", "d"], merges: ["a b", "c d", "a b"] }),
  );
  assert.equal(v.bpeRanks.get(mergeKey("a", "b")), 0);
  assert.equal(v.bpeRanks.get(mergeKey("c", "d")), 1);
});

Deno.test("loadVocab() detects EOT/EOG/FIM tokens by text and marks them CONTROL; 'unused' controls UNUSED", () => {
  const tokens = ["a", "<|im_end|>", "<|endoftext|>", "<|fim_prefix|>", "<unused0>", "b"];
  const types = [1, 1, 3, 1, 3, 1];
  const v = loadVocab(tinyGguf({ model: "gpt2", pre: "qwen2", tokens, types, merges: [] }));
  // Both <|im_end|> and <|endoftext|> are EOT candidates; llama.cpp's list order puts <|im_end|> first.
  assert.equal(v.special.eot, 1);
  assert.equal(v.special.fimPre, 3);
  assert.ok(v.attrs[1] & TokenAttr.CONTROL && v.attrs[3] & TokenAttr.CONTROL);
  assert.ok(v.attrs[4] & TokenAttr.UNUSED);
  assert.deepEqual([...v.eog].sort(), [1, 2]);
  assert.equal(v.special.eom, TOKEN_NULL);
  // Special-token cache: control/user-defined/unknown, longest text first.
  assert.deepEqual(v.specialTokens, [3, 2, 1, 4]);
});

Deno.test("loadVocab() sets RSTRIP on special tokens of phi-3 models, by general.name", () => {
  const tokens = ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|end|>", "<|user|>", "a"];
  const types = [2, 3, 3, 3, 3, 4, 1];
  const v = loadVocab(tinyGguf({ model: "llama", name: "Phi3", tokens, types, scores: tokens.map(() => 0) }));
  for (const id of [2, 4, 5]) assert.ok(v.attrs[id] & TokenAttr.RSTRIP, `${tokens[id]} has RSTRIP`);
  for (const id of [0, 1, 3]) assert.equal(v.attrs[id] & TokenAttr.RSTRIP, 0, `${tokens[id]} has no RSTRIP`);
});

Deno.test("loadVocab() rejects what llama.cpp rejects, with its reason", () => {
  assert.throws(() => loadVocab(tinyGguf({ model: "nope", tokens: ["a"] })), /unknown tokenizer: 'nope'/);
  assert.throws(() => loadVocab(tinyGguf({ model: "gpt2", pre: "gpt-2", tokens: ["a"] })), /merges/);
  assert.throws(
    () => loadVocab(tinyGguf({ model: "gpt2", pre: "bogus", tokens: ["a"], merges: [] })),
    /no such tokenizer.ggml.pre/,
  );
  assert.throws(() => loadVocab(tinyGguf({ model: "llama", tokens: ["a", "a"] })), /duplicate token texts/);
});

Deno.test("loadVocab() names empty tokens [EMPTY_<id>] like llama.cpp", () => {
  const v = loadVocab(tinyGguf({ model: "llama", tokens: ["a", "", "b"] }));
  assert.equal(v.tokens[1], "[EMPTY_1]");
  assert.equal(v.tokenToId.get("[EMPTY_1]"), 1);
});
