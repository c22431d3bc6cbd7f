/** Prompt files: JSON, llama.cpp `.inp` test vectors, one per line; special-token text detection. */
import assert from "node:assert/strict";
import { DEFAULT_PROMPTS, GGML_VOCAB_TEST_SEPARATOR, parsePromptFile } from "./prompts.ts";

Deno.test("parsePromptFile() reads JSON strings and objects, .inp cases, and lines", () => {
  assert.deepEqual(parsePromptFile('["a", {"text": "<|eot_id|>b", "parse_special": false}]'), [
    { text: "a", parseSpecial: false },
    { text: "<|eot_id|>b", parseSpecial: false },
  ]);
  const inp = ["", " x", "y\nz"].join(GGML_VOCAB_TEST_SEPARATOR) + GGML_VOCAB_TEST_SEPARATOR;
  assert.deepEqual(parsePromptFile(inp).map((p) => p.text), ["", " x", "y\nz"]);
  assert.deepEqual(parsePromptFile("one\n\n<|eot_id|> two\n"), [
    { text: "one", parseSpecial: false },
    { text: "<|eot_id|> two", parseSpecial: true },
  ]);
  assert.throws(() => parsePromptFile("[1]"), SyntaxError);
  assert.throws(() => parsePromptFile("[oops"), SyntaxError);
  assert.throws(() => parsePromptFile("\n\n"), SyntaxError);
});

Deno.test("the default prompts include special-token text parsed as special", () => {
  assert.ok(DEFAULT_PROMPTS.length >= 5);
  assert.ok(DEFAULT_PROMPTS.some((p) => p.parseSpecial && p.text.includes("<|eot_id|>")));
});
