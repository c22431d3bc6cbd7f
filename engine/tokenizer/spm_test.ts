import assert from "node:assert/strict";
import { spmTokenize, type SpmVocab } from "./spm.ts";

/** A tiny SPM vocabulary over binary strings, with <0xNN> byte tokens after the pieces. */
function vocab(pieces: [string, number][]): SpmVocab {
  const toBin = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));
  const ids = new Map<string, number>();
  const scores: number[] = [];
  pieces.forEach(([p, score], i) => {
    ids.set(toBin(p), i);
    scores.push(score);
  });
  const byteBase = pieces.length;
  return {
    size: byteBase + 256,
    textToToken: (bin) => ids.get(bin),
    score: (id) => scores[id] ?? 0,
    byteToToken: (b) => byteBase + b,
  };
}
const bin = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));

Deno.test("spmTokenize() merges the highest-scoring pair first", () => {
  const v = vocab([["a", 0], ["b", 0], ["c", 0], ["ab", -2], ["bc", -1], ["abc", -3]]);
  const out: number[] = [];
  spmTokenize(bin("abc"), v, out);
  // bc (-1) beats ab (-2); then a+bc = abc exists -> one token.
  assert.deepEqual(out, [5]);
});

Deno.test("spmTokenize() falls back to <0xNN> byte tokens for characters outside the vocabulary", () => {
  const v = vocab([["a", 0]]);
  const out: number[] = [];
  spmTokenize(bin("aé"), v, out);
  assert.deepEqual(out, [0, 1 + 0xc3, 1 + 0xa9]);
});

Deno.test("spmTokenize() covers every input byte: merged tokens, then byte tokens for the rest", () => {
  const v = vocab([["x", 0], ["y", 0], ["xy", -1]]);
  const out: number[] = [];
  spmTokenize(bin("xyxyq"), v, out);
  assert.deepEqual(out, [2, 2, 3 + 0x71]);
});
