/**
 * The SentencePiece-style (`llama`) tokenizer of llama.cpp, `llm_tokenizer_spm_session` (src/llama-vocab.cpp:
 * 96-240 at the pinned commit): symbols are UTF-8 characters; adjacent pairs that form a vocabulary token are
 * merged highest score first (leftmost on ties); a final symbol that is not a token is re-split along the merge
 * that built it, or emitted as `<0xNN>` byte tokens.
 *
 * Text is handled as a "binary string" (one char per byte, U+0000..U+00FF) so that invalid UTF-8 behaves exactly
 * as in llama.cpp, which works on raw bytes.
 *
 * @module
 */

import { utf8SeqLen } from "./utf8.ts";

/** What the SPM session needs from the vocabulary. */
export interface SpmVocab {
  /** Token id for a binary-string text, or undefined. */
  textToToken(bin: string): number | undefined;
  /** Token score. */
  score(id: number): number;
  /** `byte_to_token`: the `<0xNN>` token (or the single-byte token) for a byte. */
  byteToToken(byte: number): number;
  /** Number of tokens. */
  readonly size: number;
}

/**
 * Tokenize one fragment, already space-escaped (U+2581) and space-prefixed as llama.cpp's `tokenize` does.
 *
 * @param text Binary string (one char per byte).
 * @param vocab Vocabulary access.
 * @param output Ids are appended here.
 */
export function spmTokenize(text: string, vocab: SpmVocab, output: number[]): void {
  const n0 = text.length;
  const start: number[] = [];
  const len: number[] = [];
  const prev: number[] = [];
  const next: number[] = [];
  // split string into utf8 chars
  for (let offs = 0, index = 0; offs < n0; index++) {
    const n = Math.min(utf8SeqLen(text.charCodeAt(offs)), n0 - offs);
    start.push(offs);
    len.push(n);
    offs += n;
    prev.push(index - 1);
    next.push(offs === n0 ? -1 : index + 1);
  }

  // max-heap of bigrams by (score desc, left asc): llm_bigram_spm::comparator
  const hScore: number[] = [];
  const hLeft: number[] = [];
  const hRight: number[] = [];
  const hSize: number[] = [];
  const before = (i: number, j: number) => hScore[i] > hScore[j] || (hScore[i] === hScore[j] && hLeft[i] < hLeft[j]);
  const swap = (i: number, j: number) => {
    let t = hScore[i];
    hScore[i] = hScore[j];
    hScore[j] = t;
    t = hLeft[i];
    hLeft[i] = hLeft[j];
    hLeft[j] = t;
    t = hRight[i];
    hRight[i] = hRight[j];
    hRight[j] = t;
    t = hSize[i];
    hSize[i] = hSize[j];
    hSize[j] = t;
  };
  const revMerge = new Map<string, [number, number]>();

  const tryAddBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const t = text.substr(start[left], len[left] + len[right]);
    const token = vocab.textToToken(t);
    if (token === undefined || token >= vocab.size) return;
    let i = hScore.length;
    hScore.push(vocab.score(token));
    hLeft.push(left);
    hRight.push(right);
    hSize.push(t.length);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(i, p)) break;
      swap(i, p);
      i = p;
    }
    revMerge.set(t, [left, right]);
  };

  // seed the work queue with all possible 2-character tokens.
  for (let i = 1; i < start.length; i++) tryAddBigram(i - 1, i);

  // keep substituting the highest frequency pairs for as long as we can.
  while (hScore.length > 0) {
    const left = hLeft[0];
    const right = hRight[0];
    const size = hSize[0];
    const last = hScore.length - 1;
    swap(0, last);
    hScore.pop();
    hLeft.pop();
    hRight.pop();
    hSize.pop();
    for (let i = 0;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const m = r < last && before(r, l) ? r : l;
      if (!before(m, i)) break;
      swap(m, i);
      i = m;
    }
    // if one of the symbols already got merged, skip it.
    if (len[left] === 0 || len[right] === 0 || len[left] + len[right] !== size) continue;
    // merge the right sym into the left one
    len[left] += len[right];
    len[right] = 0;
    // remove the right sym from the chain
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    // find more substitutions
    tryAddBigram(prev[left], left);
    tryAddBigram(left, next[left]);
  }

  const resegment = (i: number): void => {
    const t = text.substr(start[i], len[i]);
    const token = vocab.textToToken(t);
    if (token !== undefined) {
      output.push(token);
      return;
    }
    const p = revMerge.get(t);
    if (p === undefined) {
      // output any symbols that did not form tokens as bytes.
      for (let j = 0; j < t.length; j++) output.push(vocab.byteToToken(t.charCodeAt(j)));
      return;
    }
    resegment(p[0]);
    resegment(p[1]);
  };
  for (let i = 0; i !== -1 && start.length > 0; i = next[i]) resegment(i);
}
