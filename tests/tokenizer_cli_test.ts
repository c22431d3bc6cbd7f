/**
 * `crossval tokenize` end to end: the `--inp` output is byte-identical to llama.cpp's `.out` file, `--json`
 * carries ids and the tokenizer identity, and usage mistakes exit 2.
 *
 * @module
 */

import assert from "node:assert/strict";
import { llamaSourceDir } from "../ffi/llama_source.ts";
import { crossval as run } from "../cli/_testing.ts";

const crossval = (...args: string[]) => run(args);

Deno.test("crossval tokenize --inp prints exactly llama.cpp's .out file (llama-bpe)", async () => {
  const v = `${await llamaSourceDir()}/models/ggml-vocab-llama-bpe.gguf`;
  const r = await crossval("tokenize", "--model", v, "--inp", `${v}.inp`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, await Deno.readTextFile(`${v}.out`));
});

Deno.test("crossval tokenize --text --json reports ids, pieces and the tokenizer identity", async () => {
  const v = `${await llamaSourceDir()}/models/ggml-vocab-llama-spm.gguf`;
  const r = await crossval(
    "tokenize",
    "--model",
    v,
    "--text",
    "<s>Hello",
    "--add-special",
    "--parse-special",
    "--json",
  );
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tokenizer.model, "llama");
  assert.equal(j.tokenizer.vocab_size, 32000);
  assert.match(j.tokenizer.sha256, /^[0-9a-f]{64}$/);
  // BOS from --add-special, then "<s>" parsed as BOS again, then the text with SPM's space prefix (llama.cpp
  // prefixes a space to text that follows a special token).
  assert.deepEqual(j.ids.slice(0, 2), [1, 1]);
  assert.equal(j.pieces.slice(2).join(""), " Hello");
});

Deno.test("crossval tokenize exits 2 on usage errors: no input, two inputs, unsupported vocabulary", async () => {
  const dir = `${await llamaSourceDir()}/models`;
  const none = await crossval("tokenize", "--model", `${dir}/ggml-vocab-llama-spm.gguf`);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /exactly one of --text, --file or --inp/);
  const two = await crossval("tokenize", "--model", `${dir}/ggml-vocab-llama-spm.gguf`, "--text", "a", "--file", "b");
  assert.equal(two.code, 2);
  const wpm = await crossval("tokenize", "--model", `${dir}/ggml-vocab-bert-bge.gguf`, "--text", "a");
  assert.equal(wpm.code, 2);
  assert.match(wpm.stderr, /WPM/);
});
