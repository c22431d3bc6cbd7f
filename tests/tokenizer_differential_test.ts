/**
 * Differential test: our tokenizer against llama.cpp itself (through the ffi bridge, vocab-only load) on random
 * and adversarial input: mixed scripts, emoji and ZWJ sequences, long whitespace runs, digit runs, control
 * characters, lone surrogates, invalid UTF-8, unassigned codepoints and text containing special-token strings.
 * Token ids, detokenized bytes and every token's piece must agree exactly, for every flag combination.
 *
 * Input bytes: a JS string goes through `TextEncoder` (lone surrogates become U+FFFD) and those exact bytes go
 * to both sides. Raw invalid UTF-8 is generated as bytes and also sent to both. Bytes >= 0xF4 are left out of
 * raw input: a 4-byte sequence beyond U+10FFFF makes llama.cpp throw a C++ exception through `llama_tokenize`,
 * which aborts the process (we throw a RangeError there instead; see the engine's unit tests).
 *
 * Reproduce a failure with the printed seed: `TOKENIZER_DIFF_SEED=<seed> deno test -A tests/tokenizer_differential_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CppModel } from "../ffi/mod.ts";
import { llamaSourceDir } from "../ffi/llama_source.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import { Tokenizer } from "../engine/tokenizer/mod.ts";
import { Prng } from "../engine/sampling.ts";

const SEED = Number(Deno.env.get("TOKENIZER_DIFF_SEED") ?? 20261126);
const CASES_PER_VOCAB = 300;

/** Uniform [0, 1) draws of the engine's seeded mulberry32: tiny, good enough to spread test inputs. */
function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

const FRAGMENTS = [
  // whitespace of every kind llama.cpp treats specially
  " ",
  "  ",
  "\t",
  "\n",
  "\r",
  "\r\n",
  "\n\n\n",
  "\u000b",
  "\u000c",
  "\u00a0",
  "\u0085",
  "\u1680",
  "\u2000",
  "\u2009",
  "\u2028",
  "\u2029",
  "\u202f",
  "\u205f",
  "\u3000",
  "\u180e",
  "\u200b",
  "\ufeff",
  // letters, marks, cases, contractions
  "a",
  "Z",
  "Hello",
  " world",
  "'s",
  "'S",
  "'ll",
  "'LL",
  "'Re",
  "'ve",
  "'d",
  "'m",
  "'t",
  "'",
  "é",
  "e\u0301",
  "ß",
  "İ",
  "\u212a",
  "ǅ",
  "ﬀ",
  "µ",
  "Ꙁ",
  "𐐀",
  "ｗ",
  "ﾟ",
  "Cửa Việt",
  "нещо",
  "Ελληνικά",
  "עברית",
  "العربية",
  "हिन्दी",
  "ภาษาไทย",
  "កាន់តែពិសេស",
  "日本語",
  "世界",
  "한국어",
  "\u0378",
  "\ue000",
  "\uffff",
  "\u{10ffff}",
  "\u{e0001}",
  // numbers
  "0",
  "7",
  "12",
  "123",
  "1234567",
  "٣٤",
  "Ⅻ",
  "½",
  "²",
  "𝟘",
  // punctuation and symbols
  "!",
  "...",
  "?!",
  ",",
  ".",
  "$",
  "+",
  "<",
  ">",
  "=",
  "|",
  "~",
  "^",
  "`",
  "—",
  "“",
  "”",
  "«",
  "»",
  "©",
  "€",
  "﷽",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  "/",
  "\\",
  "#",
  "@",
  "%",
  "&",
  "*",
  "_",
  "-",
  ":",
  ";",
  // emoji
  "😀",
  "🦙",
  "👨‍👩‍👧",
  "🏳️‍🌈",
  "✅",
  "🇺🇳",
  "👍🏽",
  // controls and surrogates
  "\u0000",
  "\u0001",
  "\u001f",
  "\u007f",
  "\u0080",
  "\u009f",
  "\ud800",
  "\udc00",
  "\udbff\udfff",
  // letters and symbols newer than llama.cpp's Unicode tables (V8's \p{L} says letter, llama.cpp does not)
  "\u1c89",
  "a\ua7cbb",
  "\u{10d40}",
  "\u2427",
  // SPM's escaped space and byte-token look-alikes
  "▁",
  "<0x0A>",
  "<unk>",
  "<s>",
  "</s>",
];

function longRun(r: () => number): string {
  const ch = [" ", "\n", "\t", "\u3000", "a", "1", "!", "\u00a0"][Math.floor(r() * 8)];
  return ch.repeat(1 + Math.floor(r() * 300));
}

function randomCodepoints(r: () => number): string {
  let s = "";
  const n = 1 + Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const pick = r();
    const cp = pick < 0.4
      ? Math.floor(r() * 0x80)
      : pick < 0.8
      ? Math.floor(r() * 0x10000)
      : Math.floor(r() * 0x110000);
    s += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
  }
  return s;
}

function randomBytes(r: () => number): Uint8Array {
  const n = 1 + Math.floor(r() * 16);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() < 0.5 ? Math.floor(r() * 0xf4) : 0x20 + Math.floor(r() * 0x5f);
  return b;
}

function caseInput(r: () => number, specials: readonly string[]): Uint8Array {
  const kind = r();
  if (kind < 0.15) return randomBytes(r);
  let s = "";
  if (kind < 0.3) s = randomCodepoints(r);
  else {
    const n = 1 + Math.floor(r() * 10);
    for (let i = 0; i < n; i++) {
      const p = r();
      if (p < 0.08) s += longRun(r);
      else if (p < 0.2 && specials.length) s += specials[Math.floor(r() * specials.length)];
      else s += FRAGMENTS[Math.floor(r() * FRAGMENTS.length)];
    }
  }
  return new TextEncoder().encode(s);
}

const show = (b: Uint8Array) => JSON.stringify(new TextDecoder().decode(b)) + ` bytes=[${Array.from(b).join(",")}]`;

async function differential(name: string): Promise<void> {
  const path = `${await llamaSourceDir()}/models/ggml-vocab-${name}.gguf`;
  using cpp = await CppModel.load(path, { vocabOnly: true });
  using file = GgufFile.open(path);
  const tok = Tokenizer.fromGguf(file);
  const where = `${name}, seed ${SEED}`;

  const info = cpp.info();
  assert.deepEqual(
    { n: tok.vocabSize, bos: tok.bos, eos: tok.eos, eot: tok.eot, addBos: tok.addBos, addEos: tok.addEos },
    { n: info.nVocab, bos: info.bos, eos: info.eos, eot: info.eot, addBos: info.addBos, addEos: info.addEos },
    `${where}: special ids and flags`,
  );
  for (let id = 0; id < tok.vocabSize; id++) {
    for (const special of [false, true]) {
      const want = cpp.tokenToPiece(id, { special });
      const got = tok.tokenToPieceBytes(id, { special });
      if (want.length !== got.length || want.some((b, i) => b !== got[i])) {
        assert.fail(
          `${where}: piece of token ${id} ${JSON.stringify(tok.vocab.tokens[id])} (special ${special}): ` +
            `want [${want}] got [${got}]`,
        );
      }
    }
  }

  // Special-token texts of this vocabulary go into the input, so parseSpecial and user-defined splitting run.
  const specials = tok.vocab.specialTokens.slice(0, 64).map((id) => tok.vocab.tokens[id]);
  const r = prng(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7));
  for (let i = 0; i < CASES_PER_VOCAB; i++) {
    const bytes = caseInput(r, specials);
    for (const [addSpecial, parseSpecial] of [[false, false], [true, false], [false, true], [true, true]]) {
      const want = cpp.tokenize(bytes, { addSpecial, parseSpecial });
      const got = tok.encode(bytes, { addSpecial, parseSpecial });
      assert.deepEqual(
        Array.from(got),
        Array.from(want),
        `${where}, case ${i}, addSpecial=${addSpecial} parseSpecial=${parseSpecial}: ${show(bytes)}`,
      );
      for (const [removeSpecial, unparseSpecial] of [[false, false], [true, true]]) {
        assert.deepEqual(
          Array.from(tok.decodeBytes(want, { removeSpecial, unparseSpecial })),
          Array.from(cpp.detokenizeBytes(want, { removeSpecial, unparseSpecial })),
          `${where}, case ${i}: detokenize(removeSpecial=${removeSpecial}, unparseSpecial=${unparseSpecial}) ` +
            `of [${want.join(" ")}] from ${show(bytes)}`,
        );
      }
    }
  }
}

// The BitNet vocab first (llama-bpe), then one vocab per distinct code path: SPM, the GPT-2 custom splitter,
// SPM with phi-3's RSTRIP attributes, std::wregex regexes (deepseek-llm), collapsed std::regex (falcon,
// deepseek-coder), the qwen35 splitter (\p{M}), and a 256k-token BPE vocab (command-r).
for (const name of ["llama-bpe", "llama-spm", "gpt-2", "phi-3", "deepseek-llm", "deepseek-coder", "falcon", "qwen35"]) {
  Deno.test(`Tokenizer agrees with llama.cpp on ${CASES_PER_VOCAB} random/adversarial inputs: ${name}`, async () => {
    await differential(name);
  });
}
