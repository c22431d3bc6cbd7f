import assert from "node:assert/strict";
import { bpeMerge } from "./bpe.ts";
import { bpeMergeRef } from "./bpe_ref.ts";
import { mergeKey } from "./vocab.ts";

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

Deno.test("bpeMerge() equals the O(n^2) oracle on random words and random merge tables", () => {
  const r = lcg(42);
  const alphabet = ["a", "b", "c", "d", "Ġ", "é", "😀"];
  for (let t = 0; t < 300; t++) {
    // Random merge table over random symbol pairs, including merges of merged symbols, with duplicates.
    const syms = [...alphabet];
    const ranks = new Map<string, number>();
    const nMerges = 1 + Math.floor(r() * 30);
    for (let i = 0; i < nMerges; i++) {
      const a = syms[Math.floor(r() * syms.length)];
      const b = syms[Math.floor(r() * syms.length)];
      if (!ranks.has(mergeKey(a, b))) ranks.set(mergeKey(a, b), i);
      syms.push(a + b);
    }
    for (let w = 0; w < 20; w++) {
      let word = "";
      const len = Math.floor(r() * 40);
      for (let i = 0; i < len; i++) word += alphabet[Math.floor(r() * alphabet.length)];
      const fast = bpeMerge(word, ranks);
      assert.deepEqual(fast, bpeMergeRef(word, ranks), `table ${t}, word ${JSON.stringify(word)}`);
      assert.equal(fast.join(""), word);
    }
  }
});

Deno.test("bpeMerge() applies lower ranks first and breaks rank ties leftmost", () => {
  const ranks = new Map([[mergeKey("a", "a"), 0], [mergeKey("b", "c"), 1], [mergeKey("aa", "b"), 2]]);
  // "aaa": the left pair merges first -> "aa","a".
  assert.deepEqual(bpeMerge("aaa", ranks), ["aa", "a"]);
  // "aabc": aa (rank 0) before bc (1), then aa+b is impossible since b is inside "bc".
  assert.deepEqual(bpeMerge("aabc", ranks), ["aa", "bc"]);
  assert.deepEqual(bpeMerge("", ranks), []);
  assert.deepEqual(bpeMerge("x", ranks), ["x"]);
});
