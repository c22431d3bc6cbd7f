import assert from "node:assert/strict";
import { formatVocabTestLine, parseVocabTestInputs, parseVocabTestOutputs } from "./test_vectors.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const SEP = "\n__ggml_vocab_test__\n";

Deno.test("parseVocabTestInputs() splits like test-tokenizer-0: a final separator adds no empty case", () => {
  assert.deepEqual(parseVocabTestInputs(enc(`a${SEP}${SEP} ${SEP}`)).map(dec), ["a", "", " "]);
  assert.deepEqual(parseVocabTestInputs(enc(`a${SEP}b`)).map(dec), ["a", "b"]);
  assert.deepEqual(parseVocabTestInputs(enc(`\n${SEP}\n\n`)).map(dec), ["\n", "\n\n"]);
  assert.deepEqual(parseVocabTestInputs(enc("")), []);
});

Deno.test("parseVocabTestOutputs() reads one id list per line, empty lines as no ids", () => {
  const out = parseVocabTestOutputs(" 1 2 3\n\n 42\n");
  assert.deepEqual(out.map((x) => [...x]), [[1, 2, 3], [], [42]]);
  assert.throws(() => parseVocabTestOutputs("1 x\n"), SyntaxError);
});

Deno.test("formatVocabTestLine() writes the .out format and parses back", () => {
  assert.equal(formatVocabTestLine([9906, 1917]), " 9906 1917");
  assert.equal(formatVocabTestLine([]), "");
  assert.deepEqual([...parseVocabTestOutputs(formatVocabTestLine([5, 6]) + "\n")[0]], [5, 6]);
});
