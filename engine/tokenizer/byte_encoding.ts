/**
 * The GPT-2 byte-to-unicode mapping used by byte-level BPE vocabularies (`bytes_to_unicode()` in OpenAI's
 * GPT-2 `encoder.py`; `unicode_byte_to_utf8_map` in llama.cpp src/unicode.cpp:148). Printable Latin-1 bytes
 * map to themselves; the other 68 bytes map, in byte order, to U+0100, U+0101, ... so that every token string
 * is printable: space is "Ġ" (U+0120), "\n" is "Ċ" (U+010A).
 *
 * @module
 */

function buildTable(): string[] {
  const table: (string | undefined)[] = new Array(256);
  const keep = (lo: number, hi: number) => {
    for (let b = lo; b <= hi; b++) table[b] = String.fromCharCode(b);
  };
  keep(0x21, 0x7e); // '!' .. '~'
  keep(0xa1, 0xac); // '¡' .. '¬'
  keep(0xae, 0xff); // '®' .. 'ÿ'
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  return table as string[];
}

const BYTE_TO_CHAR: readonly string[] = Object.freeze(buildTable());
const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * The byte -> character table.
 *
 * @returns 256 one-character strings indexed by byte value.
 * @example
 * ```ts
 * import { bytesToUnicode } from "./byte_encoding.ts";
 * console.log(bytesToUnicode()[0x20], bytesToUnicode()[0x0a]); // "Ġ" "Ċ"
 * ```
 */
export function bytesToUnicode(): readonly string[] {
  return BYTE_TO_CHAR;
}

/**
 * The character -> byte table (inverse of {@link bytesToUnicode}).
 *
 * @returns A map over exactly 256 one-character strings.
 */
export function unicodeToBytes(): ReadonlyMap<string, number> {
  return CHAR_TO_BYTE;
}

/**
 * Encode bytes as a byte-level BPE string (`unicode_byte_encoding_process` for one word).
 *
 * @param bytes Raw bytes, usually UTF-8 text.
 * @returns One character per byte.
 * @example
 * ```ts
 * import { byteEncode } from "./byte_encoding.ts";
 * console.log(byteEncode(new TextEncoder().encode(" hi\n"))); // "ĠhiĊ"
 * ```
 */
export function byteEncode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/**
 * Decode a byte-level BPE string back to bytes.
 *
 * @param text A string made of {@link bytesToUnicode} characters.
 * @returns The bytes.
 * @throws {RangeError} When a character is not in the mapping (the string is not byte-level encoded).
 */
export function byteDecode(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = CHAR_TO_BYTE.get(text[i]);
    if (b === undefined) {
      throw new RangeError(
        `Cannot byte-decode ${JSON.stringify(text)}: character U+${
          text.charCodeAt(i).toString(16).toUpperCase().padStart(4, "0")
        } at index ${i} is not in the GPT-2 byte mapping. Pass a byte-level BPE token string`,
      );
    }
    out[i] = b;
  }
  return out;
}
