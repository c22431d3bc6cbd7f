/**
 * Splitting text on special tokens before tokenization: `tokenizer_st_partition` (src/llama-vocab.cpp:3250-3366
 * at the pinned commit). Every control, user-defined and unknown token, longest first, cuts the remaining raw
 * fragments wherever its text occurs. Without `parseSpecial`, control and unknown tokens are skipped but
 * user-defined tokens still split (as in HF tokenizers). LSTRIP/RSTRIP attributes eat adjacent ASCII whitespace.
 *
 * Works on a binary string (one char per byte) so that matches are byte matches, as in llama.cpp.
 *
 * @module
 */

import { TokenAttr } from "./token_attr.ts";

/** A piece of input after special-token splitting: a special token, or a byte range of raw text. */
export type Fragment =
  | { readonly token: number }
  | { readonly start: number; readonly end: number };

/** A special token to look for. */
export interface SpecialToken {
  /** Token id. */
  readonly id: number;
  /** Its text as a binary string (UTF-8 bytes, one char per byte). */
  readonly bin: string;
  /** Its `llama_token_attr` bits. */
  readonly attr: number;
}

// C isspace() in the "C" locale: space, \t, \n, \v, \f, \r.
const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * Partition text into raw fragments and special tokens.
 *
 * @param bin The text as a binary string.
 * @param specials Special tokens in priority order (longest text first).
 * @param parseSpecial Also split on control and unknown tokens.
 * @returns Fragments in order; raw ranges are never empty.
 * @example
 * ```ts
 * import { partitionSpecial } from "./special_split.ts";
 * const frags = partitionSpecial("a<s>b", [{ id: 1, bin: "<s>", attr: 8 }], true);
 * console.log(frags); // [{start: 0, end: 1}, {token: 1}, {start: 4, end: 5}]
 * ```
 */
export function partitionSpecial(bin: string, specials: readonly SpecialToken[], parseSpecial: boolean): Fragment[] {
  let buffer: Fragment[] = bin.length > 0 ? [{ start: 0, end: bin.length }] : [];
  for (const sp of specials) {
    // Ignore control and unknown tokens when parse_special == false
    if (!parseSpecial && sp.attr & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) continue;
    const tlen = sp.bin.length;
    if (tlen === 0) continue;
    let changed = false;
    const next: Fragment[] = [];
    for (const frag of buffer) {
      if ("token" in frag) {
        next.push(frag);
        continue;
      }
      let off = frag.start;
      const end = frag.end;
      // Search only inside the fragment (a V8 substring is a cheap slice), so many fragments stay linear.
      const find = (from: number): number => {
        const i = bin.substring(from, end).indexOf(sp.bin);
        return i === -1 ? -1 : from + i;
      };
      let m = find(off);
      if (m === -1 || m + tlen > end) {
        next.push(frag);
        continue;
      }
      changed = true;
      for (;;) {
        // left
        if (m > off) {
          let leftLen = m - off;
          if (sp.attr & TokenAttr.LSTRIP) {
            while (leftLen > 0 && isSpace(bin.charCodeAt(off + leftLen - 1))) leftLen--;
          }
          if (leftLen > 0) next.push({ start: off, end: off + leftLen });
        }
        // special token
        next.push({ token: sp.id });
        // right
        if (m + tlen >= end) break;
        off = m + tlen;
        if (sp.attr & TokenAttr.RSTRIP) { while (off < end && isSpace(bin.charCodeAt(off))) off++; }
        m = off < end ? find(off) : -1;
        if (m === -1 || m + tlen > end) {
          if (off < end) next.push({ start: off, end });
          break;
        }
      }
    }
    if (changed) buffer = next;
  }
  return buffer;
}
