import assert from "node:assert/strict";
import { CptFlag, cptFlags, cptToLower, decodeDeltaPairs, MAX_CODEPOINTS } from "./unicode_flags.ts";

// The full table is proven equal to llama.cpp's unicode-data.cpp in engine/tokenizer/unicode_data_test.ts;
// these check the lookup functions on codepoints whose category no Unicode version disputes.

Deno.test("cptFlags() gives one category per codepoint and llama.cpp's whitespace bit", () => {
  const cat = (c: number) => cptFlags(c) & CptFlag.MASK_CATEGORIES;
  assert.equal(cat(0x41), CptFlag.LETTER);
  assert.equal(cat(0x35), CptFlag.NUMBER);
  assert.equal(cat(0x21), CptFlag.PUNCTUATION);
  assert.equal(cat(0x24), CptFlag.SYMBOL);
  assert.equal(cat(0x301), CptFlag.ACCENT_MARK);
  assert.equal(cat(0x0a), CptFlag.CONTROL);
  for (const ws of [0x20, 0x09, 0x0a, 0x85, 0xa0, 0x3000]) assert.ok(cptFlags(ws) & CptFlag.WHITESPACE);
  for (const not of [0x41, 0x200b, 0xfeff]) assert.equal(cptFlags(not) & CptFlag.WHITESPACE, 0);
  assert.equal(cptFlags(MAX_CODEPOINTS), CptFlag.UNDEFINED);
});

Deno.test("cptToLower() maps single codepoints and leaves others", () => {
  assert.equal(cptToLower(0x53), 0x73); // S -> s
  assert.equal(cptToLower(0x73), 0x73);
  assert.equal(cptToLower(0x212a), 0x6b); // KELVIN SIGN -> k
  assert.equal(cptToLower(0x1f600), 0x1f600);
});

Deno.test("decodeDeltaPairs() accumulates base-36 deltas", () => {
  assert.deepEqual(decodeDeltaPairs("a.1,1.-1,z.0"), [[10, 1], [11, 0], [46, 0]]);
});
