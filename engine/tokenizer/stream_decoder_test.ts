import assert from "node:assert/strict";
import { tinyBpe } from "./_testing.ts";
import { StreamDecoder } from "./stream_decoder.ts";
import { Tokenizer } from "./tokenizer.ts";

Deno.test("StreamDecoder emits only complete characters and ends with the full text", () => {
  const tok = Tokenizer.fromGguf(tinyBpe(["h e"], ["<|eot_id|>"]));
  const text = "he 🦙 é\u{10ffff}!";
  const ids = tok.encode(text, { addSpecial: false });
  const dec = new StreamDecoder(tok);
  const parts = [...ids].map((id) => dec.push(id));
  assert.ok(parts.every((p) => !p.includes("\ufffd")), "no replacement characters mid-stream");
  assert.ok(parts.includes(""), "bytes of a split character are held back");
  assert.equal(parts.join("") + dec.flush(), text);
});

Deno.test("StreamDecoder.flush() renders an unfinished character as U+FFFD and resets", () => {
  const tok = Tokenizer.fromGguf(tinyBpe([]));
  const id = (b: number) => tok.vocab.tokenToId.get(String.fromCharCode(b))!;
  const dec = new StreamDecoder(tok);
  assert.equal(dec.push(tok.encode("🦙", { addSpecial: false })[0]), "");
  assert.equal(dec.flush(), "\ufffd");
  assert.equal(dec.push(id(0x61)), "a");
});

Deno.test("StreamDecoder renders control tokens only with special: true", () => {
  const tok = Tokenizer.fromGguf(tinyBpe([], ["<|eot_id|>"]));
  const eot = tok.vocab.tokenToId.get("<|eot_id|>")!;
  assert.equal(new StreamDecoder(tok).push(eot), "");
  assert.equal(new StreamDecoder(tok, { special: true }).push(eot), "<|eot_id|>");
});
