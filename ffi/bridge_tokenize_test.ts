/**
 * Tokenization through the llama.cpp bridge: llama.cpp's own test vectors (`models/ggml-vocab-*.gguf` with
 * `.inp`/`.out`, the inputs of `tests/test-tokenizer-0.cpp`) must come back exactly, and a generated model that
 * embeds a vocabulary must tokenize like that vocabulary. These are the ids the engine's tokenizer must match.
 */
import assert from "node:assert/strict";
import { CppModel } from "./mod.ts";
import { llamaSourceDir } from "./llama_source.ts";
import { fixtureModel } from "../engine/synth/_testing.ts";

const SEP = "\n__ggml_vocab_test__\n";

async function vocabDir(): Promise<string> {
  return `${await llamaSourceDir()}/models`;
}

/** The `.inp` strings and `.out` id lines of one vocab (same format test-tokenizer-0 reads). */
function vectors(gguf: string): { inputs: string[]; expected: number[][] } {
  const inputs = Deno.readTextFileSync(`${gguf}.inp`).split(SEP);
  const lines = Deno.readTextFileSync(`${gguf}.out`).split("\n");
  const expected = inputs.map((_, i) => lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number));
  return { inputs, expected };
}

Deno.test("CppModel.tokenize() reproduces llama.cpp's test vectors for every vocab with .inp/.out", async () => {
  const dir = await vocabDir();
  const vocabs = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".gguf.inp"))
    .map((n) => n.slice(0, -4)).sort();
  assert.ok(vocabs.length >= 10, `expected the pinned source's vocab files in ${dir}, found ${vocabs.length}`);
  for (const v of vocabs) {
    const { inputs, expected } = vectors(`${dir}/${v}`);
    using m = await CppModel.load(`${dir}/${v}`, { vocabOnly: true });
    inputs.forEach((text, i) => {
      // add_special=false, parse_special=false: exactly what test-tokenizer-0 calls.
      const got = Array.from(m.tokenize(text, { addSpecial: false, parseSpecial: false }));
      assert.deepEqual(got, expected[i], `${v} case ${i}: ${JSON.stringify(text.slice(0, 40))}`);
    });
  }
});

Deno.test("CppModel vocab-only: addSpecial adds BOS as the vocab says, parseSpecial parses control tokens", async () => {
  using m = await CppModel.load(`${await vocabDir()}/ggml-vocab-llama-bpe.gguf`, { vocabOnly: true });
  const info = m.info();
  assert.equal(info.settings.vocabOnly, true);
  assert.ok(info.bos >= 0 && info.bos < info.nVocab);
  const plain = m.tokenize("Hello world", { addSpecial: false });
  const withBos = m.tokenize("Hello world", { addSpecial: true });
  assert.equal(info.addBos, true);
  assert.deepEqual(Array.from(withBos), [info.bos, ...plain]);
  const bosText = new TextDecoder().decode(m.tokenToPiece(info.bos, { special: true }));
  assert.deepEqual(Array.from(m.tokenize(bosText, { addSpecial: false, parseSpecial: true })), [info.bos]);
  assert.ok(m.tokenize(bosText, { addSpecial: false, parseSpecial: false }).length > 1);
  assert.deepEqual(Array.from(m.tokenize("", { addSpecial: false })), []);
});

Deno.test("CppModel.tokenize() takes exact bytes, honouring a Uint8Array's offset and length", async () => {
  using m = await CppModel.load(`${await vocabDir()}/ggml-vocab-llama-bpe.gguf`, { vocabOnly: true });
  const text = "naïve café 🦙";
  const expected = m.tokenize(text, { addSpecial: false });
  const padded = new TextEncoder().encode(`xx${text}yy`);
  const window = padded.subarray(2, padded.length - 2);
  assert.deepEqual(m.tokenize(window, { addSpecial: false }), expected);
  // Invalid UTF-8 becomes U+FFFD inside llama.cpp (unicode_cpts_from_utf8), as WHATWG decoding does for these bytes.
  const raw = new Uint8Array([0x61, 0xff, 0xfe, 0x62]);
  assert.deepEqual(
    m.detokenizeBytes(m.tokenize(raw, { addSpecial: false })),
    new TextEncoder().encode(new TextDecoder().decode(raw)),
  );
});

Deno.test("CppModel.detokenize() and tokenToPiece() invert tokenize() on the qwen2 vectors", async () => {
  // qwen2 does not clean up spaces on decode (llama-bpe does: "😁 ?" -> "😁?"), so its round trip is exact.
  const gguf = `${await vocabDir()}/ggml-vocab-qwen2.gguf`;
  using m = await CppModel.load(gguf, { vocabOnly: true });
  for (const text of vectors(gguf).inputs) {
    const ids = m.tokenize(text, { addSpecial: false });
    assert.equal(m.detokenize(ids), text);
    const pieces = Array.from(ids, (id) => m.tokenToPiece(id));
    const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pieces) joined.set(p, (o += p.length) - p.length);
    assert.deepEqual(joined, m.detokenizeBytes(ids));
  }
  assert.throws(() => m.tokenToPiece(m.nVocab), RangeError);
  assert.throws(() => m.detokenize([-1]), RangeError);
});

Deno.test("CppModel vocab-only refuses eval, decode and generation with a clear error", async () => {
  using m = await CppModel.load(`${await vocabDir()}/ggml-vocab-llama-spm.gguf`, { vocabOnly: true });
  const ids = m.tokenize("hi");
  for (const call of [() => m.eval(ids), () => m.decode(ids), () => m.generateGreedy("hi", 2), () => m.reset()]) {
    assert.throws(call, (e: unknown) => e instanceof TypeError && /vocabOnly: true/.test(e.message));
  }
});

Deno.test("a generated model with the llama-bpe vocab tokenizes exactly like the vocab file through the bridge", async () => {
  const gguf = `${await vocabDir()}/ggml-vocab-llama-bpe.gguf`;
  const path = await fixtureModel({ vocab: gguf });
  using full = await CppModel.load(path, { ctx: 64 });
  using vocab = await CppModel.load(gguf, { vocabOnly: true });
  assert.equal(full.nVocab, vocab.nVocab);
  const { inputs, expected } = vectors(gguf);
  inputs.forEach((text, i) => {
    assert.deepEqual(Array.from(full.tokenize(text, { addSpecial: false })), expected[i], `case ${i}`);
    assert.deepEqual(full.tokenize(text), vocab.tokenize(text), `case ${i} with specials`);
  });
});

Deno.test("the default generated model tokenizes the same through a full load and a vocab-only load", async () => {
  const path = await fixtureModel();
  using full = await CppModel.load(path, { ctx: 64 });
  using vocab = await CppModel.load(path, { vocabOnly: true });
  const texts = [
    "Once upon a time, there was a little robot.",
    "  spaces\tand\nnewlines  ",
    "digits 1234567 and émoji 🦙",
  ];
  for (const t of texts) {
    const ids = full.tokenize(t, { addSpecial: false });
    assert.ok(ids.length > 0);
    assert.deepEqual(ids, vocab.tokenize(t, { addSpecial: false }));
    assert.equal(full.detokenize(ids), vocab.detokenize(ids));
  }
});
