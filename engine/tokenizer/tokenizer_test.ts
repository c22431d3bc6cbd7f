import assert from "node:assert/strict";
import { bool, tinyBpe, tinyGguf, u32 } from "./_testing.ts";
import { Tokenizer } from "./tokenizer.ts";

const MERGES = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r"];

function bpe(extra: Parameters<typeof tinyBpe>[2] = []) {
  const file = tinyBpe(MERGES, ["<|begin_of_text|>", "<|eot_id|>"], extra);
  const tok = Tokenizer.fromGguf(file);
  const id = (t: string) => tok.vocab.tokenToId.get(t)!;
  return { tok, id };
}

Deno.test("Tokenizer (byte-level BPE) merges words and adds BOS only with addSpecial", () => {
  const { tok, id } = bpe([["tokenizer.ggml.bos_token_id", u32(256 + MERGES.length)]]);
  const want = ["hello", "Ġw", "or", "l", "d"].map(id);
  assert.deepEqual([...tok.encode("hello world", { addSpecial: false })], want);
  assert.equal(tok.addBos, true, "llama-bpe pre-tokenizer implies add_bos");
  assert.deepEqual([...tok.encode("hello world")], [tok.bos, ...want]);
  assert.equal(tok.bos, id("<|begin_of_text|>"));
});

Deno.test("Tokenizer parses control-token text only with parseSpecial", () => {
  const { tok, id } = bpe();
  assert.deepEqual([...tok.encode("he<|eot_id|>", { addSpecial: false, parseSpecial: true })], [
    id("he"),
    id("<|eot_id|>"),
  ]);
  const plain = tok.encode("<|eot_id|>", { addSpecial: false, parseSpecial: false });
  assert.ok(plain.length > 1 && !plain.includes(id("<|eot_id|>")));
  assert.equal(tok.eot, id("<|eot_id|>"), "EOT found by its text, as llama.cpp does");
  assert.ok(tok.isEog(tok.eot));
});

Deno.test("Tokenizer.decode() inverts encode() and applies llama.cpp's space clean-up by default", () => {
  const { tok } = bpe();
  const text = "hello , world 's\n\t🦙 é";
  const ids = tok.encode(text, { addSpecial: false });
  assert.equal(tok.decode(ids, { cleanSpaces: false }), text);
  assert.equal(tok.decode(ids), "hello, world's\n\t🦙 é");
  assert.equal(tok.decode(tok.encode("a ' b", { addSpecial: false })), "a'b");
});

Deno.test("Tokenizer renders control tokens only when asked (tokenToPiece special, decode unparseSpecial)", () => {
  const { tok, id } = bpe();
  const eot = id("<|eot_id|>");
  assert.equal(tok.tokenToPiece(eot), "");
  assert.equal(tok.tokenToPiece(eot, { special: true }), "<|eot_id|>");
  assert.equal(tok.decode([id("he"), eot], { unparseSpecial: true }), "he<|eot_id|>");
  assert.equal(tok.decode([id("he"), eot]), "he");
  assert.deepEqual([...tok.tokenToPieceBytes(id("Ġw"))], [0x20, 0x77]);
  assert.throws(() => tok.tokenToPiece(tok.vocabSize), RangeError);
});

Deno.test("Tokenizer.identity hashes tokens, merges and types, and changes when any of them does", () => {
  const a = bpe().tok.identity;
  assert.deepEqual({ ...a, sha256: "" }, {
    model: "gpt2",
    pre: "llama-bpe",
    vocabSize: 256 + MERGES.length + 2,
    sha256: "",
    addBos: true,
    addEos: false,
  });
  assert.match(a.sha256, /^[0-9a-f]{64}$/);
  assert.equal(bpe().tok.identity.sha256, a.sha256, "deterministic");
  const b = Tokenizer.fromGguf(tinyBpe([...MERGES.slice(0, -1), "r o"], ["<|begin_of_text|>", "<|eot_id|>"])).identity;
  assert.notEqual(b.sha256, a.sha256);
});

Deno.test("Tokenizer (SPM) adds the space prefix, merges by score and falls back to <0xNN> bytes", () => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const tokens = ["<unk>", "<s>", "</s>", ...bytes, "▁", "a", "b", "▁a", "ab", "▁ab"];
  const types = [2, 3, 3, ...bytes.map(() => 6), 1, 1, 1, 1, 1, 1];
  const scores = tokens.map((_, i) => (i >= 259 ? -(i - 259) : 0));
  const tok = Tokenizer.fromGguf(tinyGguf({ model: "llama", tokens, types, scores }));
  const id = (t: string) => tok.vocab.tokenToId.get(t)!;
  assert.equal(tok.addBos, true);
  // " ab" -> "▁ab": ▁a (-3) beats ab (-4), then ▁a+b = ▁ab.
  assert.deepEqual([...tok.encode("ab")], [1, id("▁ab")]);
  assert.deepEqual([...tok.encode("é", { addSpecial: false })], [id("▁"), id("<0xC3>"), id("<0xA9>")]);
  assert.equal(tok.decode(tok.encode("ab a é", { addSpecial: false })), "ab a é", "the prefix space is dropped");
  // llama.cpp quirk kept on purpose: removing BOS also turns off the prefix-space removal.
  assert.equal(tok.decode(tok.encode("ab a é"), { removeSpecial: true }), " ab a é");
});

Deno.test("Tokenizer refuses vocabulary kinds it does not implement, naming them", () => {
  const wpm = tinyGguf({ model: "bert", tokens: ["[PAD]", "a"] });
  assert.throws(() => Tokenizer.fromGguf(wpm), /"bert" \(WPM\)/);
  const ugm = tinyGguf({ model: "t5", tokens: ["<pad>", "a"], scores: [0, 0] });
  assert.throws(() => Tokenizer.fromGguf(ugm), /UGM/);
});

Deno.test("Tokenizer.encode() throws when BOS is required but the vocabulary has none", () => {
  // gpt2's default BOS id is 11; with only 3 tokens it is out of range and disabled, as in llama.cpp.
  const tok = Tokenizer.fromGguf(tinyGguf({
    model: "gpt2",
    pre: "gpt-2",
    tokens: ["a", "b", "c"],
    merges: [],
    extra: [["tokenizer.ggml.add_bos_token", bool(true)]],
  }));
  assert.equal(tok.bos, -1);
  assert.throws(() => tok.encode("a"), /no BOS token/);
  assert.deepEqual([...tok.encode("a", { addSpecial: false })], [0]);
});

Deno.test("Tokenizer.encode() takes raw bytes: invalid UTF-8 becomes U+FFFD, beyond U+10FFFF throws", () => {
  const { tok } = bpe();
  const fffd = tok.encode("\ufffd", { addSpecial: false });
  assert.deepEqual([...tok.encode(Uint8Array.of(0xff), { addSpecial: false })], [...fffd]);
  assert.deepEqual([...tok.encode("\ud800", { addSpecial: false })], [...fffd], "lone surrogate -> U+FFFD");
  assert.throws(() => tok.encode(Uint8Array.of(0xf7, 0xbf, 0xbf, 0xbf), { addSpecial: false }), RangeError);
});
