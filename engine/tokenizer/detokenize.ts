/**
 * Token -> text, as llama.cpp does it: `token_to_piece` (src/llama-vocab.cpp:3655-3778) and `detokenize`
 * (3784-3895, including the `clean_spaces` passes) at the pinned commit. Everything is bytes: a piece may be
 * part of a UTF-8 character (byte tokens, byte-level BPE pieces).
 *
 * @module
 */

import { unicodeToBytes } from "./byte_encoding.ts";
import { codepointsFromUtf8, writeUtf8 } from "./utf8.ts";
import { TokenAttr } from "./token_attr.ts";
import type { Vocab } from "./vocab.ts";

const encoder = new TextEncoder();
const ESCAPED_SPACE = "\u2581";
const ATTR_SPECIAL = TokenAttr.UNKNOWN | TokenAttr.CONTROL;

/** `llama_decode_text`: undo the GPT-2 byte encoding; unmapped characters become `[UNK_BYTE_0x..<text>]`. */
function decodeByteLevel(text: string): Uint8Array {
  const map = unicodeToBytes();
  const out: number[] = [];
  const cpts = codepointsFromUtf8(encoder.encode(text));
  const tmp = new Uint8Array(4);
  for (const cpt of cpts) {
    const b = map.get(String.fromCodePoint(cpt));
    if (b !== undefined) {
      out.push(b);
      continue;
    }
    const n = writeUtf8(cpt, tmp, 0);
    let unk = "[UNK_BYTE_0x";
    for (let i = 0; i < n; i++) unk += tmp[i].toString(16).padStart(2, "0");
    out.push(...encoder.encode(unk), ...encoder.encode(text), 0x5d);
  }
  return new Uint8Array(out);
}

/** `token_to_byte`: the value of a `<0xNN>` byte token (strtol of text[3..5]). */
function tokenToByte(text: string): number {
  const v = parseInt(text.substr(3, 2), 16);
  return Number.isNaN(v) ? 0 : v & 0xff;
}

/**
 * The piece of a token with `special = true`, as llama.cpp caches it (`cache_token_to_piece`).
 *
 * @param vocab The vocabulary.
 * @param id A token id in range.
 * @returns The piece bytes (empty for token types llama.cpp does not render).
 */
export function buildPiece(vocab: Vocab, id: number): Uint8Array {
  const attr = vocab.attrs[id];
  const text = vocab.tokens[id];
  if (attr & (ATTR_SPECIAL | TokenAttr.USER_DEFINED)) return encoder.encode(text);
  if (attr & TokenAttr.NORMAL) {
    if (vocab.kind === "BPE" && !vocab.escapeWhitespaces) return decodeByteLevel(text);
    return encoder.encode(text.replaceAll(ESCAPED_SPACE, " "));
  }
  if (attr & TokenAttr.BYTE) return new Uint8Array([tokenToByte(text)]);
  return new Uint8Array(0);
}

/** Options of {@link detokenize}. */
export interface DetokenizeOptions {
  /** Drop a leading BOS / trailing EOS when the vocabulary adds them (`remove_special`). Default false. */
  readonly removeSpecial?: boolean;
  /** Render control and unknown tokens as their text (`unparse_special`). Default false, as in the ffi bridge. */
  readonly unparseSpecial?: boolean;
  /** Apply llama.cpp's `clean_spaces` passes. Default: the vocabulary's setting, as llama.cpp does. */
  readonly cleanSpaces?: boolean;
}

/**
 * `llama_detokenize`.
 *
 * @param vocab The vocabulary.
 * @param ids Token ids.
 * @param pieceOf The cached piece of a token (see {@link buildPiece}).
 * @param opts Options.
 * @returns The text bytes.
 * @throws {RangeError} For an id outside the vocabulary.
 */
export function detokenize(
  vocab: Vocab,
  ids: ArrayLike<number>,
  pieceOf: (id: number) => Uint8Array,
  opts: DetokenizeOptions = {},
): Uint8Array {
  const removeSpecial = opts.removeSpecial ?? false;
  const unparseSpecial = opts.unparseSpecial ?? false;
  let first = 0;
  let count = ids.length;
  // remove the leading space
  let removeSpace = vocab.addSpacePrefix;
  if (removeSpecial && vocab.addBos && count > 0 && ids[0] === vocab.special.bos) {
    removeSpace = false;
    first++;
    count--;
  }
  if (removeSpecial && vocab.addEos && count > 0 && ids[first + count - 1] === vocab.special.eos) count--;

  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = first; i < first + count; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < vocab.tokens.length)) {
      throw new RangeError(`Cannot detokenize token ${id}: the vocabulary has ${vocab.tokens.length} tokens`);
    }
    let piece = !unparseSpecial && vocab.attrs[id] & ATTR_SPECIAL ? new Uint8Array(0) : pieceOf(id);
    if (removeSpace && piece.length > 0 && piece[0] === 0x20) piece = piece.subarray(1);
    removeSpace = false;
    parts.push(piece);
    total += piece.length;
  }
  const text = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    text.set(p, at);
    at += p.length;
  }
  if (!(opts.cleanSpaces ?? vocab.cleanSpaces)) return text;
  return text.subarray(0, cleanSpaces(text, total));
}

const SP = 0x20;
const APOS = 0x27;

/** The three in-place `clean_spaces` passes of llama_vocab::impl::detokenize, ported literally. */
function cleanSpaces(text: Uint8Array, total: number): number {
  // first pass: characters ?!.,
  const total1 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total1; ++i) {
    const x = text[i];
    if (text[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--; // " ?", " !", " .", " ,"
    text[total++] = x;
  }
  // second pass: strip single apostrophe between spaces
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; ++i) {
    const x = text[i];
    if (x === APOS && i + 1 < total2 && text[i - 1] === SP && text[i + 1] === SP) { // " ' "
      total--; // remove prev space
      text[++i] = 0; // remove next space
    }
    text[total++] = x;
  }
  // third pass: apostrophe contractions
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; ++i) {
    const x = text[i];
    if (text[i - 1] === SP && x === APOS && i + 1 < total3) {
      const x1 = text[i + 1];
      if (x1 === 0x74 || x1 === 0x64) {
        // " 't", " 'd": keep the space
      } else if (x1 === 0x73 || x1 === 0x6d) { // " 's", " 'm"
        total--;
      } else if (i + 2 < total3) {
        const x2 = text[i + 2];
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--; // " 're", " 've"
      }
    }
    text[total++] = x;
  }
  return total;
}
