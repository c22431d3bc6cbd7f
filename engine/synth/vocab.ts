/**
 * A small byte-level BPE vocabulary trained deterministically on {@link SYNTH_CORPUS} with the Llama 3
 * (`llama-bpe`) pre-tokenizer, written in GPT-2's byte-to-unicode encoding exactly like real Llama 3 vocabularies,
 * plus Llama 3's first ten special tokens. Training is the classic BPE loop (Sennrich et al. 2016; GPT-2's
 * `encoder.py`): count adjacent pairs over pre-tokenized words, merge the most frequent, repeat.
 *
 * @module
 */

import { bytesToUnicode } from "../tokenizer/byte_encoding.ts";
import { preTokenize } from "../tokenizer/pre_tokenize.ts";
import { SYNTH_CORPUS } from "./corpus.ts";

/** llama.cpp token types (`enum llama_token_type`). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Llama 3's first special tokens, in id order (128000..128009 in the real vocabulary). */
export const LLAMA3_SPECIALS: readonly string[] = [
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<|reserved_special_token_0|>",
  "<|reserved_special_token_1|>",
  "<|finetune_right_pad_id|>",
  "<|reserved_special_token_2|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  "<|eom_id|>",
  "<|eot_id|>",
];

/** A trained vocabulary, ready to be written as `tokenizer.ggml.*` metadata. */
export interface SynthVocab {
  /** Token strings (byte-encoded), id order. */
  readonly tokens: string[];
  /** Token types, id order. */
  readonly types: Int32Array;
  /** Merges `"left right"`, rank order. */
  readonly merges: string[];
  /** Id of `<|begin_of_text|>`. */
  readonly bos: number;
  /** Id of `<|end_of_text|>`. */
  readonly eos: number;
  /** Id of `<|eot_id|>`. */
  readonly eot: number;
}

/**
 * Train the synthetic vocabulary.
 *
 * @param opts.maxMerges Upper bound on merges (training also stops when no pair occurs twice).
 * @param opts.padTo Total vocabulary size, reached by adding pseudo-words before the specials (0 = no padding).
 * @returns The vocabulary.
 * @throws {RangeError} When `padTo` is smaller than the trained vocabulary.
 */
export function trainSynthVocab(opts: { maxMerges?: number; padTo?: number } = {}): SynthVocab {
  const maxMerges = opts.maxMerges ?? 760;
  const table = bytesToUnicode();

  // Word frequencies over the pre-tokenized corpus, words as symbol arrays.
  const freq = new Map<string, number>();
  for (const word of preTokenize(SYNTH_CORPUS, "llama-bpe", { byteEncode: true })) {
    // Each character of a byte-encoded word is one byte symbol.
    const key = [...word].join("\u0000");
    freq.set(key, (freq.get(key) ?? 0) + 1);
  }
  const words: { syms: string[]; n: number }[] = [...freq.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, n]) => ({ syms: k.split("\u0000"), n }));

  // Byte tokens first, in GPT-2's rank order (byte_encoder order: printable bytes, then the remapped ones).
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const byteOrder = [...Array(256).keys()].sort((a, b) => Number(!printable(a)) - Number(!printable(b)) || a - b);
  const tokens: string[] = byteOrder.map((b) => table[b]!);
  const known = new Set(tokens);
  const merges: string[] = [];

  for (let m = 0; m < maxMerges; m++) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.syms.length; i++) {
        const key = `${w.syms[i]} ${w.syms[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + w.n);
      }
    }
    let best = "";
    let bestN = 1;
    for (const [key, n] of counts) {
      // Highest count wins; ties go to the lexicographically smallest pair, so training is deterministic.
      if (n > bestN || (n === bestN && n > 1 && key < best)) {
        best = key;
        bestN = n;
      }
    }
    if (bestN < 2) break;
    const [left, right] = best.split(" ") as [string, string];
    const merged = left + right;
    merges.push(best);
    if (!known.has(merged)) {
      known.add(merged);
      tokens.push(merged);
    }
    for (const w of words) {
      const s = w.syms;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === left && s[i + 1] === right) s.splice(i, 2, merged);
      }
    }
  }

  const padTo = opts.padTo ?? 0;
  if (padTo && padTo < tokens.length + LLAMA3_SPECIALS.length) {
    throw new RangeError(
      `Cannot pad the vocabulary to ${padTo} tokens: it already has ${tokens.length + LLAMA3_SPECIALS.length}`,
    );
  }
  // Padding tokens are ordinary words (" bado", " kemiru", ...) rather than reserved control tokens, so a model
  // with a large vocabulary still generates readable text. No merge produces them; with llama-bpe's
  // ignore_merges a prompt word equal to one of them maps to it directly, in both engines alike.
  for (const word of pseudoWords()) {
    if (!padTo || tokens.length + LLAMA3_SPECIALS.length >= padTo) break;
    if (!known.has(word)) {
      known.add(word);
      tokens.push(word);
    }
  }
  const nNormal = tokens.length;
  tokens.push(...LLAMA3_SPECIALS);
  const types = new Int32Array(tokens.length).fill(TokenType.CONTROL);
  types.fill(TokenType.NORMAL, 0, nNormal);
  return {
    tokens,
    types,
    merges,
    bos: nNormal,
    eos: nNormal + 1,
    eot: nNormal + 9,
  };
}

/** Endless deterministic pseudo-words in byte-level form: `Ġba`, `Ġbe`, ..., then three syllables, and so on. */
function* pseudoWords(): Generator<string> {
  const syllables: string[] = [];
  for (const c of "bdfgklmnprstvz") for (const v of "aeiou") syllables.push(c + v);
  for (let len = 2;; len++) {
    const idx = new Array<number>(len).fill(0);
    for (;;) {
      yield "\u0120" + idx.map((i) => syllables[i]).join("");
      let k = len - 1;
      while (k >= 0 && ++idx[k]! === syllables.length) idx[k--] = 0;
      if (k < 0) break;
    }
  }
}
