/**
 * llama.cpp's own tokenizer test vectors, run through our tokenizer: every `models/ggml-vocab-*.gguf` that has
 * `.inp`/`.out` files in the pinned source (npm `node-llama-cpp@3.22.1`, `package/llama/gitRelease.bundle`), with
 * test-tokenizer-0.cpp's conventions (vocab only, `add_special = false`, `parse_special = false`, inputs split on
 * `"\n__ggml_vocab_test__\n"`). BPE and SPM vocabularies must match every case exactly; other kinds are printed
 * as `unsupported: <file> (<kind>)`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { llamaSourceDir } from "../ffi/llama_source.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import {
  bpeMerge,
  bpeMergeRef,
  loadVocab,
  parseVocabTestInputs,
  parseVocabTestOutputs,
  preTokenize,
  StreamDecoder,
  SUPPORTED_VOCAB_KINDS,
  Tokenizer,
} from "../engine/tokenizer/mod.ts";

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

async function vocabFiles(): Promise<{ dir: string; names: string[] }> {
  const dir = `${await llamaSourceDir()}/models`;
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".gguf.inp"))
    .map((n) => n.slice(0, -".inp".length)).sort();
  return { dir, names };
}

function show(bytes: Uint8Array): string {
  const s = JSON.stringify(utf8.decode(bytes));
  return s.length > 70 ? s.slice(0, 70) + '..."' : s;
}

Deno.test("Tokenizer matches llama.cpp's .inp/.out vectors exactly and round-trips them, for every BPE and SPM vocab", async (t) => {
  const { dir, names } = await vocabFiles();
  assert.ok(names.length >= 15, `expected the pinned vocab vectors in ${dir}, found ${names.length}`);
  const supported: string[] = [];
  for (const name of names) {
    await t.step(name, () => {
      using file = GgufFile.open(`${dir}/${name}`);
      const vocab = loadVocab(file);
      const inputs = parseVocabTestInputs(Deno.readFileSync(`${dir}/${name}.inp`));
      const expected = parseVocabTestOutputs(Deno.readTextFileSync(`${dir}/${name}.out`));
      assert.equal(inputs.length, expected.length, `${name}: .inp and .out hold different numbers of cases`);
      if (!SUPPORTED_VOCAB_KINDS.includes(vocab.kind)) {
        console.log(`unsupported: ${name} (${vocab.kind}, tokenizer.ggml.model = "${vocab.model}")`);
        return;
      }
      supported.push(name);
      const tok = Tokenizer.fromVocab(vocab);
      const failures: string[] = [];
      inputs.forEach((inp, i) => {
        const got = Array.from(tok.encode(inp, { addSpecial: false, parseSpecial: false }));
        const want = Array.from(expected[i]);
        if (got.join(" ") !== want.join(" ")) {
          failures.push(`case ${i} ${show(inp)}\n    want ${want.join(" ")}\n    got  ${got.join(" ")}`);
        }
      });
      assert.equal(failures.length, 0, `${name} (${vocab.kind}, pre "${vocab.pre}"):\n  ${failures.join("\n  ")}`);

      // Round trip: decode and the streaming decoder give every input back. llama.cpp's clean_spaces rewrites
      // " ," and friends by design, so decode without it.
      for (const inp of inputs) {
        const text = utf8.decode(inp);
        const ids = tok.encode(inp, { addSpecial: false });
        assert.equal(tok.decode(ids, { cleanSpaces: false }), text, `${name}: decode round-trip of ${show(inp)}`);
        const dec = new StreamDecoder(tok);
        let streamed = "";
        for (const id of ids) streamed += dec.push(id);
        streamed += dec.flush();
        assert.equal(streamed, text, `${name}: streamed decode of ${show(inp)}`);
      }
    });
  }
  console.log(`exact on all cases: ${supported.join(", ")}`);
  // BPE and SPM vocabularies may never land in the unsupported list.
  for (const name of ["llama-bpe", "llama-spm", "gpt-2", "phi-3", "qwen2", "falcon", "deepseek-llm"]) {
    assert.ok(supported.includes(`ggml-vocab-${name}.gguf`), `ggml-vocab-${name}.gguf must be supported`);
  }
});

Deno.test("bpeMerge() equals the O(n^2) oracle bpeMergeRef() on every llama-bpe vector word", async () => {
  const { dir } = await vocabFiles();
  using file = GgufFile.open(`${dir}/ggml-vocab-llama-bpe.gguf`);
  const vocab = loadVocab(file);
  let words = 0;
  for (const inp of parseVocabTestInputs(Deno.readFileSync(`${dir}/ggml-vocab-llama-bpe.gguf.inp`))) {
    for (const word of preTokenize(utf8.decode(inp), "llama-bpe", { byteEncode: true })) {
      assert.deepEqual(
        bpeMerge(word, vocab.bpeRanks),
        bpeMergeRef(word, vocab.bpeRanks),
        `word ${JSON.stringify(word)}`,
      );
      words++;
    }
  }
  assert.ok(words > 200, `merged ${words} words`);
});
