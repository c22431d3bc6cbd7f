/**
 * llama.cpp's tokenizer test-vector format (`models/ggml-vocab-*.gguf.inp` / `.out`, read by
 * `tests/test-tokenizer-0.cpp`): the `.inp` file holds the inputs joined by `"\n__ggml_vocab_test__\n"` (a final
 * separator ends the list without adding an empty case); the `.out` file holds one line per input with the
 * expected ids separated by spaces, produced by HF `tokenizer.encode(text, add_special_tokens=False)`. llama.cpp
 * checks them with `add_special = false`, `parse_special = false`.
 *
 * @module
 */

/** The separator between inputs in a `.inp` file. */
export const VOCAB_TEST_SEPARATOR = "\n__ggml_vocab_test__\n";

/**
 * Split a `.inp` file into its inputs, byte-exactly like `read_tests` in test-tokenizer-0.cpp.
 *
 * @param inp The file's bytes.
 * @returns One byte array per input (views into `inp`).
 * @example
 * ```ts
 * import { parseVocabTestInputs } from "./test_vectors.ts";
 * const inp = new TextEncoder().encode("a\n__ggml_vocab_test__\n\n__ggml_vocab_test__\n");
 * console.log(parseVocabTestInputs(inp).length); // 2 ("a" and "")
 * ```
 */
export function parseVocabTestInputs(inp: Uint8Array): Uint8Array[] {
  const sep = new TextEncoder().encode(VOCAB_TEST_SEPARATOR);
  const out: Uint8Array[] = [];
  let pos = 0;
  const find = (from: number): number => {
    outer: for (let i = from; i + sep.length <= inp.length; i++) {
      for (let j = 0; j < sep.length; j++) if (inp[i + j] !== sep[j]) continue outer;
      return i;
    }
    return -1;
  };
  while (pos < inp.length) {
    const next = find(pos);
    if (next === -1) {
      out.push(inp.subarray(pos));
      break;
    }
    out.push(inp.subarray(pos, next));
    pos = next + sep.length;
  }
  return out;
}

/**
 * Parse a `.out` file: one line per input, ids separated by single spaces, surrounding whitespace stripped.
 *
 * @param out The file's text.
 * @returns Expected ids per input.
 * @throws {SyntaxError} When a line holds something other than integers.
 */
export function parseVocabTestOutputs(out: string): Int32Array[] {
  const lines = out.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop(); // std::getline: no line after the last \n
  return lines.map((line, i) => {
    const s = line.trim();
    if (s === "") return new Int32Array(0);
    const parts = s.split(" ");
    const ids = parts.map(Number);
    if (ids.some((x) => !Number.isInteger(x))) {
      throw new SyntaxError(`Cannot parse test vector output line ${i + 1}: ${JSON.stringify(line.slice(0, 80))}`);
    }
    return Int32Array.from(ids);
  });
}

/**
 * Format ids like a `.out` line.
 *
 * @param ids Token ids.
 * @returns Space-separated ids with a leading space per id, as the `.out` files written by
 *   `convert_hf_to_gguf_update.py` do (` 9906 1917`); compare lines after trimming.
 */
export function formatVocabTestLine(ids: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < ids.length; i++) s += " " + ids[i];
  return s;
}
