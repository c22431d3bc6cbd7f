/**
 * The BPE merge step for one pre-tokenized word, as `llm_tokenizer_bpe_session::tokenize` does it
 * (src/llama-vocab.cpp:626-695): a priority queue of adjacent pairs ordered by (merge rank, left position);
 * popping a pair that is stale (one side already merged or grown) skips it. O(n log n) per word; bpe_ref.ts is
 * the O(n^2) oracle it is tested against.
 *
 * @module
 */

import { mergeKey } from "./vocab.ts";

/** Reusable scratch space. Merging never calls out to other code, so one module-level instance is safe. */
class BpeScratch {
  start: Int32Array = new Int32Array(64);
  len: Int32Array = new Int32Array(64);
  prev: Int32Array = new Int32Array(64);
  next: Int32Array = new Int32Array(64);
  // min-heap of bigrams keyed by (rank, left)
  hRank: number[] = [];
  hLeft: number[] = [];
  hSize: number[] = [];
  hLen = 0;

  ensure(n: number): void {
    if (this.start.length >= n) return;
    const cap = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
  }

  #less(i: number, j: number): boolean {
    const a = this.hRank[i];
    const b = this.hRank[j];
    return a < b || (a === b && this.hLeft[i] < this.hLeft[j]);
  }

  #swap(i: number, j: number): void {
    let t = this.hRank[i];
    this.hRank[i] = this.hRank[j];
    this.hRank[j] = t;
    t = this.hLeft[i];
    this.hLeft[i] = this.hLeft[j];
    this.hLeft[j] = t;
    t = this.hSize[i];
    this.hSize[i] = this.hSize[j];
    this.hSize[j] = t;
  }

  push(rank: number, left: number, size: number): void {
    let i = this.hLen++;
    this.hRank[i] = rank;
    this.hLeft[i] = left;
    this.hSize[i] = size;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Pop the minimum into `top*`. */
  pop(): void {
    this.topRank = this.hRank[0];
    this.topLeft = this.hLeft[0];
    this.topSize = this.hSize[0];
    const last = --this.hLen;
    if (last > 0) {
      this.hRank[0] = this.hRank[last];
      this.hLeft[0] = this.hLeft[last];
      this.hSize[0] = this.hSize[last];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        const m = r < last && this.#less(r, l) ? r : l;
        if (!this.#less(m, i)) break;
        this.#swap(m, i);
        i = m;
      }
    }
  }
  topRank = 0;
  topLeft = 0;
  topSize = 0;
}

const SCRATCH = new BpeScratch();

/**
 * Merge one word.
 *
 * @param word The word (byte-encoded for byte-level BPE); its codepoints are the initial symbols.
 * @param ranks `mergeKey(left, right)` -> rank.
 * @returns The final symbols in order; they concatenate to `word`.
 * @example
 * ```ts
 * import { bpeMerge } from "./bpe.ts";
 * import { mergeKey } from "./vocab.ts";
 * const ranks = new Map([[mergeKey("a", "b"), 0], [mergeKey("ab", "c"), 1]]);
 * console.log(bpeMerge("abcab", ranks)); // ["abc", "ab"]
 * ```
 */
export function bpeMerge(word: string, ranks: ReadonlyMap<string, number>): string[] {
  const s = SCRATCH;
  s.ensure(word.length);
  const { start, len, prev, next } = s;
  // split into codepoints (llama.cpp: unicode_len_utf8 over the UTF-8 of the word)
  let n = 0;
  for (let u = 0; u < word.length;) {
    const c = word.charCodeAt(u);
    const w = c >= 0xd800 && c <= 0xdbff && u + 1 < word.length ? 2 : 1;
    start[n] = u;
    len[n] = w;
    prev[n] = n - 1;
    n++;
    u += w;
  }
  for (let i = 0; i < n; i++) next[i] = i + 1 < n ? i + 1 : -1;

  s.hLen = 0;
  const addBigram = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const l = word.substr(start[left], len[left]);
    const r = word.substr(start[right], len[right]);
    const rank = ranks.get(mergeKey(l, r));
    if (rank === undefined) return;
    s.push(rank, left, len[left] + len[right]);
  };
  for (let i = 1; i < n; i++) addBigram(i - 1, i);

  while (s.hLen > 0) {
    s.pop();
    const left = s.topLeft;
    const right = next[left];
    // stale: one side already merged away, or grown since the pair was queued
    if (len[left] === 0 || right < 0 || len[right] === 0 || len[left] + len[right] !== s.topSize) continue;
    len[left] += len[right];
    len[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    addBigram(prev[left], left);
    addBigram(left, next[left]);
  }

  const out: string[] = [];
  for (let i = 0; i !== -1 && n > 0; i = next[i]) out.push(word.substr(start[i], len[i]));
  return out;
}
