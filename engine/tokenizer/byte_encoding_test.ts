import assert from "node:assert/strict";
import { byteDecode, byteEncode, bytesToUnicode, unicodeToBytes } from "./byte_encoding.ts";

Deno.test("bytesToUnicode() maps 256 bytes to 256 distinct printable chars, keeping printable Latin-1", () => {
  const t = bytesToUnicode();
  assert.equal(t.length, 256);
  assert.equal(new Set(t).size, 256);
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    if (printable) assert.equal(t[b], String.fromCharCode(b));
    else assert.ok(t[b].charCodeAt(0) >= 0x100, `byte ${b} is remapped above U+00FF`);
  }
  // The remapped bytes take U+0100.. in byte order (GPT-2's bytes_to_unicode).
  assert.equal(t[0x00], "\u0100");
  assert.equal(t[0x20], "Ġ");
  assert.equal(t[0x0a], "Ċ");
  assert.equal(t[0xad], "\u0143");
});

Deno.test("byteEncode()/byteDecode() round-trip every byte and unicodeToBytes() inverts the table", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(byteDecode(byteEncode(all)), all);
  for (const [c, b] of unicodeToBytes()) assert.equal(bytesToUnicode()[b], c);
  assert.equal(byteEncode(new TextEncoder().encode(" hi\n")), "ĠhiĊ");
});

Deno.test("byteDecode() rejects a character outside the mapping with RangeError", () => {
  assert.throws(() => byteDecode("a b"), RangeError);
});
