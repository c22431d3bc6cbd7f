/**
 * Tokenizer speed: `deno bench -A engine/tokenizer/tokenizer_bench.ts`. Target: >= 5 MB/s of English text for
 * llama-bpe (the BitNet b1.58 2B4T vocabulary). Input: the English Markdown docs of the pinned llama.cpp source
 * (README.md and docs/*.md), read from the source cache that the tokenizer tests provision; MB/s = the byte
 * count in the bench name / time per iteration.
 *
 * The vocabulary is found through the cache path only (engine/ never imports ffi/): run
 * `deno test -A tests/tokenizer_vectors_test.ts` once to provision it.
 *
 * @module
 */

import { GgufFile } from "../gguf/mod.ts";
import { bpeMerge } from "./bpe.ts";
import { bpeMergeRef } from "./bpe_ref.ts";
import { preTokenize } from "./pre_tokenize.ts";
import { Tokenizer } from "./tokenizer.ts";
import { loadVocab } from "./vocab.ts";

function llamaSrc(): string {
  const env = (k: string) => Deno.env.get(k);
  const root = env("BITNET_CACHE_DIR") ??
    (env("XDG_CACHE_HOME") ? `${env("XDG_CACHE_HOME")}/bitnet` : `${env("HOME")}/.cache/bitnet`);
  const dir = `${root}/llama.cpp-src/3.22.1`;
  try {
    Deno.statSync(`${dir}/.complete`);
  } catch {
    throw new Error(
      `Cannot run the tokenizer bench: the pinned llama.cpp source is not in ${dir}. ` +
        `Provision it with: deno test -A tests/tokenizer_vectors_test.ts`,
    );
  }
  return dir;
}

const SRC = llamaSrc();
const DOCS = ["README.md", "docs/build.md", "docs/speculative.md", "docs/function-calling.md", "docs/autoparser.md"];
const ENGLISH = DOCS.map((f) => Deno.readTextFileSync(`${SRC}/${f}`)).join("\n").repeat(8);
const MB = (new TextEncoder().encode(ENGLISH).length / 1e6).toFixed(2);

using file = GgufFile.open(`${SRC}/models/ggml-vocab-llama-bpe.gguf`);
const vocab = loadVocab(file);
const warm = Tokenizer.fromVocab(vocab);
warm.encode(ENGLISH, { addSpecial: false });

Deno.bench({
  name: `llama-bpe encode, ${MB} MB English, warm word cache`,
  group: "encode",
  baseline: true,
  fn: () => {
    warm.encode(ENGLISH, { addSpecial: false });
  },
});

Deno.bench({
  name: `llama-bpe encode, ${MB} MB English, fresh tokenizer (cold word cache)`,
  group: "encode",
  fn: () => {
    Tokenizer.fromVocab(vocab).encode(ENGLISH, { addSpecial: false });
  },
});

Deno.bench({
  name: `llama-bpe pre-tokenize only, ${MB} MB English`,
  group: "encode",
  fn: () => {
    preTokenize(ENGLISH, "llama-bpe", { byteEncode: true });
  },
});

// One long word without spaces: the heap merge is O(n log n), the oracle O(n^2).
const LONG_WORD = preTokenize("abcdefghij".repeat(200), "gpt-2", { byteEncode: true })[0];
Deno.bench({
  name: "bpeMerge, one 2000-char word",
  group: "merge",
  baseline: true,
  fn: () => {
    bpeMerge(LONG_WORD, vocab.bpeRanks);
  },
});
Deno.bench({
  name: "bpeMergeRef (O(n^2) oracle), one 2000-char word",
  group: "merge",
  fn: () => {
    bpeMergeRef(LONG_WORD, vocab.bpeRanks);
  },
});
