/**
 * {@link Tokenizer}: llama.cpp's tokenizer rebuilt from GGUF metadata alone, for byte-level BPE (`gpt2`,
 * `gemma4`) and SentencePiece-style (`llama`) vocabularies. The pipeline is a chain of pure steps, each in its
 * own file: special-token split (special_split.ts) -> pre-tokenize (pre_tokenize.ts) -> merge (bpe.ts / spm.ts)
 * -> post-process (BOS/EOS, here). `llama_vocab::impl::tokenize` (src/llama-vocab.cpp:3413) is the reference.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { GgufFile } from "../gguf/mod.ts";
import { regexSplit } from "./_regex_split.ts";
import { bpeMerge } from "./bpe.ts";
import { buildPiece, detokenize, type DetokenizeOptions } from "./detokenize.ts";
import { preTokenizerForType, wordsFromOffsets } from "./pre_tokenize.ts";
import { type Fragment, partitionSpecial, type SpecialToken } from "./special_split.ts";
import { spmTokenize, type SpmVocab } from "./spm.ts";
import { codepointsFromUtf8, utf8Encode } from "./utf8.ts";
import { TOKEN_NULL, TokenAttr } from "./token_attr.ts";
import { loadVocab, type Vocab, type VocabKind } from "./vocab.ts";

/** Options of {@link Tokenizer.encode}, named after llama.cpp's `llama_tokenize` flags. */
export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary asks (`add_special`). Default true. */
  readonly addSpecial?: boolean;
  /** Recognise control-token texts such as `<|eot_id|>` in the input (`parse_special`). Default false. */
  readonly parseSpecial?: boolean;
}

/** Options of {@link Tokenizer.tokenToPiece}. */
export interface PieceOptions {
  /** Render control/unknown tokens as their text (llama.cpp's `special`). Default false, as in the ffi bridge. */
  readonly special?: boolean;
}

/** What a receipt records about the tokenizer. */
export interface TokenizerIdentity {
  /** `tokenizer.ggml.model`. */
  readonly model: string;
  /** `tokenizer.ggml.pre` as resolved (`default` when absent). */
  readonly pre: string;
  /** Number of tokens. */
  readonly vocabSize: number;
  /**
   * SHA-256 (hex) of the vocabulary content as stored in the GGUF: for each of "tokens", "merges" (UTF-8
   * strings) and "types" (int32): the ASCII tag, a u32 LE count, then every item (strings as u32 LE byte length
   * + bytes, types as i32 LE). Independent of GGUF layout and of other metadata.
   */
  readonly sha256: string;
  /** BOS is added by `encode` with `addSpecial`. */
  readonly addBos: boolean;
  /** EOS is added by `encode` with `addSpecial`. */
  readonly addEos: boolean;
}

/** Vocabulary kinds {@link Tokenizer} can run; others (WPM, UGM, RWKV, ...) are refused at construction. */
export const SUPPORTED_VOCAB_KINDS: readonly VocabKind[] = ["BPE", "SPM"];

/** Models that are BPE in llama.cpp but use a session we have not ported. */
const UNSUPPORTED_BPE_MODELS = new Set(["hybriddna", "whitespace"]);

const WORD_CACHE_LIMIT = 1 << 17;
// ignoreBOM: a leading U+FEFF is text here (Gemma has BOM tokens), not a byte-order mark to drop.
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

function toBinary(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** A tokenizer over one vocabulary. Calls are independent; the word cache is only a speed-up. */
export class Tokenizer {
  /** The vocabulary as llama.cpp interprets it. */
  readonly vocab: Vocab;
  #regexes: readonly string[];
  #byteEncode: boolean;
  #specials: SpecialToken[];
  #userDefinedOnly: SpecialToken[];
  #wordCache = new Map<string, number[]>();
  #pieces: (Uint8Array | undefined)[];
  #binToId: Map<string, number> | undefined;
  #identity: TokenizerIdentity | undefined;

  private constructor(vocab: Vocab) {
    if (!SUPPORTED_VOCAB_KINDS.includes(vocab.kind) || UNSUPPORTED_BPE_MODELS.has(vocab.model)) {
      throw new RangeError(
        `Cannot build a tokenizer for model "${vocab.model}" (${vocab.kind}): only BPE ("gpt2", "gemma4") and ` +
          `SPM ("llama") vocabularies are supported. Use llama.cpp for this vocabulary`,
      );
    }
    this.vocab = vocab;
    const spec = preTokenizerForType(vocab.preType.type);
    this.#regexes = spec.regexes;
    this.#byteEncode = spec.byteEncode ?? true;
    this.#specials = vocab.specialTokens.map((id) => ({
      id,
      bin: toBinary(utf8Encode(vocab.tokens[id])),
      attr: vocab.attrs[id],
    }));
    this.#userDefinedOnly = this.#specials.filter((s) => !(s.attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)));
    this.#pieces = new Array(vocab.tokens.length);
    if (vocab.kind === "BPE") {
      // Fail now, not on first use, for pre-tokenizers whose llama.cpp splitter is not ported.
      regexSplit(new Uint32Array(0), this.#regexes);
    }
  }

  /**
   * Build a tokenizer from a GGUF file's metadata (no tensor data is read).
   *
   * @param file An open GGUF file, e.g. a `ggml-vocab-*.gguf` or a model.
   * @returns The tokenizer.
   * @throws {RangeError} For a vocabulary kind or pre-tokenizer that is not supported, or metadata llama.cpp
   *   would reject.
   * @example
   * ```ts
   * import { GgufFile } from "../gguf/mod.ts";
   * import { Tokenizer } from "./tokenizer.ts";
   * // using f = GgufFile.open("ggml-vocab-llama-bpe.gguf");
   * // const tok = Tokenizer.fromGguf(f);
   * // tok.encode("Hello world", { addSpecial: true }); // Int32Array [128000, 9906, 1917]
   * ```
   */
  static fromGguf(file: GgufFile): Tokenizer {
    return new Tokenizer(loadVocab(file));
  }

  /**
   * Build a tokenizer from an already loaded vocabulary.
   *
   * @param vocab From {@link loadVocab}.
   * @returns The tokenizer.
   * @throws {RangeError} As {@link Tokenizer.fromGguf}.
   */
  static fromVocab(vocab: Vocab): Tokenizer {
    return new Tokenizer(vocab);
  }

  /** Number of tokens. */
  get vocabSize(): number {
    return this.vocab.tokens.length;
  }
  /** BOS id, or -1. */
  get bos(): number {
    return this.vocab.special.bos;
  }
  /** EOS id, or -1. */
  get eos(): number {
    return this.vocab.special.eos;
  }
  /** End-of-turn id (`llama_vocab_eot`), or -1. */
  get eot(): number {
    return this.vocab.special.eot;
  }
  /** Whether `encode(..., {addSpecial: true})` prepends BOS. */
  get addBos(): boolean {
    return this.vocab.addBos;
  }
  /** Whether `encode(..., {addSpecial: true})` appends EOS. */
  get addEos(): boolean {
    return this.vocab.addEos;
  }

  /**
   * Whether a token ends generation (`llama_vocab_is_eog`).
   *
   * @param id Token id.
   * @returns True for EOS, EOT and the other end-of-generation tokens llama.cpp detects.
   */
  isEog(id: number): boolean {
    return id !== TOKEN_NULL && this.vocab.eog.has(id);
  }

  /** The record receipts carry to identify this tokenizer. */
  get identity(): TokenizerIdentity {
    if (this.#identity) return this.#identity;
    const v = this.vocab;
    const h = createHash("sha256");
    const u32 = (n: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, n, true);
      h.update(b);
    };
    const strs = (tag: string, items: readonly string[]) => {
      h.update(tag);
      u32(items.length);
      for (const s of items) {
        const b = utf8Encode(s);
        u32(b.length);
        h.update(b);
      }
    };
    strs("tokens", v.storedTokens);
    strs("merges", v.merges);
    h.update("types");
    const types = v.tokenTypes ?? new Int32Array(0);
    u32(types.length);
    h.update(new Uint8Array(types.buffer, types.byteOffset, types.byteLength));
    this.#identity = {
      model: v.model,
      pre: v.pre,
      vocabSize: v.tokens.length,
      sha256: h.digest("hex"),
      addBos: v.addBos,
      addEos: v.addEos,
    };
    return this.#identity;
  }

  /**
   * Tokenize text exactly like `llama_tokenize(vocab, text, ..., add_special, parse_special)`.
   *
   * A string is sent through `TextEncoder` first, so lone surrogates become U+FFFD; pass bytes to tokenize
   * arbitrary (even invalid) UTF-8 the way llama.cpp would.
   *
   * @param text Text, or its UTF-8 bytes.
   * @param opts `addSpecial` (default true), `parseSpecial` (default false).
   * @returns Token ids.
   * @throws {RangeError} When the input holds a 4-byte sequence beyond U+10FFFF on the BPE path (llama.cpp throws
   *   "invalid codepoint" there too), or an SPM byte has no byte token.
   * @example
   * ```ts
   * import { GgufFile } from "../gguf/mod.ts";
   * import { Tokenizer } from "./tokenizer.ts";
   * // const tok = Tokenizer.fromGguf(GgufFile.open("ggml-vocab-llama-bpe.gguf"));
   * // tok.encode("Hello world", { addSpecial: false }); // Int32Array [9906, 1917]
   * ```
   */
  encode(text: string | Uint8Array, opts: EncodeOptions = {}): Int32Array {
    const addSpecial = opts.addSpecial ?? true;
    const parseSpecial = opts.parseSpecial ?? false;
    const bytes = typeof text === "string" ? utf8Encode(text) : text;
    const specials = parseSpecial ? this.#specials : this.#userDefinedOnly;
    let bin: string | undefined;
    let fragments: Fragment[];
    if (bytes.length === 0) fragments = [];
    else if (specials.length === 0) fragments = [{ start: 0, end: bytes.length }];
    else fragments = partitionSpecial(bin = toBinary(bytes), specials, parseSpecial);

    const v = this.vocab;
    const out: number[] = [];
    if (v.kind === "SPM") {
      bin ??= toBinary(bytes);
      let isPrevSpecial = true; // prefix with space if first token
      if (addSpecial && v.addBos) out.push(this.#require(v.special.bos, "BOS"));
      const sv = this.#spmVocab();
      for (const f of fragments) {
        if ("token" in f) {
          out.push(f.token);
          isPrevSpecial = true;
          continue;
        }
        let t = bin.slice(f.start, f.end);
        if (v.addSpacePrefix && isPrevSpecial) t = " " + t;
        spmTokenize(t.replaceAll(" ", "\xe2\x96\x81"), sv, out);
        isPrevSpecial = false;
      }
      if (addSpecial && v.addEos) out.push(this.#require(v.special.eos, "EOS"));
    } else {
      if (addSpecial && v.addBos) out.push(this.#require(v.special.bos, "BOS"));
      for (const f of fragments) {
        if ("token" in f) out.push(f.token);
        else this.#bpeFragment(bytes.subarray(f.start, f.end), out);
      }
      if (addSpecial && v.addEos) out.push(this.#require(v.special.eos, "EOS"));
    }
    return Int32Array.from(out);
  }

  #require(id: number, what: string): number {
    if (id === TOKEN_NULL) {
      throw new RangeError(
        `Cannot add ${what}: the vocabulary asks for it but has no ${what} token (llama.cpp asserts here). ` +
          `Encode with addSpecial: false`,
      );
    }
    return id;
  }

  /** `llm_tokenizer_bpe_session::tokenize` for one raw fragment. */
  #bpeFragment(frag: Uint8Array, out: number[]): void {
    const v = this.vocab;
    let bytes = frag;
    if (v.escapeWhitespaces) {
      // llama_escape_whitespace: " " -> U+2581 (E2 96 81)
      const esc: number[] = [];
      for (const b of frag) b === 0x20 ? esc.push(0xe2, 0x96, 0x81) : esc.push(b);
      bytes = Uint8Array.from(esc);
    }
    const cpts = codepointsFromUtf8(bytes);
    const words = wordsFromOffsets(cpts, regexSplit(cpts, this.#regexes), this.#byteEncode);
    const cache = this.#wordCache;
    for (const word of words) {
      let ids = cache.get(word);
      if (ids === undefined) {
        ids = this.#bpeWord(word);
        if (cache.size >= WORD_CACHE_LIMIT) cache.clear();
        cache.set(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  /** Merge one word and map its symbols to ids (llama-vocab.cpp:626-734). */
  #bpeWord(word: string): number[] {
    const v = this.vocab;
    const whole = v.tokenToId.get(word);
    let symbols: string[];
    if (v.ignoreMerges && whole !== undefined) {
      symbols = [word];
    } else if (v.preType.type === "gemma4" && /^\n+$/.test(word) && whole !== undefined) {
      // fix for gemma 4, ref: https://github.com/ggml-org/llama.cpp/pull/21343
      symbols = [word];
    } else {
      symbols = bpeMerge(word, v.bpeRanks);
    }
    const ids: number[] = [];
    for (const sym of symbols) {
      const id = v.tokenToId.get(sym);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // Not a token: look up each UTF-8 byte of the symbol on its own.
      for (const b of utf8Encode(sym)) {
        let t: number | undefined;
        if (this.#byteEncode) {
          // A one-byte string: only ASCII bytes can be (valid UTF-8) tokens.
          t = b < 0x80 ? v.tokenToId.get(String.fromCharCode(b)) : undefined;
        } else {
          // For non-byte-encoded BPE (e.g. gemma-4), byte tokens use <0xXX> format
          t = v.tokenToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
        }
        if (t !== undefined) ids.push(t);
      }
    }
    return ids;
  }

  #spmVocab(): SpmVocab {
    const v = this.vocab;
    if (!this.#binToId) {
      this.#binToId = new Map();
      for (let i = 0; i < v.tokens.length; i++) this.#binToId.set(toBinary(utf8Encode(v.tokens[i])), i);
    }
    const binToId = this.#binToId;
    return {
      size: v.tokens.length,
      textToToken: (bin) => binToId.get(bin),
      score: (id) => v.scores[id],
      byteToToken: (byte) => {
        const hex = `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
        const id = v.tokenToId.get(hex) ?? binToId.get(String.fromCharCode(byte));
        if (id === undefined) {
          throw new RangeError(
            `Cannot tokenize byte 0x${byte.toString(16)}: the SPM vocabulary has neither ${hex} nor a one-byte ` +
              `token for it (llama.cpp throws std::out_of_range here)`,
          );
        }
        return id;
      },
    };
  }

  /**
   * The bytes of one token (`llama_token_to_piece` with `lstrip = 0`).
   *
   * @param id Token id.
   * @param opts `special` (default false): render control/unknown tokens as text, else as nothing.
   * @returns The piece; may be part of a UTF-8 character.
   * @throws {RangeError} For an id outside the vocabulary.
   */
  tokenToPieceBytes(id: number, opts: PieceOptions = {}): Uint8Array {
    if (!(id >= 0 && id < this.vocabSize)) {
      throw new RangeError(`Cannot render token ${id}: the vocabulary has ${this.vocabSize} tokens`);
    }
    if (!(opts.special ?? false) && this.vocab.attrs[id] & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) {
      return new Uint8Array(0);
    }
    return this.#piece(id);
  }

  /**
   * The text of one token, for display (an incomplete UTF-8 piece shows as U+FFFD; use
   * {@link StreamDecoder} to render generated text).
   *
   * @param id Token id.
   * @param opts As {@link Tokenizer.tokenToPieceBytes}.
   * @returns The piece as text.
   * @throws {RangeError} For an id outside the vocabulary.
   */
  tokenToPiece(id: number, opts: PieceOptions = {}): string {
    return UTF8.decode(this.tokenToPieceBytes(id, opts));
  }

  #piece = (id: number): Uint8Array => (this.#pieces[id] ??= buildPiece(this.vocab, id));

  /**
   * Detokenize like `llama_detokenize` (including llama.cpp's space clean-up for vocabularies that enable it).
   *
   * @param ids Token ids.
   * @param opts `removeSpecial` (default false), `unparseSpecial` (default false), `cleanSpaces` (default: the
   *   vocabulary's).
   * @returns The UTF-8 bytes.
   * @throws {RangeError} For an id outside the vocabulary.
   */
  decodeBytes(ids: ArrayLike<number>, opts: DetokenizeOptions = {}): Uint8Array {
    return detokenize(this.vocab, ids, this.#piece, opts);
  }

  /**
   * Detokenize to a string. `decode(encode(s, {addSpecial: false}), {cleanSpaces: false})` gives back `s` for
   * well-formed text on BPE and SPM vocabularies (tested on the llama.cpp vectors).
   *
   * @param ids Token ids.
   * @param opts As {@link Tokenizer.decodeBytes}.
   * @returns The text (invalid UTF-8 shows as U+FFFD).
   * @throws {RangeError} For an id outside the vocabulary.
   */
  decode(ids: ArrayLike<number>, opts: DetokenizeOptions = {}): string {
    return UTF8.decode(this.decodeBytes(ids, opts));
  }
}
