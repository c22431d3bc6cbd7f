/**
 * The plain O(n^2) BPE merge, kept as the test oracle for {@link bpeMerge} in bpe.ts (the role
 * `tiktoken/_educational.py` plays for tiktoken): repeatedly merge the adjacent pair with the lowest merge rank,
 * the leftmost one on ties, until no adjacent pair has a rank.
 *
 * @module
 */

import { mergeKey } from "./vocab.ts";

/**
 * Merge one pre-tokenized word.
 *
 * @param word The word (byte-encoded for byte-level BPE); its codepoints are the initial symbols.
 * @param ranks `mergeKey(left, right)` -> rank.
 * @returns The final symbols, in order; they concatenate to `word`.
 * @example
 * ```ts
 * import { bpeMergeRef } from "./bpe_ref.ts";
 * import { mergeKey } from "./vocab.ts";
 * const ranks = new Map([[mergeKey("a", "b"), 0], [mergeKey("ab", "c"), 1]]);
 * console.log(bpeMergeRef("abcab", ranks)); // ["abc", "ab"]
 * ```
 */
export function bpeMergeRef(word: string, ranks: ReadonlyMap<string, number>): string[] {
  const symbols = Array.from(word);
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(mergeKey(symbols[i], symbols[i + 1]));
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return symbols;
    symbols.splice(best, 2, symbols[best] + symbols[best + 1]);
  }
}
