/**
 * llama.cpp's hand-written splitters for the most common pre-tokenizer regexes (src/unicode.cpp:214-736 and
 * 1023-1048 at the pinned commit), ported line by line. llama.cpp uses them instead of std::regex whenever a
 * regex string equals one of the patterns below, so their behaviour (not the regex's) is the reference.
 *
 * Each splitter takes the codepoints of the text and the current segment lengths (in codepoints) and returns
 * the new segment lengths: every segment is split independently and its ends act as the text's ends.
 *
 * @module
 */

import { CptFlag, cptFlagTable, cptToLower, MAX_CODEPOINTS } from "./unicode_flags.ts";

/** A splitter: segment lengths in, finer segment lengths out (`std::vector<size_t> bpe_offsets`). */
export type Splitter = (cpts: Uint32Array, offsets: readonly number[]) => number[];

const OUT_OF_RANGE = 0xffffffff;
const LETTER = CptFlag.LETTER;
const NUMBER = CptFlag.NUMBER;
const WHITESPACE = CptFlag.WHITESPACE;
const ACCENT = CptFlag.ACCENT_MARK;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const APOSTROPHE = 0x27;

/** Per-segment state shared by the ports: `_get_cpt`, `_get_flags`, `_add_token` of unicode.cpp. */
class Segment {
  readonly table: Uint16Array = cptFlagTable();
  ini = 0;
  end = 0;
  prevEnd = 0;
  constructor(readonly cpts: Uint32Array, readonly out: number[]) {}
  reset(ini: number, end: number): void {
    this.ini = ini;
    this.end = end;
    this.prevEnd = ini;
  }
  cpt(pos: number): number {
    return pos >= this.ini && pos < this.end ? this.cpts[pos] : OUT_OF_RANGE;
  }
  /** Outside the segment the flags are all zero (`unicode_cpt_flags{}`), not UNDEFINED. */
  flags(pos: number): number {
    if (pos < this.ini || pos >= this.end) return 0;
    const c = this.cpts[pos];
    return c < MAX_CODEPOINTS ? this.table[c] : CptFlag.UNDEFINED;
  }
  add(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
}

function forEachSegment(
  cpts: Uint32Array,
  offsets: readonly number[],
  body: (s: Segment) => void,
): number[] {
  const out: number[] = [];
  const s = new Segment(cpts, out);
  let start = 0;
  for (const offset of offsets) {
    s.reset(start, start + offset);
    start += offset;
    body(s);
  }
  return out;
}

/**
 * Contractions `'s|'t|'re|'ve|'m|'ll|'d` at `pos`; `lower` makes them case-insensitive (`(?i:...)`).
 * Returns the matched length, 0 when none.
 */
function contraction(s: Segment, pos: number, lower: boolean): number {
  if (s.cpt(pos) !== APOSTROPHE || pos + 1 >= s.end) return 0;
  const next = lower ? cptToLower(s.cpt(pos + 1)) : s.cpt(pos + 1);
  if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) return 2; // s t m d
  if (pos + 2 < s.end) {
    const nn = lower ? cptToLower(s.cpt(pos + 2)) : s.cpt(pos + 2);
    if ((next === 0x72 && nn === 0x65) || (next === 0x76 && nn === 0x65) || (next === 0x6c && nn === 0x6c)) {
      return 3; // re ve ll
    }
  }
  return 0;
}

/** GPT2 system regex: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` */
export const splitGpt2: Splitter = (cpts, offsets) =>
  forEachSegment(cpts, offsets, (s) => {
    for (let pos = s.ini; pos < s.end;) {
      const cpt = s.cpt(pos);
      const flags = s.flags(pos);

      const c = contraction(s, pos, false);
      if (c) {
        pos += s.add(pos + c);
        continue;
      }

      let flags2 = cpt === SPACE ? s.flags(pos + 1) : flags;
      // regex: <space>?\p{L}+
      if (flags2 & LETTER) {
        pos += cpt === SPACE ? 1 : 0;
        while (flags2 & LETTER) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      // regex: <space>?\p{N}+
      if (flags2 & NUMBER) {
        pos += cpt === SPACE ? 1 : 0;
        while (flags2 & NUMBER) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      // regex: <space>?[^\s\p{L}\p{N}]+
      if (!(flags2 & (WHITESPACE | LETTER | NUMBER)) && flags2) {
        pos += cpt === SPACE ? 1 : 0;
        while (!(flags2 & (WHITESPACE | LETTER | NUMBER)) && flags2) flags2 = s.flags(++pos);
        s.add(pos);
        continue;
      }

      let nws = 0;
      while (s.flags(pos + nws) & WHITESPACE) nws++;
      // regex: \s+(?!\S)
      if (nws > 1 && s.cpt(pos + nws) !== OUT_OF_RANGE) {
        pos += nws - 1;
        s.add(pos);
        continue;
      }
      // regex: \s+
      if (nws > 0) {
        pos += nws;
        s.add(pos);
        continue;
      }
      // no matches
      s.add(++pos);
    }
  });

/**
 * The family of llama3/qwen2/qwen35 splitters: they differ only in the digit-run length and whether accent
 * marks (`\p{M}`) join letters.
 */
function llama3Like(maxDigits: number, marks: boolean): Splitter {
  const LET = marks ? LETTER | ACCENT : LETTER;
  return (cpts, offsets) =>
    forEachSegment(cpts, offsets, (s) => {
      for (let pos = s.ini; pos < s.end;) {
        const cpt = s.cpt(pos);
        const flags = s.flags(pos);

        // regex: (?i:'s|'t|'re|'ve|'m|'ll|'d) // case insensitive
        const c = contraction(s, pos, true);
        if (c) {
          pos += s.add(pos + c);
          continue;
        }

        // regex: [^\r\n\p{L}\p{N}]?\p{L}+   (qwen35: [^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+)
        if (!(cpt === CR || cpt === LF || flags & NUMBER)) {
          if (flags & LET || s.flags(pos + 1) & LET) {
            pos++;
            while (s.flags(pos) & LET) pos++;
            s.add(pos);
            continue;
          }
        }

        // regex: \p{N}{1,3}   (qwen2, qwen35: \p{N})
        if (flags & NUMBER) {
          if (maxDigits === 1) {
            pos++;
            s.add(pos);
            continue;
          }
          let ini = pos;
          while (s.flags(pos) & NUMBER) {
            if (++pos - ini >= maxDigits) {
              s.add(pos);
              ini = pos;
            }
          }
          s.add(pos);
          continue;
        }

        // regex: <space>?[^\s\p{L}\p{N}]+[\r\n]*   (qwen35: [^\s\p{L}\p{M}\p{N}])
        let flags2 = cpt === SPACE ? s.flags(pos + 1) : flags;
        // Note: the non-zero check uses `flags` (not `flags2`), exactly as unicode.cpp does.
        if (!(flags2 & (WHITESPACE | LET | NUMBER)) && flags) {
          pos += cpt === SPACE ? 1 : 0;
          while (!(flags2 & (WHITESPACE | LET | NUMBER)) && flags2) flags2 = s.flags(++pos);
          let cpt2 = s.cpt(pos);
          while (cpt2 === CR || cpt2 === LF) cpt2 = s.cpt(++pos);
          s.add(pos);
          continue;
        }

        let nws = 0;
        let lastEndRorN = 0;
        while (s.flags(pos + nws) & WHITESPACE) {
          const cpt2 = s.cpt(pos + nws);
          if (cpt2 === CR || cpt2 === LF) lastEndRorN = pos + nws + 1;
          nws++;
        }
        // regex: \s*[\r\n]+
        if (lastEndRorN > 0) {
          pos = lastEndRorN;
          s.add(pos);
          continue;
        }
        // regex: \s+(?!\S)
        if (nws > 1 && s.cpt(pos + nws) !== OUT_OF_RANGE) {
          pos += nws - 1;
          s.add(pos);
          continue;
        }
        // regex: \s+
        if (nws > 0) {
          pos += nws;
          s.add(pos);
          continue;
        }
        // no matches
        s.add(++pos);
      }
    });
}

/** LLAMA3 system regex: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` */
export const splitLlama3: Splitter = llama3Like(3, false);
/** Qwen2 system regex: as llama3 with `\p{N}` instead of `\p{N}{1,3}`. */
export const splitQwen2: Splitter = llama3Like(1, false);
/** Qwen3.5 system regex: as qwen2, letter runs also take `\p{M}`. */
export const splitQwen35: Splitter = llama3Like(1, true);

/** `[^\n]+|[\n]+`: runs of non-newlines and runs of newlines. */
export const splitNewlines: Splitter = (cpts, offsets) => {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const end = start + offset;
    let pos = start;
    while (pos < end) {
      const isNl = cpts[pos] === LF;
      const runStart = pos;
      while (pos < end && (cpts[pos] === LF) === isNl) pos++;
      out.push(pos - runStart);
    }
    start = end;
  }
  return out;
};

// The exact regex strings that select each custom splitter (unicode_regex_split_custom, src/unicode.cpp:1050).
const CUSTOM: ReadonlyMap<string, Splitter> = new Map([
  ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", splitGpt2],
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitLlama3,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitLlama3,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitQwen2,
  ],
  [
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    splitQwen35,
  ],
  ["[^\\n]+|[\\n]+", splitNewlines],
]);

/**
 * Regex strings for which llama.cpp has a custom splitter we have not ported (kimi-k2, afmoe, tiny_aya):
 * running them through a generic regex engine would not reproduce llama.cpp, so they are refused.
 */
export const UNPORTED_CUSTOM: ReadonlySet<string> = new Set([
  "\\p{Han}+",
  "\\p{AFMoE_digits}",
  "\\d{1,3}(?=(?:\\d{3})*\\b)",
]);

/**
 * The custom splitter llama.cpp uses for this exact regex string, if any.
 *
 * @param regex A regex string from the pre-tokenizer table.
 * @returns The splitter, or `undefined` when llama.cpp falls back to std::regex.
 */
export function customSplitter(regex: string): Splitter | undefined {
  return CUSTOM.get(regex);
}
