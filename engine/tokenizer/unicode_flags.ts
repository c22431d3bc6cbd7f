/**
 * Codepoint categories exactly as llama.cpp sees them (`src/unicode.h` `unicode_cpt_flags`, data from
 * `src/unicode-data.cpp`). The tokenizer never asks the JS engine for `\p{L}` on raw text: V8 ships a newer
 * Unicode version than the pinned llama.cpp, and a single differing codepoint changes the split.
 *
 * @module
 */

import { FLAG_RANGES, LOWERCASE_PAIRS, WHITESPACE } from "./_unicode_data.ts";

/** Flag bits of `unicode_cpt_flags` (`src/unicode.h`); a codepoint has exactly one category bit. */
export const CptFlag = {
  /** Unassigned codepoint (`\p{Cn}`). */
  UNDEFINED: 0x0001,
  /** `\p{N}`. */
  NUMBER: 0x0002,
  /** `\p{L}`. */
  LETTER: 0x0004,
  /** `\p{Z}`. */
  SEPARATOR: 0x0008,
  /** `\p{M}`. */
  ACCENT_MARK: 0x0010,
  /** `\p{P}`. */
  PUNCTUATION: 0x0020,
  /** `\p{S}`. */
  SYMBOL: 0x0040,
  /** `\p{C}` (minus unassigned). */
  CONTROL: 0x0080,
  /** Mask of the category bits. */
  MASK_CATEGORIES: 0x00ff,
  /** llama.cpp's `\s`: `unicode_set_whitespace`. */
  WHITESPACE: 0x0100,
} as const;

/** Number of codepoints (`MAX_CODEPOINTS` in `src/unicode-data.h`). */
export const MAX_CODEPOINTS = 0x110000;

/**
 * Decode the delta-encoded `"a.b,a.b,..."` pair lists of `_unicode_data.ts`.
 *
 * @param encoded Comma-separated pairs of base-36 deltas.
 * @returns The absolute pairs.
 */
export function decodeDeltaPairs(encoded: string): number[][] {
  let a = 0;
  let b = 0;
  return encoded.split(",").map((p) => {
    const dot = p.indexOf(".");
    a += parseInt(p.slice(0, dot), 36);
    b += parseInt(p.slice(dot + 1), 36);
    return [a, b];
  });
}

let flagTable: Uint16Array | undefined;
let lowerMap: Map<number, number> | undefined;

/**
 * The flags table for all codepoints, built once like `unicode_cpt_flags_array()` (2.2 MB).
 *
 * @returns One `CptFlag` bit set per codepoint.
 */
export function cptFlagTable(): Uint16Array {
  if (flagTable) return flagTable;
  const table = new Uint16Array(MAX_CODEPOINTS);
  const ranges = decodeDeltaPairs(FLAG_RANGES);
  for (let i = 0; i + 1 < ranges.length; i++) table.fill(ranges[i][1], ranges[i][0], ranges[i + 1][0]);
  for (const c of WHITESPACE) table[c] |= CptFlag.WHITESPACE;
  flagTable = table;
  return table;
}

/**
 * Flags of one codepoint (`unicode_cpt_flags_from_cpt`). Only the category and whitespace bits are kept:
 * the lowercase/uppercase/NFD helper bits are not used by any splitter we port.
 *
 * @param cpt A codepoint.
 * @returns Its `CptFlag` bits; `UNDEFINED` beyond U+10FFFF.
 * @example
 * ```ts
 * import { CptFlag, cptFlags } from "./unicode_flags.ts";
 * console.log((cptFlags(0x41) & CptFlag.LETTER) !== 0); // true
 * ```
 */
export function cptFlags(cpt: number): number {
  return cpt < MAX_CODEPOINTS ? cptFlagTable()[cpt] : CptFlag.UNDEFINED;
}

/**
 * Lowercase of a codepoint (`unicode_tolower`): the single-codepoint mapping, else the codepoint itself.
 *
 * @param cpt A codepoint.
 * @returns Its lowercase.
 */
export function cptToLower(cpt: number): number {
  lowerMap ??= new Map(decodeDeltaPairs(LOWERCASE_PAIRS) as [number, number][]);
  return lowerMap.get(cpt) ?? cpt;
}
