import assert from "node:assert/strict";
import { PRE_TOKENIZER_REGEXES, preTokenize, preTokenizerFor } from "./pre_tokenize.ts";
import { PRE_TYPE_BY_NAME } from "./pre_types.ts";

// On ASCII text every Unicode version agrees on \p{L}, \p{N} and \s, so there the ported llama.cpp splitters
// must behave exactly like the regexes they stand for, run by V8 (with "Isolated" split semantics: text
// between matches is a word too). Non-ASCII behaviour is checked against llama.cpp itself in
// tests/tokenizer_differential_test.ts and tests/tokenizer_vectors_test.ts.

function jsSplit(text: string, regex: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(new RegExp(regex, "gu"))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[0].length) out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function jsSplitAll(text: string, regexes: readonly string[]): string[] {
  let words = [text];
  for (const r of regexes) words = words.flatMap((w) => jsSplit(w, r));
  return words;
}

function* asciiCases(seed: number, n: number): Generator<string> {
  const alphabet = [..."aZsStTdDmMlLrReEvV09 \t\n\r\f\v'!.,$+<=>^~|`-_(){}[]\"#%&*/:;?@\\"];
  let x = seed;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    let s = "";
    const len = Math.floor(next() * 24);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    yield s;
  }
  yield "Hello world's 12345 can't WE'LL   \n\n  x  ";
}

Deno.test("preTokenize() custom splitters (gpt2, llama3, qwen2, qwen35) equal their regexes on ASCII", () => {
  const cases: [string, string][] = [
    ["gpt-2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"],
    ["llama-bpe", preTokenizerFor("llama-bpe").regexes[0]],
    ["qwen2", preTokenizerFor("qwen2").regexes[0]],
    ["qwen35", preTokenizerFor("qwen35").regexes[0]],
  ];
  for (const [pre, regex] of cases) {
    for (const text of asciiCases(7, 3000)) {
      assert.deepEqual(preTokenize(text, pre), jsSplit(text, regex), `${pre}: ${JSON.stringify(text)}`);
    }
  }
});

Deno.test("preTokenize() std::regex paths (collapsed \\p{..} and plain) equal the regex lists on ASCII", () => {
  // default, falcon, starcoder, deepseek-coder mix custom, collapsed and plain regexes.
  for (const pre of ["default", "falcon", "starcoder", "deepseek-coder", "deepseek-llm", "poro-chat"]) {
    const regexes = preTokenizerFor(pre).regexes;
    for (const text of asciiCases(11, 1500)) {
      assert.deepEqual(preTokenize(text, pre), jsSplitAll(text, regexes), `${pre}: ${JSON.stringify(text)}`);
    }
  }
});

Deno.test("preTokenize() words concatenate back to the input for every ported pre-tokenizer", () => {
  const text = "Hello, wörld! 12345 ١٢٣ 世界 🦙🦙 Cửa Việt\n\n\t 'Ll  e\u0301 ½ \u00a0 ";
  let checked = 0;
  for (const [name] of PRE_TYPE_BY_NAME) {
    const words = (() => {
      try {
        return preTokenize(text, name);
      } catch (e) {
        // Only the pre-tokenizers whose llama.cpp splitter is custom-only may refuse (kimi-k2, afmoe, tiny_aya).
        assert.ok(e instanceof RangeError && /not ported/.test(e.message), `${name}: ${e}`);
        return undefined;
      }
    })();
    if (!words) continue;
    assert.equal(words.join(""), text, name);
    assert.ok(words.every((w) => w.length > 0), `${name}: no empty words`);
    checked++;
  }
  assert.ok(checked >= 70, `checked ${checked} pre-tokenizer names`);
});

Deno.test("preTokenize() byte-encodes words on request, the form byte-level vocabularies store", () => {
  assert.deepEqual(preTokenize("Hello world\n", "llama-bpe", { byteEncode: true }), ["Hello", "Ġworld", "Ċ"]);
  assert.deepEqual(preTokenize("é", "gpt-2", { byteEncode: true }), ["Ã©"]);
});

Deno.test("preTokenize() splits digits in threes for llama-bpe and one by one for qwen2", () => {
  assert.deepEqual(preTokenize("1234567", "llama-bpe"), ["123", "456", "7"]);
  assert.deepEqual(preTokenize("123", "qwen2"), ["1", "2", "3"]);
});

Deno.test("preTokenize() rejects unknown names and unported custom splitters with RangeError", () => {
  assert.throws(() => preTokenize("x", "no-such-pre"), RangeError);
  assert.throws(() => preTokenize("x", "kimi-k2"), /not ported/);
});

Deno.test("PRE_TOKENIZER_REGEXES lists each pre-tokenizer type once", () => {
  const types = PRE_TOKENIZER_REGEXES.flatMap((s) => s.types);
  assert.equal(new Set(types).size, types.length);
  for (const info of PRE_TYPE_BY_NAME.values()) {
    assert.ok(types.includes(info.type) || info.type === "default", `regexes for ${info.type}`);
  }
});
