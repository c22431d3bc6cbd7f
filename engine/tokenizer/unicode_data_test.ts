/**
 * Proves that `engine/tokenizer/_unicode_data.ts` holds exactly the codepoint tables of the pinned llama.cpp
 * (`src/unicode-data.cpp`, generated there by `scripts/gen-unicode-data.py`), so our `\p{L}`/`\p{N}`/`\s` follow
 * the same Unicode version as the reference. Run this file directly to regenerate the table:
 * `deno run -A engine/tokenizer/unicode_data_test.ts --write`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { llamaSourceDir } from "../../ffi/llama_source.ts";
import { PINNED_LLAMA } from "../../ffi/library.ts";
import { FLAG_RANGES, LOWERCASE_PAIRS, WHITESPACE } from "./_unicode_data.ts";
import { CptFlag, cptFlags, cptToLower, decodeDeltaPairs } from "./unicode_flags.ts";

interface UnicodeTables {
  /** [start, flags] pairs, ascending, ending with the sentinel {0x110000, 0}. */
  ranges: number[][];
  whitespace: number[];
  lowercase: number[][];
}

/** Parse the three tables we use out of llama.cpp's generated `unicode-data.cpp`. */
function parseUnicodeDataCpp(text: string): UnicodeTables {
  const section = (name: string): string => {
    const at = text.indexOf(` ${name} = {`);
    if (at < 0) throw new SyntaxError(`Cannot parse unicode-data.cpp: table "${name}" not found`);
    return text.slice(at, text.indexOf("};", at));
  };
  const nums = (s: string): number[] => [...s.matchAll(/0x[0-9A-Fa-f]+/g)].map((m) => parseInt(m[0], 16));
  const pairs = (s: string): number[][] =>
    [...s.matchAll(/\{(0x[0-9A-Fa-f]+), (0x[0-9A-Fa-f]+)\}/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
  return {
    ranges: pairs(section("unicode_ranges_flags")),
    whitespace: nums(section("unicode_set_whitespace")),
    lowercase: pairs(section("unicode_map_lowercase")),
  };
}

function encodeDeltaPairs(pairs: number[][]): string {
  let prevA = 0;
  let prevB = 0;
  const out: string[] = [];
  for (const [a, b] of pairs) {
    out.push(`${(a - prevA).toString(36)}.${(b - prevB).toString(36)}`);
    prevA = a;
    prevB = b;
  }
  return out.join(",");
}

function chunked(s: string): string {
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 100) lines.push(JSON.stringify(s.slice(i, i + 100)));
  return lines.join(" +\n  ");
}

function renderModule(t: UnicodeTables): string {
  return `// Generated from llama.cpp src/unicode-data.cpp (${PINNED_LLAMA.release}, ${
    PINNED_LLAMA.commit.slice(0, 8)
  }) by
// \`deno run -A engine/tokenizer/unicode_data_test.ts --write\`. Do not edit; the test proves it equals the source.
// Encoding: comma-separated "a.b" pairs, each number base 36 and a delta from the previous pair's number.

/** \`unicode_ranges_flags\`: (range start, flags) pairs; a range ends where the next starts. */
export const FLAG_RANGES: string =
  ${chunked(encodeDeltaPairs(t.ranges))};

/** \`unicode_set_whitespace\`: the codepoints llama.cpp treats as \`\\s\`. */
export const WHITESPACE: readonly number[] = [${t.whitespace.map((c) => "0x" + c.toString(16)).join(", ")}];

/** \`unicode_map_lowercase\`: (codepoint, lowercase) pairs, ascending. */
export const LOWERCASE_PAIRS: string =
  ${chunked(encodeDeltaPairs(t.lowercase))};
`;
}

async function loadTables(): Promise<UnicodeTables> {
  const src = await llamaSourceDir();
  return parseUnicodeDataCpp(await Deno.readTextFile(`${src}/src/unicode-data.cpp`));
}

if (import.meta.main && Deno.args.includes("--write")) {
  const out = new URL("./_unicode_data.ts", import.meta.url);
  await Deno.writeTextFile(out, renderModule(await loadTables()));
  console.log(`wrote ${out.pathname}`);
}

Deno.test("_unicode_data.ts holds exactly the tables of the pinned llama.cpp unicode-data.cpp", async () => {
  const t = await loadTables();
  assert.ok(t.ranges.length > 2000 && t.whitespace.length > 20 && t.lowercase.length > 1000, "parser found the tables");
  assert.deepEqual(decodeDeltaPairs(FLAG_RANGES), t.ranges);
  assert.deepEqual([...WHITESPACE], t.whitespace);
  assert.deepEqual(decodeDeltaPairs(LOWERCASE_PAIRS), t.lowercase);
});

Deno.test("cptFlags() expands the ranges like unicode_cpt_flags_array() for every codepoint", async () => {
  const t = await loadTables();
  const ws = new Set(t.whitespace);
  let checked = 0;
  for (let i = 0; i + 1 < t.ranges.length; i++) {
    const [start, flags] = t.ranges[i];
    const end = t.ranges[i + 1][0];
    for (let c = start; c < end; c++) {
      const want = flags | (ws.has(c) ? CptFlag.WHITESPACE : 0);
      if ((cptFlags(c) & 0x1ff) !== want) assert.fail(`cptFlags(0x${c.toString(16)}) = ${cptFlags(c)}, want ${want}`);
      checked++;
    }
  }
  assert.equal(checked, 0x110000);
  assert.equal(cptFlags(0x110000), CptFlag.UNDEFINED, "out of range is UNDEFINED like unicode_cpt_flags_from_cpt()");
});

Deno.test("cptToLower() follows unicode_map_lowercase and leaves unmapped codepoints alone", async () => {
  const t = await loadTables();
  for (const [from, to] of t.lowercase) assert.equal(cptToLower(from), to);
  assert.equal(cptToLower(0x61), 0x61);
  assert.equal(cptToLower(0x1f600), 0x1f600);
});
