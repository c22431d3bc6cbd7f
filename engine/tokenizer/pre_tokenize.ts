/**
 * Pre-tokenization: the first pure step of byte-level BPE. Text is cut into words by the regex list that
 * llama.cpp selects from `tokenizer.ggml.pre` (the `llm_tokenizer_bpe` constructor, src/llama-vocab.cpp:280-560
 * at the pinned commit; copied below with llama.cpp's own comments, so each original HF regex sits next to its
 * adaptation). Splitting follows `unicode_regex_split` exactly: custom splitters for the common patterns,
 * std::regex semantics on "collapsed" text for the rest, and llama.cpp's own Unicode tables (never V8's).
 *
 * @module
 */

import { regexSplit } from "./_regex_split.ts";
import { bytesToUnicode } from "./byte_encoding.ts";
import { resolvePreType } from "./pre_types.ts";
import { codepointsFromUtf8, utf8Encode, writeUtf8 } from "./utf8.ts";

/** The regexes of one group of pre-tokenizer types. */
export interface PreTokenizerSpec {
  /** `LLAMA_VOCAB_PRE_TYPE_*` names (lowercase, no prefix) sharing these regexes. */
  readonly types: readonly string[];
  /** Regexes applied in order, each splitting the previous one's words. */
  readonly regexes: readonly string[];
  /** GPT-2 byte encoding of words (`byte_encode`); false for SPM-style BPE on raw UTF-8. Default true. */
  readonly byteEncode?: boolean;
}

/** The regex table of the pinned llama.cpp, in its source order; `default` is the `default:` branch. */
export const PRE_TOKENIZER_REGEXES: readonly PreTokenizerSpec[] = [
  {
    types: ["llama3"],
    regexes: [
      // original regex from tokenizer.json
      //"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      // adapted: https://github.com/ggml-org/llama.cpp/pull/6920#issuecomment-2080233989
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["jais2"],
    regexes: [
      // original regex from tokenizer.json
      //"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
      // adapted: same as llama3 but with cascading whitespace pattern
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    ],
  },
  {
    types: ["dbrx", "smaug"],
    regexes: [
      // same as llama3
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["deepseek_llm"],
    regexes: [
      "[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
      "\\s+$",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}+",
    ],
  },
  {
    types: ["deepseek3_llm", "hunyuan_dense", "joyai_llm", "hy_v4"],
    regexes: [
      "\\p{N}{1,3}",
      "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["spark2_5"],
    regexes: [
      "\\p{N}{1,3}",
      "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
      "\\p{N}",
    ],
  },
  {
    types: ["youtu"],
    regexes: [
      "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["deepseek_coder"],
    regexes: [
      "[\r\n]",
      "\\s?\\p{L}+",
      "\\s?\\p{P}+",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}",
    ],
  },
  {
    types: ["falcon"],
    regexes: [
      "[\\p{P}\\$\\+<=>\\^~\\|`]+",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
      "[0-9][0-9][0-9]",
    ],
  },
  {
    types: ["starcoder", "refact", "command_r", "smollm", "codeshell", "exaone", "minerva", "mellum2"],
    regexes: [
      "\\p{N}",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
  },
  {
    types: ["gpt2", "mpt", "olmo", "jais", "trillion", "granite_docling"],
    regexes: [
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
  },
  {
    types: ["stablelm2", "qwen2", "hunyuan", "solar_open"],
    regexes: [
      // original regex from tokenizer.json
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["qwen35"],
    regexes: [
      // original regex from tokenizer.json
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["poro", "bloom", "gpt3_finnish"],
    regexes: [
      " ?[^(\\s|.,!?…。，、।۔،)]+",
    ],
  },
  {
    types: ["chatglm4"],
    regexes: [
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["viking"],
    regexes: [
      " ?[^(\\s|.,!?…。，、।۔،)]+",
      "\\p{N}",
    ],
  },
  {
    // original regex from tokenizer.json
    // "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    types: ["tekken"],
    regexes: [
      "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    // Note: in theory, the special token (sentinel and image token) regex_exprs below
    // are unnecessary, as they are split in `tokenizer_st_partition` anyway.
    // However, since the upstream pre-tokenizer uses them, they are also
    // included here (see https://huggingface.co/facebook/chameleon-7b).
    types: ["chameleon"],
    regexes: [
      "<sentinel:[0-9]+>", // Sentinel tokens
      "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", // Image tokens
      "([\\t\\n]|    |  )", // directly from tokenizer.json
      "\\p{N}", // Individual digits
      "[\\p{P}!-/:-@\\[-`{-~]", // Punctuation, Isolated
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    ],
  },
  {
    types: ["gpt4o", "minimax_m2"],
    regexes: [
      // original regex from tokenizer.json
      // "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    // Same lookaheads as GPT4O but with \p{M} added so combining marks
    // (diacritics) attach to their base letters. Avoids excessive
    // backtracking on scripts that use them heavily (Bengali, Hindi,
    // Telugu, Thai, ...). See PR #22716 for benchmarks.
    types: ["granite_emb_multi"],
    regexes: [
      "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["tiny_aya"],
    regexes: [
      // original regex from tokenizer.json: "\\d{1,3}(?=(?:\\d{3})*\\b)"
      "\\d{1,3}(?=(?:\\d{3})*\\b)",
      // original regex from tokenizer.json: "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["kimi_k2"],
    regexes: [
      // K2 trigger pattern - this will activate the custom K2 handler in unicode.cpp
      // The custom handler implements all K2 patterns with proper Han character exclusion
      "\\p{Han}+",
    ],
  },
  {
    types: ["superbpe"],
    regexes: [
      "\\p{N}+",
      "(?=(\\d{3})+(?!\\d))",
    ],
  },
  {
    types: ["bailingmoe"],
    regexes: [
      // original regex from tokenizer.json
      // "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"
      // FIXME? Changed possessive quantifiers (?+ and ++) to greedy to avoid errors and imatrix hanging (tried atomic grouping but it's not supported?)
      "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["seed_coder"],
    regexes: [
      // original regex from tokenizer.json
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\r\n]+|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["ufakzeka"],
    regexes: [
      // Qwen2 pattern without the English contraction group, so Turkish apostrophe suffixes stay attached
      "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["grok_2"],
    regexes: [
      // original regex from tokenizer.json
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["afmoe"],
    regexes: [
      // Digit handling - uses custom implementation in unicode.cpp
      // Groups digits with leading 1-2 based on total length modulo 3
      "\\p{AFMoE_digits}",
      // CJK and Asian scripts (using direct Unicode literals)
      "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
      // Main BPE pattern
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["laguna"],
    regexes: [
      "[^\\n]+|[\\n]+",
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    types: ["exaone_moe"],
    regexes: [
      // original regex from tokenizer.json
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    // Gemma4 uses SPM-style BPE: spaces are replaced with ▁ by the
    // normalizer, then BPE merges run on the whole text without
    // word-level pre-splitting. We only need to split on newlines
    // since BPE merge lookup asserts no newlines in tokens.
    types: ["gemma4"],
    byteEncode: false,
    regexes: [
      "[^\\n]+|[\\n]+",
    ],
  },
  {
    // Sarvam uses SPM-style BPE (same shape as Gemma4): spaces replaced with U+2581
    // by the normalizer, BPE merges over the whole text on raw UTF-8.
    types: ["sarvam_moe"],
    byteEncode: false,
    regexes: [
      "[^\\n]+|[\\n]+",
    ],
  },
  {
    types: ["minicpm5"],
    regexes: [
      // original regex from tokenizer.json (openbmb/MiniCPM5-1B)
      "\\p{N}{1,3}",
      // "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  {
    // whitespace pre-tokenizer (jinaai/jina-embeddings-v2-base-zh)
    types: ["whitespace"],
    byteEncode: false,
    regexes: [
      "\\S+",
    ],
  },
  {
    // default regex for BPE tokenization pre-processing
    types: ["default"],
    regexes: [
      "[\\p{P}\\$\\+<=>\\^~\\|]+",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
      "\\p{N}+",
      "[0-9][0-9][0-9]",
    ],
  },
];

const BY_TYPE: ReadonlyMap<string, PreTokenizerSpec> = new Map(
  PRE_TOKENIZER_REGEXES.flatMap((spec) => spec.types.map((t) => [t, spec] as const)),
);

/**
 * The regexes llama.cpp uses for a `tokenizer.ggml.pre` value.
 *
 * @param pre A `tokenizer.ggml.pre` value (`"llama-bpe"`, `"gpt-2"`, `"default"`, ...); `""` means `default`.
 * @returns The regex group.
 * @throws {RangeError} For a value llama.cpp rejects.
 * @example
 * ```ts
 * import { preTokenizerFor } from "./pre_tokenize.ts";
 * console.log(preTokenizerFor("llama-bpe").types); // ["llama3"]
 * ```
 */
export function preTokenizerFor(pre: string): PreTokenizerSpec {
  return preTokenizerForType(resolvePreType(pre).type);
}

/**
 * The regexes for a `LLAMA_VOCAB_PRE_TYPE_*` name (lowercase, no prefix); unknown types get `default`, as the
 * `default:` branch of llama.cpp's switch does.
 *
 * @param type A pre-tokenizer type such as `"llama3"`.
 * @returns The regex group.
 */
export function preTokenizerForType(type: string): PreTokenizerSpec {
  return BY_TYPE.get(type) ?? BY_TYPE.get("default")!;
}

/** Options of {@link preTokenize}. */
export interface PreTokenizeOptions {
  /**
   * Return words in the GPT-2 byte encoding (`"Ġworld"`), as the BPE merge step and byte-level vocabularies
   * see them. Default false: words are plain text (`" world"`).
   */
  readonly byteEncode?: boolean;
}

/**
 * Split text into pre-tokenized words exactly like llama.cpp for a given `tokenizer.ggml.pre`.
 * Text is encoded with `TextEncoder` first (lone surrogates become U+FFFD), as everywhere in this tokenizer.
 * Special tokens are not looked for here (that happens before, in the tokenizer), and SPM-style whitespace
 * escaping (`gemma4`) is not applied. Empty words, which only a regex matching the empty string can produce
 * and which yield no token in llama.cpp, are dropped.
 *
 * @param text Input text.
 * @param pre A `tokenizer.ggml.pre` value, e.g. `"llama-bpe"`.
 * @param opts Output encoding.
 * @returns The words in order; without `byteEncode` they concatenate back to the (well-formed) input.
 * @throws {RangeError} For an unknown `pre`, or a pre-tokenizer whose custom llama.cpp splitter is not ported.
 * @example
 * ```ts
 * import { preTokenize } from "./pre_tokenize.ts";
 * console.log(preTokenize("Hello world's 12345", "llama-bpe")); // ["Hello", " world", "'s", " ", "123", "45"]
 * ```
 */
export function preTokenize(text: string, pre: string, opts: PreTokenizeOptions = {}): string[] {
  const spec = preTokenizerFor(pre);
  const cpts = codepointsFromUtf8(utf8Encode(text));
  return wordsFromOffsets(cpts, regexSplit(cpts, spec.regexes), opts.byteEncode ?? false);
}

/**
 * Turn codepoint offsets back into word strings (`unicode_regex_split`'s final loop and
 * `unicode_byte_encoding_process`).
 *
 * @param cpts Codepoints of the text.
 * @param offsets Word lengths in codepoints.
 * @param byteEncoded GPT-2 byte encoding of each word's UTF-8.
 * @returns Non-empty words.
 */
export function wordsFromOffsets(cpts: Uint32Array, offsets: readonly number[], byteEncoded: boolean): string[] {
  const words: string[] = [];
  const bytes = new Uint8Array(4);
  let start = 0;
  for (const len of offsets) {
    if (len === 0) continue;
    const end = start + len;
    // String concatenation of one-char strings measured ~2x faster than String.fromCharCode(...codes) for
    // the short words of English text (tokenizer_bench.ts).
    let w = "";
    if (byteEncoded) {
      for (let i = start; i < end; i++) {
        const c = cpts[i];
        if (c < 0x80) {
          w += BYTE_CHARS[c];
          continue;
        }
        const k = writeUtf8(c, bytes, 0);
        for (let j = 0; j < k; j++) w += BYTE_CHARS[bytes[j]];
      }
    } else {
      for (let i = start; i < end; i++) {
        const c = cpts[i];
        if (c > 0x10ffff) writeUtf8(c, bytes, 0); // throws, as unicode_cpt_to_utf8 does
        w += String.fromCodePoint(c);
      }
    }
    words.push(w);
    start = end;
  }
  return words;
}

const BYTE_CHARS: readonly string[] = bytesToUnicode();
