/**
 * Test helpers: small in-memory GGUF vocabularies, so unit tests need no files.
 *
 * @module
 */

import { encodeGguf, GgufFile, type GgufKv, GgufValueType } from "../gguf/mod.ts";
import { bytesToUnicode } from "./byte_encoding.ts";

/** What goes into a tiny vocabulary. */
export interface TinyVocabSpec {
  model: string;
  pre?: string;
  tokens: string[];
  types?: number[];
  scores?: number[];
  merges?: string[];
  name?: string;
  extra?: [string, GgufKv][];
}

const str = (value: string): GgufKv => ({ type: GgufValueType.STRING, value });
const strs = (items: string[]): GgufKv => ({
  type: GgufValueType.ARRAY,
  value: { itemType: GgufValueType.STRING, items },
});

/** A u32 metadata value. */
export const u32 = (value: number): GgufKv => ({ type: GgufValueType.UINT32, value });
/** A bool metadata value. */
export const bool = (value: boolean): GgufKv => ({ type: GgufValueType.BOOL, value });

/** Build a vocabulary-only GGUF in memory. */
export function tinyGguf(spec: TinyVocabSpec): GgufFile {
  const md: [string, GgufKv][] = [
    ["general.architecture", str("llama")],
    ["general.name", str(spec.name ?? "tiny")],
    ["tokenizer.ggml.model", str(spec.model)],
  ];
  if (spec.pre !== undefined) md.push(["tokenizer.ggml.pre", str(spec.pre)]);
  md.push(["tokenizer.ggml.tokens", strs(spec.tokens)]);
  if (spec.types) {
    md.push(["tokenizer.ggml.token_type", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.INT32, items: Int32Array.from(spec.types) },
    }]);
  }
  if (spec.scores) {
    md.push(["tokenizer.ggml.scores", {
      type: GgufValueType.ARRAY,
      value: { itemType: GgufValueType.FLOAT32, items: Float32Array.from(spec.scores) },
    }]);
  }
  if (spec.merges) md.push(["tokenizer.ggml.merges", strs(spec.merges)]);
  md.push(...(spec.extra ?? []));
  return GgufFile.fromBytes(encodeGguf({ metadata: md, tensors: [] }));
}

/**
 * A byte-level BPE vocabulary: the 256 byte tokens, the given merges (each adds its result as a token), then
 * the given special tokens as CONTROL (type 3).
 */
export function tinyBpe(merges: string[], specials: string[] = [], extra: [string, GgufKv][] = []): GgufFile {
  const tokens = [...bytesToUnicode()];
  for (const m of merges) tokens.push(m.replace(" ", ""));
  const types = tokens.map(() => 1);
  for (const s of specials) {
    tokens.push(s);
    types.push(3);
  }
  return tinyGguf({ model: "gpt2", pre: "llama-bpe", tokens, types, merges, extra });
}
