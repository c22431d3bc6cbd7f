/**
 * `unicode_regex_split` (src/unicode.cpp:1216 at the pinned commit) ported to TypeScript: apply each regex of
 * a pre-tokenizer in turn, each splitting the segments the previous one produced; text between matches
 * becomes a segment too. Offsets are counted in codepoints.
 *
 * For regexes without a custom splitter, llama.cpp runs std::regex (ECMAScript grammar) in one of two ways,
 * and we reproduce both with JS RegExp (whose grammar std::regex's ECMAScript mode follows):
 * - the regex uses `\p{..}` categories: text and regex are "collapsed" to one byte per codepoint (every
 *   non-ASCII codepoint becomes a byte standing for its category, e.g. 0xD2 for a letter; non-ASCII
 *   whitespace becomes 0x0B), ref: https://github.com/ggml-org/llama.cpp/pull/6920#issuecomment-2081479935.
 *   The collapsed string only holds chars below U+0100, where JS and the C locale agree on `\s`.
 * - otherwise: std::wregex over codepoints with non-ASCII whitespace replaced by 0x0B. We run a `u` RegExp
 *   whose `\s`/`\S` are narrowed to the ASCII set `[\t\n\v\f\r ]`, as the C locale's iswspace is.
 *
 * @module
 */

import { customSplitter, UNPORTED_CUSTOM } from "./_split_custom.ts";
import { CptFlag, cptFlagTable, MAX_CODEPOINTS } from "./unicode_flags.ts";

// k_ucat_enum / k_ucat_cpt / k_ucat_map of unicode_regex_split.
const UCAT_ENUM: ReadonlyMap<string, number> = new Map([
  ["\\p{N}", CptFlag.NUMBER],
  ["\\p{L}", CptFlag.LETTER],
  ["\\p{P}", CptFlag.PUNCTUATION],
  ["\\p{M}", CptFlag.ACCENT_MARK],
  ["\\p{S}", CptFlag.SYMBOL],
  ["\\p{Lu}", CptFlag.LETTER], // Uppercase letter
  ["\\p{Ll}", CptFlag.LETTER], // Lowercase letter
  ["\\p{Lt}", CptFlag.LETTER], // Titlecase letter
  ["\\p{Lm}", CptFlag.LETTER], // Modifier letter
  ["\\p{Lo}", CptFlag.LETTER], // Other letter
]);
const UCAT_CPT: ReadonlyMap<number, number> = new Map([
  [CptFlag.NUMBER, 0xd1],
  [CptFlag.LETTER, 0xd2],
  [CptFlag.PUNCTUATION, 0xd3],
  [CptFlag.ACCENT_MARK, 0xd4],
  [CptFlag.SYMBOL, 0xd5],
]);
const UCAT_MAP: ReadonlyMap<number, string> = new Map([
  [CptFlag.NUMBER, "\x30-\x39"], // 0-9
  [CptFlag.LETTER, "\x41-\x5A\x61-\x7A"], // A-Za-z
  [CptFlag.PUNCTUATION, "\x21-\x23\x25-\x2A\x2C-\x2F\x3A-\x3B\x3F-\x40\\\x5B-\\\x5D\x5F\\\x7B\\\x7D"], // !-#%-*,-/:-;?-@\[-\]_\{\}
  [CptFlag.ACCENT_MARK, ""], // no sub-128 codepoints
  [CptFlag.SYMBOL, "\\\x24\\\x2B\x3C-\x3E\x5E\x60\\\x7C\\\x7E"], // $+<=>^`|~
]);

function usesCategories(regex: string): boolean {
  for (const k of UCAT_ENUM.keys()) if (regex.includes(k)) return true;
  return false;
}

/** The collapsed form of a regex (the `regex_expr_collapsed` loop of unicode_regex_split). */
export function collapseRegex(regex: string): string {
  for (const ch of regex) {
    if (ch.codePointAt(0)! >= 128) {
      throw new RangeError(
        `Cannot compile pre-tokenizer regex ${JSON.stringify(regex)}: it mixes unicode categories and non-ASCII ` +
          `characters, which llama.cpp rejects too ("not supported")`,
      );
    }
  }
  let out = "";
  let inside = false; // inside [], because nested [] are not allowed
  for (let i = 0; i < regex.length; i++) {
    if (regex[i] === "[" && (i === 0 || regex[i - 1] !== "\\")) {
      out += "[";
      inside = true;
      continue;
    }
    if (inside && regex[i] === "]" && regex[i - 1] !== "\\") {
      out += "]";
      inside = false;
      continue;
    }
    // Match \p{...} Unicode properties of varying lengths
    if (regex[i] === "\\" && i + 3 < regex.length && regex[i + 1] === "p" && regex[i + 2] === "{") {
      const close = regex.indexOf("}", i + 3);
      if (close !== -1 && close <= i + 10) {
        const flag = UCAT_ENUM.get(regex.slice(i, close + 1));
        if (flag !== undefined) {
          if (!inside) out += "[";
          out += String.fromCharCode(UCAT_CPT.get(flag)!) + UCAT_MAP.get(flag)!;
          if (!inside) out += "]";
          i = close;
          continue;
        }
      }
    }
    out += regex[i];
  }
  return out;
}

/** Rewrite `\s`/`\S` to the C locale's ASCII whitespace set (std::wregex in the "C" locale). */
function asciiWhitespaceRegex(regex: string): string {
  let out = "";
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i];
    if (ch === "\\" && i + 1 < regex.length) {
      const next = regex[i + 1];
      if (next === "s") out += inside ? "\\t\\n\\v\\f\\r " : "[\\t\\n\\v\\f\\r ]";
      else if (next === "S" && !inside) out += "[^\\t\\n\\v\\f\\r ]";
      else out += ch + next; // `\S` inside a class does not occur in llama.cpp's tables
      i++;
      continue;
    }
    if (ch === "[") inside = true;
    else if (ch === "]") inside = false;
    out += ch;
  }
  return out;
}

interface CompiledRegex {
  readonly re: RegExp;
  readonly collapsed: boolean;
}

const compiled = new Map<string, CompiledRegex>();

function compile(regex: string): CompiledRegex {
  let c = compiled.get(regex);
  if (c) return c;
  if (UNPORTED_CUSTOM.has(regex)) {
    throw new RangeError(
      `Cannot split with pre-tokenizer regex ${JSON.stringify(regex)}: llama.cpp handles it with a custom ` +
        `splitter that is not ported to bitnet-crossval yet. Port it from src/unicode.cpp`,
    );
  }
  const collapsed = usesCategories(regex);
  try {
    c = collapsed
      ? { re: new RegExp(collapseRegex(regex), "g"), collapsed }
      : { re: new RegExp(asciiWhitespaceRegex(regex), "gu"), collapsed };
  } catch (e) {
    throw new SyntaxError(`Cannot compile pre-tokenizer regex ${JSON.stringify(regex)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  compiled.set(regex, c);
  return c;
}

/** `text_collapsed`: one char below U+0100 per codepoint. */
function collapseText(cpts: Uint32Array): string {
  const table = cptFlagTable();
  const codes = new Uint16Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) {
    const c = cpts[i];
    if (c < 128) {
      codes[i] = c; // keep single-byte codepoints as is
      continue;
    }
    const flags = c < MAX_CODEPOINTS ? table[c] : CptFlag.UNDEFINED;
    if (flags & CptFlag.WHITESPACE) codes[i] = 0x0b; // <vertical tab> as whitespace fallback
    else codes[i] = UCAT_CPT.get(flags & CptFlag.MASK_CATEGORIES) ?? 0xd0; // 0xD0: fallback
  }
  return charCodesToString(codes);
}

/** The std::wregex input: codepoints, non-ASCII whitespace as 0x0B; unrepresentable ones as U+FFFD. */
function wideText(cpts: Uint32Array): { text: string; unitToCpt: Int32Array | undefined } {
  const table = cptFlagTable();
  let s = "";
  let astral = false;
  const parts: string[] = [];
  for (let i = 0; i < cpts.length; i++) {
    let c = cpts[i];
    // Surrogate codepoints (from CESU-style bytes) and values past U+10FFFF (from 0xF4.. 0xF7 leads) cannot
    // stand alone in a JS string; no regex in llama.cpp's tables distinguishes them from U+FFFD.
    if ((c >= 0xd800 && c <= 0xdfff) || c >= MAX_CODEPOINTS) c = 0xfffd;
    else if (c > 0x7f && table[c] & CptFlag.WHITESPACE) c = 0x0b;
    if (c > 0xffff) astral = true;
    s += String.fromCodePoint(c);
    if (s.length > 4096) {
      parts.push(s);
      s = "";
    }
  }
  parts.push(s);
  const text = parts.join("");
  if (!astral) return { text, unitToCpt: undefined };
  const unitToCpt = new Int32Array(text.length + 1);
  let cp = 0;
  for (let u = 0; u < text.length; u++) {
    unitToCpt[u] = cp;
    const code = text.charCodeAt(u);
    if (code >= 0xd800 && code <= 0xdbff && u + 1 < text.length) unitToCpt[++u] = cp;
    cp++;
  }
  unitToCpt[text.length] = cp;
  return { text, unitToCpt };
}

function charCodesToString(codes: Uint16Array): string {
  let s = "";
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode(...codes.subarray(i, i + 8192));
  return s;
}

/**
 * `unicode_regex_split_stl`: iterate the matches of `re` inside each segment like std::regex_iterator
 * (a segment's ends are the text's ends); gaps between matches become segments. After an empty match the
 * search resumes one codepoint later, which is what std::regex_iterator does for the empty-only patterns in
 * llama.cpp's tables.
 */
function splitStl(
  text: string,
  unitToCpt: Int32Array | undefined,
  cptToUnit: Int32Array | undefined,
  re: RegExp,
  offsets: readonly number[],
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const u0 = cptToUnit ? cptToUnit[start] : start;
    const u1 = cptToUnit ? cptToUnit[start + offset] : start + offset;
    const seg = text.slice(u0, u1);
    const toCpt = (u: number): number => (unitToCpt ? unitToCpt[u0 + u] - start : u);
    let startIdx = 0;
    re.lastIndex = 0;
    for (let m = re.exec(seg); m !== null; m = re.exec(seg)) {
      const pos = toCpt(m.index);
      const len = toCpt(m.index + m[0].length) - pos;
      if (pos > startIdx) out.push(pos - startIdx);
      out.push(len);
      startIdx = pos + len;
      if (m[0].length === 0) re.lastIndex = m.index + (re.unicode && seg.codePointAt(m.index)! > 0xffff ? 2 : 1);
    }
    if (startIdx < offset) out.push(offset - startIdx);
    start += offset;
  }
  return out;
}

/**
 * Split text (as codepoints) with a pre-tokenizer's regex list, like `unicode_regex_split` before its final
 * re-encoding step.
 *
 * @param cpts The text's codepoints (`unicode_cpts_from_utf8`).
 * @param regexes The pre-tokenizer's regexes, applied in order.
 * @returns Word lengths in codepoints; they sum to `cpts.length`. A zero length (an empty regex match) is kept,
 *   as llama.cpp keeps it; it yields no token.
 * @throws {RangeError} For a regex whose llama.cpp custom splitter is not ported.
 */
export function regexSplit(cpts: Uint32Array, regexes: readonly string[]): number[] {
  let offsets: number[] = [cpts.length];
  let collapsedText: string | undefined;
  let wide: { text: string; unitToCpt: Int32Array | undefined; cptToUnit: Int32Array | undefined } | undefined;
  for (const regex of regexes) {
    const custom = customSplitter(regex);
    if (custom) {
      offsets = custom(cpts, offsets);
      continue;
    }
    const { re, collapsed } = compile(regex);
    if (collapsed) {
      collapsedText ??= collapseText(cpts);
      offsets = splitStl(collapsedText, undefined, undefined, re, offsets);
    } else {
      if (!wide) {
        const w = wideText(cpts);
        let cptToUnit: Int32Array | undefined;
        if (w.unitToCpt) {
          cptToUnit = new Int32Array(cpts.length + 1);
          for (let u = w.text.length; u >= 0; u--) cptToUnit[w.unitToCpt[u]] = u;
        }
        wide = { ...w, cptToUnit };
      }
      offsets = splitStl(wide.text, wide.unitToCpt, wide.cptToUnit, re, offsets);
    }
  }
  return offsets;
}
