import assert from "node:assert/strict";
import { parseTestName, repetitionTokens, testTokenCount } from "./measure.ts";

Deno.test("parseTestName() reads llama-bench's pp<N> and tg<N> and rejects anything else", () => {
  assert.deepEqual(parseTestName("pp512"), { name: "pp512", nPrompt: 512, nGen: 0 });
  assert.deepEqual(parseTestName("tg128"), { name: "tg128", nPrompt: 0, nGen: 128 });
  assert.equal(testTokenCount(parseTestName("tg7")), 7);
  for (const bad of ["pp0", "pp", "tg-1", "pg512", "pp512 @ d512", "PP8", "pp01"]) {
    assert.throws(() => parseTestName(bad), /expected pp<N> \(prompt processing\) or tg<N>/, bad);
  }
});

Deno.test("repetitionTokens() is seeded per test and repetition, stays in the vocabulary, starts with BOS", () => {
  const pp = parseTestName("pp64"), tg = parseTestName("tg64");
  const a = repetitionTokens(pp, 0, { seed: 1, nVocab: 1000, bos: 999 });
  assert.deepEqual(a, repetitionTokens(pp, 0, { seed: 1, nVocab: 1000, bos: 999 }));
  assert.equal(a[0], 999);
  assert.ok(a.every((id) => id >= 0 && id < 1000));
  assert.notDeepEqual(a, repetitionTokens(pp, 1, { seed: 1, nVocab: 1000, bos: 999 }), "repetitions differ");
  assert.notDeepEqual(a, repetitionTokens(pp, 0, { seed: 2, nVocab: 1000, bos: 999 }), "seeds differ");
  assert.notDeepEqual(
    a.subarray(1),
    repetitionTokens(tg, 0, { seed: 1, nVocab: 1000, bos: 999 }).subarray(1),
    "tests differ",
  );
  const noBos = repetitionTokens(pp, -1, { seed: 1, nVocab: 7, bos: null });
  assert.equal(noBos.length, 64);
  assert.ok(noBos.every((id) => id >= 0 && id < 7));
  assert.ok(new Set(noBos).size === 7, "all of a small vocabulary is drawn");
  assert.throws(() => repetitionTokens(pp, 0, { seed: 1, nVocab: 0, bos: null }), /vocabulary size is 0/);
});
