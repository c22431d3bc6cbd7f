import assert from "node:assert/strict";
import { codepointsFromUtf8, utf8Encode, utf8SeqLen, writeUtf8 } from "./utf8.ts";

Deno.test("utf8Encode() turns lone surrogates into U+FFFD, as TextEncoder does", () => {
  assert.deepEqual([...utf8Encode("a\ud800b")], [0x61, 0xef, 0xbf, 0xbd, 0x62]);
  assert.deepEqual([...utf8Encode("\udc00")], [0xef, 0xbf, 0xbd]);
  assert.deepEqual([...utf8Encode("\ud83d\ude00")], [0xf0, 0x9f, 0x98, 0x80]);
});

Deno.test("codepointsFromUtf8() equals String codepoints for valid UTF-8", () => {
  const s = "aé€😀\u{10ffff}\u0000";
  assert.deepEqual([...codepointsFromUtf8(utf8Encode(s))], [...s].map((c) => c.codePointAt(0)));
});

Deno.test("codepointsFromUtf8() follows unicode_cpts_from_utf8 on invalid input: one U+FFFD per bad byte", () => {
  const cps = (b: number[]) => [...codepointsFromUtf8(Uint8Array.from(b))];
  assert.deepEqual(cps([0x80]), [0xfffd]); // lone continuation
  assert.deepEqual(cps([0xc3]), [0xfffd]); // truncated 2-byte
  assert.deepEqual(cps([0xe2, 0x82, 0x61]), [0xfffd, 0xfffd, 0x61]); // bad 3rd byte: lead and 2nd byte each -> FFFD
  assert.deepEqual(cps([0xf8, 0x61]), [0xfffd, 0x61]); // 5-byte lead
  // No overlong/surrogate/range checks: these decode to what the bits say.
  assert.deepEqual(cps([0xc0, 0x80]), [0]);
  assert.deepEqual(cps([0xed, 0xa0, 0x80]), [0xd800]);
  assert.deepEqual(cps([0xf7, 0xbf, 0xbf, 0xbf]), [0x1fffff]);
});

Deno.test("utf8SeqLen() is unicode_len_utf8: by the high nibble of the lead byte", () => {
  assert.deepEqual([0x41, 0x80, 0xbf, 0xc3, 0xdf, 0xe2, 0xef, 0xf0, 0xff].map(utf8SeqLen), [1, 1, 1, 2, 2, 3, 3, 4, 4]);
});

Deno.test("writeUtf8() encodes up to U+10FFFF (surrogates too) and throws RangeError beyond", () => {
  const buf = new Uint8Array(4);
  for (const cp of [0x41, 0xe9, 0x20ac, 0xd800, 0x1f600, 0x10ffff]) {
    const n = writeUtf8(cp, buf, 0);
    assert.deepEqual([...codepointsFromUtf8(buf.subarray(0, n))], [cp]);
  }
  assert.throws(() => writeUtf8(0x110000, buf, 0), RangeError);
});
