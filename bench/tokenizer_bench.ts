/**
 * Tokenizer throughput: our tokenizer (engine/tokenizer) against llama.cpp's `llama_tokenize` through the bridge,
 * on the same text and vocabulary: the Llama 3 BPE vocabulary BitNet b1.58 2B4T uses (`ggml-vocab-llama-bpe.gguf`
 * from the pinned llama.cpp source), and the llama-spm one. The text is llama.cpp's own tokenizer test inputs
 * (`.inp`, every case joined), repeated to about 256 KiB.
 *
 *   deno bench -A bench/tokenizer_bench.ts
 *
 * Bytes/s = the printed size / (time per iteration); llama.cpp is the baseline of each group.
 *
 * @module
 */

import { GgufFile } from "../engine/gguf/mod.ts";
import { Tokenizer } from "../engine/tokenizer/tokenizer.ts";
import { CppModel, llamaSourceDir } from "../ffi/mod.ts";

const models = `${await llamaSourceDir()}/models`;
const closers: (() => void)[] = [];
globalThis.addEventListener("unload", () => closers.forEach((c) => c()));

for (const vocab of ["llama-bpe", "llama-spm"]) {
  const path = `${models}/ggml-vocab-${vocab}.gguf`;
  const cases = (await Deno.readTextFile(`${path}.inp`)).split("\n__ggml_vocab_test__\n").join("\n");
  const text = cases.repeat(Math.max(1, Math.ceil((256 << 10) / new TextEncoder().encode(cases).length)));
  const kib = (new TextEncoder().encode(text).length / 1024).toFixed(0);
  const tokenizer = (() => {
    using f = GgufFile.open(path);
    return Tokenizer.fromGguf(f);
  })();
  const cpp = await CppModel.load(path, { vocabOnly: true });
  closers.push(() => cpp.close());
  Deno.bench(`llama.cpp llama_tokenize, ${kib} KiB`, { group: vocab, baseline: true }, () => {
    cpp.tokenize(text, { addSpecial: false });
  });
  Deno.bench(`engine Tokenizer.encode, ${kib} KiB`, { group: vocab }, () => {
    tokenizer.encode(text, { addSpecial: false });
  });
}
