/**
 * The tables we transcribed from llama.cpp equal the pinned source: the pre-tokenizer regex lists
 * (`llm_tokenizer_bpe` constructor) and the `tokenizer.ggml.pre` name chain with its load-time flags
 * (`llama_vocab::impl::load`), both parsed out of `src/llama-vocab.cpp`. A llama.cpp upgrade that adds or
 * changes a pre-tokenizer fails here, naming it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { llamaSourceDir } from "../ffi/llama_source.ts";
import { PRE_TOKENIZER_REGEXES, PRE_TYPE_BY_NAME, type PreTypeInfo } from "../engine/tokenizer/mod.ts";

/** The C++ string literals in `code` (comments removed first), unescaped. */
function cppStrings(code: string): string[] {
  const noComments = code.split("\n").map((l) => l.replace(/^\s*\/\/.*$/, "")).join("\n");
  const out: string[] = [];
  for (let i = 0; i < noComments.length; i++) {
    if (noComments[i] !== '"') continue;
    let s = "";
    for (i++; noComments[i] !== '"'; i++) {
      if (noComments[i] === "\\") {
        const e = noComments[++i];
        s += e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
      } else s += noComments[i];
    }
    out.push(s);
  }
  return out;
}

async function vocabCpp(): Promise<string> {
  return await Deno.readTextFile(`${await llamaSourceDir()}/src/llama-vocab.cpp`);
}

Deno.test("PRE_TOKENIZER_REGEXES equals the regex table of llm_tokenizer_bpe in the pinned llama-vocab.cpp", async () => {
  const src = await vocabCpp();
  const ctor = src.indexOf("struct llm_tokenizer_bpe : llm_tokenizer");
  const start = src.indexOf("switch (vocab.get_pre_type()) {", ctor);
  const body = src.slice(start, src.indexOf("std::vector<std::string> regex_exprs;", start));
  const groups = body.split(/\n\s*break;/).flatMap((part) => {
    const types = [...part.matchAll(/case LLAMA_VOCAB_PRE_TYPE_(\w+):/g)].map((m) => m[1].toLowerCase());
    if (part.includes("default:")) types.push("default");
    const list = part.match(/regex_exprs = \{([\s\S]*?)\n\s*\};/);
    if (!types.length || !list) return [];
    return [{ types, regexes: cppStrings(list[1]), byteEncode: !part.includes("byte_encode = false") }];
  });
  assert.ok(groups.length > 30, `parsed ${groups.length} groups`);
  const ours = PRE_TOKENIZER_REGEXES.map((g) => ({
    types: [...g.types],
    regexes: [...g.regexes],
    byteEncode: g.byteEncode ?? true,
  }));
  assert.deepEqual(ours, groups);
});

Deno.test("PRE_TYPE_BY_NAME equals the tokenizer.ggml.pre chain of llama_vocab::impl::load", async () => {
  const src = await vocabCpp();
  const from = src.indexOf('} else if (tokenizer_pre == "default") {');
  const to = src.indexOf("unknown pre-tokenizer type", from);
  const blocks = src.slice(from, to).split("} else if (").slice(1);
  const parsed = new Map<string, PreTypeInfo>();
  for (const b of blocks) {
    const names = [...b.matchAll(/tokenizer_pre == "([^"]+)"/g)].map((m) => m[1]);
    const type = b.match(/pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);/)![1].toLowerCase();
    const info: Record<string, unknown> = { type };
    if (b.includes("ignore_merges = true;")) info.ignoreMerges = true;
    if (b.includes("add_bos = true;")) info.addBos = true;
    if (b.includes("clean_spaces = false;")) info.cleanSpaces = false;
    if (b.includes("escape_whitespaces = true;")) info.escapeWhitespaces = true;
    if (b.includes("add_sep = true;")) info.addSep = true;
    if (b.includes("special_bos_id = LLAMA_TOKEN_NULL;")) info.noDefaultBos = true;
    for (const n of names) parsed.set(n, info as unknown as PreTypeInfo);
  }
  assert.ok(parsed.size > 80, `parsed ${parsed.size} names`);
  const sortKeys = (m: ReadonlyMap<string, PreTypeInfo>) =>
    Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, { ...v }]));
  assert.deepEqual(sortKeys(PRE_TYPE_BY_NAME), sortKeys(parsed));
});
