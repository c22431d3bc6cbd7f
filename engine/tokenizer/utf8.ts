/**
 * UTF-8 as llama.cpp handles it (src/unicode.cpp). Text reaches the tokenizer as bytes: a JS string is encoded
 * with the WHATWG `TextEncoder`, which turns every lone surrogate into U+FFFD (EF BF BD). The same bytes go to
 * llama.cpp in differential tests, so both sides see identical input. Byte input is decoded leniently like
 * `unicode_cpts_from_utf8`: an invalid sequence yields U+FFFD and consumes one byte.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Encode text as UTF-8 the way this project sends text to llama.cpp: lone surrogates become U+FFFD.
 *
 * @param text Any JS string, well-formed or not.
 * @returns Its UTF-8 bytes.
 * @example
 * ```ts
 * import { utf8Encode } from "./utf8.ts";
 * console.log(utf8Encode("\ud800")); // Uint8Array [ 239, 191, 189 ]
 * ```
 */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

const LEN_LOOKUP = new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]);

/**
 * Sequence length from a lead byte (`unicode_len_utf8`): continuation bytes count as 1.
 *
 * @param byte A byte.
 * @returns 1 to 4.
 */
export function utf8SeqLen(byte: number): number {
  return LEN_LOOKUP[(byte & 0xff) >> 4];
}

/**
 * Decode bytes to codepoints exactly like `unicode_cpts_from_utf8`: no overlong or surrogate checks, values up
 * to 0x1FFFFF from 4-byte leads, and U+FFFD (consuming one byte) for anything it cannot decode.
 *
 * @param bytes UTF-8 bytes (possibly invalid).
 * @returns The codepoints.
 */
export function codepointsFromUtf8(bytes: Uint8Array): Uint32Array {
  const n = bytes.length;
  const out = new Uint32Array(n);
  let k = 0;
  let i = 0;
  while (i < n) {
    const b0 = bytes[i];
    if (!(b0 & 0x80)) {
      out[k++] = b0;
      i += 1;
    } else if (!(b0 & 0x40)) {
      out[k++] = 0xfffd;
      i += 1;
    } else if (!(b0 & 0x20)) {
      if (i + 1 >= n || (bytes[i + 1] & 0xc0) !== 0x80) {
        out[k++] = 0xfffd;
        i += 1;
      } else {
        out[k++] = ((b0 & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
        i += 2;
      }
    } else if (!(b0 & 0x10)) {
      if (i + 2 >= n || (bytes[i + 1] & 0xc0) !== 0x80 || (bytes[i + 2] & 0xc0) !== 0x80) {
        out[k++] = 0xfffd;
        i += 1;
      } else {
        out[k++] = ((b0 & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
        i += 3;
      }
    } else if (!(b0 & 0x08)) {
      if (
        i + 3 >= n || (bytes[i + 1] & 0xc0) !== 0x80 || (bytes[i + 2] & 0xc0) !== 0x80 ||
        (bytes[i + 3] & 0xc0) !== 0x80
      ) {
        out[k++] = 0xfffd;
        i += 1;
      } else {
        out[k++] = ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) |
          (bytes[i + 3] & 0x3f);
        i += 4;
      }
    } else {
      out[k++] = 0xfffd;
      i += 1;
    }
  }
  return out.slice(0, k);
}

/**
 * Append the UTF-8 encoding of one codepoint (`unicode_cpt_to_utf8`, which encodes surrogates too).
 *
 * @param cpt A codepoint up to U+10FFFF.
 * @param out Destination; must have 4 bytes free at `at`.
 * @param at Write position.
 * @returns The position after the written bytes.
 * @throws {RangeError} Beyond U+10FFFF ("invalid codepoint" in llama.cpp, which throws too).
 */
export function writeUtf8(cpt: number, out: Uint8Array, at: number): number {
  if (cpt <= 0x7f) {
    out[at] = cpt;
    return at + 1;
  }
  if (cpt <= 0x7ff) {
    out[at] = 0xc0 | (cpt >> 6);
    out[at + 1] = 0x80 | (cpt & 0x3f);
    return at + 2;
  }
  if (cpt <= 0xffff) {
    out[at] = 0xe0 | (cpt >> 12);
    out[at + 1] = 0x80 | ((cpt >> 6) & 0x3f);
    out[at + 2] = 0x80 | (cpt & 0x3f);
    return at + 3;
  }
  if (cpt <= 0x10ffff) {
    out[at] = 0xf0 | (cpt >> 18);
    out[at + 1] = 0x80 | ((cpt >> 12) & 0x3f);
    out[at + 2] = 0x80 | ((cpt >> 6) & 0x3f);
    out[at + 3] = 0x80 | (cpt & 0x3f);
    return at + 4;
  }
  throw new RangeError(
    `Cannot encode codepoint 0x${cpt.toString(16)} as UTF-8: it is beyond U+10FFFF (the input held an invalid ` +
      `4-byte sequence; llama.cpp throws "invalid codepoint" here too). Pass valid UTF-8`,
  );
}
