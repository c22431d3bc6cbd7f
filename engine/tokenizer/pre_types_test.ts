import assert from "node:assert/strict";
import { PRE_TYPE_BY_NAME, resolvePreType } from "./pre_types.ts";

// The full name table is compared with llama-vocab.cpp in tests/tokenizer_llama_tables_test.ts.

Deno.test("resolvePreType() maps GGUF names to types with their load flags", () => {
  assert.deepEqual(resolvePreType("llama-bpe"), { type: "llama3", ignoreMerges: true, addBos: true });
  assert.equal(resolvePreType("gpt-2").type, "gpt2");
  assert.equal(resolvePreType("qwen2").cleanSpaces, false);
  assert.equal(resolvePreType(undefined).type, "default");
  assert.equal(resolvePreType("").type, "default");
  assert.throws(() => resolvePreType("llama-bpe2"), RangeError);
  assert.ok(PRE_TYPE_BY_NAME.size > 80);
});
