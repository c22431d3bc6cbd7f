/**
 * A tokenizer vocabulary read from GGUF metadata exactly as `llama_vocab::impl::load` interprets it
 * (src/llama-vocab.cpp:1947-3131 at the pinned commit): vocabulary kind, pre-tokenizer, token attributes,
 * merges, special ids with their per-kind defaults, BOS/EOS flags and the text-based auto-detection of EOT/EOG
 * and FIM tokens. Nothing here tokenizes; see tokenizer.ts.
 *
 * @module
 */

import type { GgufFile } from "../gguf/mod.ts";
import { autoDetectSpecials, perModelAttrs } from "./_auto_special.ts";
import { type PreTypeInfo, resolvePreType } from "./pre_types.ts";
import { TOKEN_NULL, TokenAttr } from "./token_attr.ts";

// llama_token_type (GGUF tokenizer.ggml.token_type) -> llama_token_attr, llama-vocab.cpp:2496-2506.
const TYPE_TO_ATTR = [
  TokenAttr.UNDEFINED, // 0 UNDEFINED
  TokenAttr.NORMAL, // 1 NORMAL
  TokenAttr.UNKNOWN, // 2 UNKNOWN
  TokenAttr.CONTROL, // 3 CONTROL
  TokenAttr.USER_DEFINED, // 4 USER_DEFINED
  TokenAttr.UNUSED, // 5 UNUSED
  TokenAttr.BYTE, // 6 BYTE
];

/** Vocabulary kinds (`llama_vocab_type`), named after `type_name()`. */
export type VocabKind = "SPM" | "BPE" | "WPM" | "UGM" | "RWKV" | "PLaMo2" | "no vocab" | "TEST";

/** Special token ids; `-1` (TOKEN_NULL) when absent. */
export interface SpecialIds {
  /** Beginning of sequence. */
  bos: number;
  /** End of sequence. */
  eos: number;
  /** End of turn (detected by text when not in metadata). */
  eot: number;
  /** End of message. */
  eom: number;
  /** Unknown token. */
  unk: number;
  /** Separator. */
  sep: number;
  /** Padding. */
  pad: number;
  /** Mask. */
  mask: number;
  /** Fill-in-the-middle prefix. */
  fimPre: number;
  /** Fill-in-the-middle suffix. */
  fimSuf: number;
  /** Fill-in-the-middle middle. */
  fimMid: number;
  /** Fill-in-the-middle padding. */
  fimPad: number;
  /** Fill-in-the-middle repository name. */
  fimRep: number;
  /** Fill-in-the-middle file separator. */
  fimSep: number;
}

/** Everything the tokenizer needs, as llama.cpp holds it after loading. */
export interface Vocab {
  /** `tokenizer.ggml.model` as written (`gpt2`, `llama`, `bert`, `t5`, `gemma4`, ...). */
  readonly model: string;
  /** `tokenizer.ggml.pre` as llama.cpp resolved it (`default` when absent; `gemma4` for model `gemma4`). */
  readonly pre: string;
  /** The vocabulary kind. */
  readonly kind: VocabKind;
  /** Pre-tokenizer type and flags (BPE only; `default` otherwise). */
  readonly preType: PreTypeInfo;
  /** Token texts by id (an empty text is replaced by `[EMPTY_<id>]` as llama.cpp does). */
  readonly tokens: readonly string[];
  /** `tokenizer.ggml.tokens` exactly as stored (for hashing). */
  readonly storedTokens: readonly string[];
  /** Scores by id (0 when absent). */
  readonly scores: Float32Array;
  /** `llama_token_attr` bits by id, after llama.cpp's load-time adjustments. */
  readonly attrs: Uint32Array;
  /** GGUF `tokenizer.ggml.token_type` as stored (for hashing), or undefined. */
  readonly tokenTypes: Int32Array | undefined;
  /** Merges as stored (for hashing). */
  readonly merges: readonly string[];
  /** Token text -> id. */
  readonly tokenToId: ReadonlyMap<string, number>;
  /** `mergeKey(left, right)` -> rank (first occurrence wins, like `bpe_ranks.emplace`). */
  readonly bpeRanks: ReadonlyMap<string, number>;
  /** Special ids. */
  readonly special: Readonly<SpecialIds>;
  /** End-of-generation ids (`special_eog_ids`). */
  readonly eog: ReadonlySet<number>;
  /** Control, user-defined and unknown tokens, longest text first (`cache_special_tokens`). */
  readonly specialTokens: readonly number[];
  /** `encode` with addSpecial prepends BOS (`add_bos`). */
  readonly addBos: boolean;
  /** `encode` with addSpecial appends EOS (`add_eos`). */
  readonly addEos: boolean;
  /** `add_sep` (WPM/UGM style separators; unused by BPE/SPM). */
  readonly addSep: boolean;
  /** SPM prefixes a space to text (`add_space_prefix`). */
  readonly addSpacePrefix: boolean;
  /** `remove_extra_whitespaces` (UGM only). */
  readonly removeExtraWhitespaces: boolean;
  /** Spaces become U+2581 before BPE (`escape_whitespaces`). */
  readonly escapeWhitespaces: boolean;
  /** Detokenize removes spaces before punctuation (`clean_spaces`). */
  readonly cleanSpaces: boolean;
  /** A pre-tokenized word that is a token is emitted whole (`ignore_merges`). */
  readonly ignoreMerges: boolean;
  /** Longest token text in UTF-8 bytes (`max_token_len`). */
  readonly maxTokenLen: number;
}

/**
 * The key of a merge pair in {@link Vocab.bpeRanks}. Length-prefixed so that no two pairs share a key even when
 * token texts contain spaces.
 *
 * @param left Left symbol text.
 * @param right Right symbol text.
 * @returns A unique string for the pair.
 */
export function mergeKey(left: string, right: string): string {
  return left.length + "\u0001" + left + right;
}

function strings(f: GgufFile, key: string): string[] | undefined {
  const a = f.getArray(key);
  if (!a) return undefined;
  if (!Array.isArray(a.items) || (a.items.length > 0 && typeof a.items[0] !== "string")) {
    throw new TypeError(`Cannot load the vocabulary: GGUF key "${key}" is not an array of strings (invalid gguf type)`);
  }
  return a.items as string[];
}

const utf8Len = (s: string): number => new TextEncoder().encode(s).length;

/**
 * Read a vocabulary from GGUF metadata the way llama.cpp's vocab-only load does.
 *
 * @param file An open GGUF file (only its metadata is read).
 * @returns The vocabulary.
 * @throws {RangeError} For a `tokenizer.ggml.model` or `tokenizer.ggml.pre` llama.cpp rejects, or missing
 *   tokens/merges, with the message llama.cpp would give.
 * @throws {TypeError} When a key has the wrong GGUF type.
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/mod.ts";
 * import { writeSyntheticModel } from "../synth/write.ts";
 * import { loadVocab } from "./vocab.ts";
 * // A generated model carries a Llama 3 style BPE vocabulary (llama.cpp's ggml-vocab-llama-bpe.gguf works too).
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using f = GgufFile.open(path);
 * const v = loadVocab(f);
 * console.log(v.tokens[v.special.bos]); // <|begin_of_text|>
 * ```
 */
export function loadVocab(file: GgufFile): Vocab {
  const model = file.getString("tokenizer.ggml.model");
  if (model === undefined) {
    throw new RangeError(`Cannot load the vocabulary of "${file.path}": key tokenizer.ggml.model is missing`);
  }
  let pre = file.getString("tokenizer.ggml.pre") ?? "";
  const sp: SpecialIds = {
    bos: 1,
    eos: 2,
    eot: TOKEN_NULL,
    eom: TOKEN_NULL,
    unk: 0,
    sep: TOKEN_NULL,
    pad: TOKEN_NULL,
    mask: TOKEN_NULL,
    fimPre: TOKEN_NULL,
    fimSuf: TOKEN_NULL,
    fimMid: TOKEN_NULL,
    fimPad: TOKEN_NULL,
    fimRep: TOKEN_NULL,
    fimSep: TOKEN_NULL,
  };
  const setDefaults = (bos: number, eos: number, unk: number, sep: number, pad: number, mask: number) =>
    Object.assign(sp, { bos, eos, unk, sep, pad, mask });
  const N = TOKEN_NULL;
  let kind: VocabKind;
  let addSpacePrefix = false;
  let addBos = false;
  let addEos = false;
  let addSep = false;
  let cleanSpaces = false;
  let escapeWhitespaces = true;
  let ignoreMerges = false;
  let merges: string[] = [];

  // determine vocab type (llama-vocab.cpp:1950)
  if (model === "no_vocab" || model === "none") {
    throw new RangeError(`Cannot tokenize with "${file.path}": tokenizer.ggml.model is "${model}" (no vocabulary)`);
  } else if (model === "llama") {
    kind = "SPM";
    setDefaults(1, 2, 0, N, N, N);
  } else if (model === "bert") {
    kind = "WPM";
    setDefaults(101, N, 100, 102, 0, 103);
    addSep = true;
  } else if (model === "gpt2" || model === "hybriddna" || model === "whitespace" || model === "gemma4") {
    kind = "BPE";
    const m = strings(file, "tokenizer.ggml.merges");
    if (m === undefined && pre !== "kimi-k2") {
      throw new RangeError(`Cannot load the vocabulary of "${file.path}": cannot find tokenizer merges in model file`);
    }
    merges = m ?? [];
    if (model === "gemma4") {
      setDefaults(N, N, N, N, N, N);
      pre = "gemma4";
    } else {
      setDefaults(11, 11, N, N, N, N);
    }
  } else if (model === "t5") {
    kind = "UGM";
    setDefaults(N, 1, 2, N, 0, N);
  } else if (model === "rwkv") {
    kind = "RWKV";
    setDefaults(N, N, N, N, N, sp.mask);
  } else if (model === "test") {
    kind = "TEST";
    setDefaults(N, N, N, N, N, N);
  } else if (model === "plamo2") {
    kind = "PLaMo2";
    setDefaults(1, 2, 0, N, 3, N);
  } else {
    throw new RangeError(`Cannot load the vocabulary of "${file.path}": unknown tokenizer: '${model}'`);
  }

  let preType: PreTypeInfo = resolvePreType("default");
  if (kind === "BPE") {
    // for now, only BPE models have pre-tokenizers
    addSpacePrefix = false;
    escapeWhitespaces = false;
    cleanSpaces = true;
    preType = resolvePreType(pre);
    if (pre === "") pre = "default";
    ignoreMerges = preType.ignoreMerges ?? false;
    addBos = preType.addBos ?? false;
    cleanSpaces = preType.cleanSpaces ?? true;
    escapeWhitespaces = preType.escapeWhitespaces ?? false;
    addSep = preType.addSep ?? false;
    if (preType.noDefaultBos) sp.bos = N;
  } else if (kind === "SPM") {
    addSpacePrefix = true;
    cleanSpaces = false;
    addBos = true;
    addEos = false;
  } else if (kind === "WPM") {
    addSpacePrefix = false;
    cleanSpaces = true;
    addBos = true;
    addEos = false;
    addSep = true;
  } else if (kind === "UGM") {
    addBos = false;
    addEos = true;
  } else if (kind === "RWKV") {
    addSpacePrefix = false;
    cleanSpaces = false;
    addBos = false;
    addEos = false;
  }
  if (kind !== "BPE") pre = file.getString("tokenizer.ggml.pre") || "default";
  addSpacePrefix = file.getBool("tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;
  const removeExtraWhitespaces = file.getBool("tokenizer.ggml.remove_extra_whitespaces") ?? false;

  // tokens, scores, types (llama-vocab.cpp:2444)
  const rawTokens = strings(file, "tokenizer.ggml.tokens");
  if (rawTokens === undefined) {
    throw new RangeError(`Cannot load the vocabulary of "${file.path}": cannot find tokenizer vocab in model file`);
  }
  const n = rawTokens.length;
  const scores = new Float32Array(n);
  const scoreArr = file.getArray("tokenizer.ggml.scores");
  if (scoreArr) {
    if (!(scoreArr.items instanceof Float32Array) && !(scoreArr.items instanceof Int32Array)) {
      throw new TypeError(`Cannot load the vocabulary: invalid gguf type for tokenizer.ggml.scores`);
    }
    if (scoreArr.items.length < n) {
      throw new RangeError(`Index out of array bounds for scores (${scoreArr.items.length} < ${n})`);
    }
    for (let i = 0; i < n; i++) scores[i] = scoreArr.items[i];
  }
  let tokenTypes: Int32Array | undefined;
  const typeArr = file.getArray("tokenizer.ggml.token_type");
  if (typeArr) {
    if (!(typeArr.items instanceof Int32Array)) {
      throw new TypeError(`Cannot load the vocabulary: invalid gguf type for tokenizer.ggml.token_type`);
    }
    if (typeArr.items.length < n) {
      throw new RangeError(`Index out of array bounds for toktypes (${typeArr.items.length} < ${n})`);
    }
    tokenTypes = typeArr.items;
  }
  const tokens: string[] = new Array(n);
  const attrs = new Uint32Array(n);
  const tokenToId = new Map<string, number>();
  let maxTokenLen = 0;
  for (let i = 0; i < n; i++) {
    const word = rawTokens[i] === "" ? `[EMPTY_${i}]` : rawTokens[i];
    tokenToId.set(word, i);
    tokens[i] = word;
    maxTokenLen = Math.max(maxTokenLen, utf8Len(word));
    attrs[i] = tokenTypes ? (TYPE_TO_ATTR[tokenTypes[i]] ?? TokenAttr.UNDEFINED) : TokenAttr.NORMAL;
  }
  if (tokenToId.size !== n) {
    const dup = tokens.findIndex((w, i) => tokenToId.get(w) !== i);
    throw new RangeError(
      `Cannot load the vocabulary of "${file.path}": ${n - tokenToId.size} duplicate token texts, first ` +
        `${JSON.stringify(tokens[dup])} at ids ${dup} and ${tokenToId.get(tokens[dup])} (llama.cpp aborts: ` +
        `GGML_ASSERT(id_to_token.size() == token_to_id.size())). If the file has distinct bytes there, the GGUF ` +
        `string decoder lost some (e.g. a leading U+FEFF stripped as a byte-order mark)`,
    );
  }

  const bpeRanks = new Map<string, number>();
  for (let i = 0; i < merges.length; i++) {
    const word = merges[i];
    const pos = word.indexOf(" ", 1);
    const key = pos === -1 ? mergeKey("", "") : mergeKey(word.slice(0, pos), word.slice(pos + 1));
    if (!bpeRanks.has(key)) bpeRanks.set(key, i);
  }

  // special tokens (llama-vocab.cpp:2586)
  const specialKeys: [keyof SpecialIds, string][] = [
    ["bos", "bos_token_id"],
    ["eos", "eos_token_id"],
    ["eot", "eot_token_id"],
    ["eom", "eom_token_id"],
    ["unk", "unknown_token_id"],
    ["sep", "seperator_token_id"],
    ["pad", "padding_token_id"],
    ["mask", "mask_token_id"],
    ["fimPre", "fim_pre_token_id"],
    ["fimSuf", "fim_suf_token_id"],
    ["fimMid", "fim_mid_token_id"],
    ["fimPad", "fim_pad_token_id"],
    ["fimRep", "fim_rep_token_id"],
    ["fimSep", "fim_sep_token_id"],
    // deprecated
    ["fimPre", "prefix_token_id"],
    ["fimSuf", "suffix_token_id"],
    ["fimMid", "middle_token_id"],
  ];
  for (const [field, key] of specialKeys) {
    if (sp[field] >= 0 && sp[field] >= n) sp[field] = N; // default out of vocab range, disabling
    const v = file.getNumber(`tokenizer.ggml.${key}`);
    if (v === undefined) continue;
    const id = v >>> 0; // read as uint32_t
    if (id < n) sp[field] = id; // else: "bad special token", keep the default
  }
  addBos = file.getBool("tokenizer.ggml.add_bos_token") ?? addBos;
  addEos = file.getBool("tokenizer.ggml.add_eos_token") ?? addEos;
  addSep = file.getBool("tokenizer.ggml.add_sep_token") ?? addSep;
  // workaround for Gemma 4, ref: https://github.com/ggml-org/llama.cpp/pull/21500
  if (preType.type === "gemma4" && !addBos) addBos = true;

  const eog = autoDetectSpecials(tokens, tokenToId, attrs, sp);

  // build special tokens cache (llama-vocab.cpp:3030). llama.cpp uses std::sort (not stable) by length;
  // we break ties by id, which only matters for equal-length special tokens that overlap in text.
  const specialTokens: number[] = [];
  for (let id = 0; id < n; id++) {
    if (attrs[id] & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) specialTokens.push(id);
  }
  const blen = specialTokens.map((id) => utf8Len(tokens[id]));
  const order = specialTokens.map((_, i) => i).sort((a, b) => blen[b] - blen[a] || specialTokens[a] - specialTokens[b]);
  const sortedSpecial = order.map((i) => specialTokens[i]);

  perModelAttrs(file, tokenToId, attrs, sortedSpecial);

  return {
    model,
    pre,
    kind,
    preType,
    tokens,
    storedTokens: rawTokens,
    scores,
    attrs,
    tokenTypes,
    merges,
    tokenToId,
    bpeRanks,
    special: sp,
    eog,
    specialTokens: sortedSpecial,
    addBos,
    addEos,
    addSep,
    addSpacePrefix,
    removeExtraWhitespaces,
    escapeWhitespaces,
    cleanSpaces,
    ignoreMerges,
    maxTokenLen,
  };
}
