/**
 * The logits check, per position: for every position of every prompt (not only the last), cosine similarity,
 * KL(reference ‖ engine) from full-vocabulary f64 log-softmaxes, both argmaxes with their top-1/top-2 gaps and
 * cross ranks (for the near-tie rule), max |Δlogit|, and Δp of the reference's choice. The verdict over all rows
 * is `judgeLogits` in receipts/parity_gates.ts.
 *
 * @module
 */

import type { LogitsRow, TopEntry } from "../receipts/parity_receipt.ts";
import { cosineSimilarity, klDivergenceLogProbs, logSoftmax, maxAbsDiff, topK } from "../receipts/metrics.ts";

/**
 * 0-based rank of `id` in `x` under the greedy order (larger first, lower id first among equals).
 *
 * @param x Logits.
 * @param id Token.
 * @returns Number of tokens ranked before `id` (`x.length` when `id` is out of range or `x[id]` is NaN).
 * @example
 * ```ts
 * import { rankOf } from "./logits.ts";
 * console.log(rankOf([0.5, 2, 2, 1], 2)); // 1
 * ```
 */
export function rankOf(x: ArrayLike<number>, id: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= x.length) return x.length;
  const v = x[id];
  if (Number.isNaN(v)) return x.length;
  let r = 0;
  for (let j = 0; j < x.length; j++) if (x[j] > v || (x[j] === v && j < id)) r++;
  return r;
}

/** Top-1 minus top-2 logit (null when NaN or fewer than two values). */
export function topGap(x: ArrayLike<number>, top2: readonly number[]): number | null {
  if (top2.length < 2) return null;
  const g = x[top2[0]] - x[top2[1]];
  return Number.isFinite(g) ? g : null;
}

/**
 * Top `k` entries of a row with their logits and texts.
 *
 * @param x Logits.
 * @param k How many.
 * @param piece Token text lookup.
 * @returns Entries, best first.
 */
export function topEntries(x: ArrayLike<number>, k: number, piece: (id: number) => string): TopEntry[] {
  return topK(x, k).map((id) => ({ id, logit: Number.isFinite(x[id]) ? x[id] : null, piece: piece(id) }));
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

/**
 * Compare one position's logits.
 *
 * @param ref Reference logits row (`[nVocab]`).
 * @param eng Engine logits row, same length.
 * @param where Prompt index, position and input token.
 * @returns The row record (NaN metrics as null).
 * @throws {RangeError} When the rows differ in length.
 * @example
 * ```ts
 * import { compareLogitRow } from "./logits.ts";
 * const r = compareLogitRow(Float32Array.of(1, 2, 3), Float32Array.of(1, 2, 3), { prompt: 0, pos: 0, token: 7 });
 * console.log(r.cosine, r.kld, r.ref_top1 === r.eng_top1); // 1 0 true
 * ```
 */
export function compareLogitRow(
  ref: Float32Array,
  eng: Float32Array,
  where: { readonly prompt: number; readonly pos: number; readonly token: number },
): LogitsRow {
  if (ref.length !== eng.length) {
    throw new RangeError(
      `Cannot compare logits at prompt ${where.prompt} position ${where.pos}: ${ref.length} vs ${eng.length} values`,
    );
  }
  const lpRef = logSoftmax(ref), lpEng = logSoftmax(eng);
  const refTop = topK(ref, 2), engTop = topK(eng, 2);
  const refTop1 = refTop[0] ?? -1, engTop1 = engTop[0] ?? -1;
  const dp = refTop1 >= 0 ? Math.exp(lpEng[refTop1]) - Math.exp(lpRef[refTop1]) : NaN;
  return {
    prompt: where.prompt,
    pos: where.pos,
    token: where.token,
    cosine: num(cosineSimilarity(ref, eng)),
    kld: num(klDivergenceLogProbs(lpRef, lpEng)),
    max_abs_dlogit: num(maxAbsDiff(ref, eng)),
    dp: num(dp),
    ref_top1: refTop1,
    eng_top1: engTop1,
    ref_gap: topGap(ref, refTop),
    eng_gap: topGap(eng, engTop),
    eng_rank_of_ref_top1: refTop1 >= 0 ? rankOf(eng, refTop1) : eng.length,
    ref_rank_of_eng_top1: engTop1 >= 0 ? rankOf(ref, engTop1) : ref.length,
  };
}

/**
 * Compare every position of one prompt.
 *
 * @param logits Both sides' `[n][nVocab]` logits for the same `ids`.
 * @param opts Prompt index, the input ids and the row length.
 * @returns One row per position.
 * @throws {RangeError} When a side's array is not `ids.length * nVocab` long.
 */
export function compareLogitRows(
  logits: { readonly reference: Float32Array; readonly engine: Float32Array },
  opts: { readonly prompt: number; readonly ids: Int32Array; readonly nVocab: number },
): LogitsRow[] {
  const { ids, nVocab: V } = opts;
  for (const [side, a] of [["reference", logits.reference], ["engine", logits.engine]] as const) {
    if (a.length !== ids.length * V) {
      throw new RangeError(
        `Cannot compare logits of prompt ${opts.prompt}: the ${side} returned ${a.length} values, expected ` +
          `${ids.length} positions × ${V}`,
      );
    }
  }
  const rows: LogitsRow[] = [];
  for (let p = 0; p < ids.length; p++) {
    rows.push(
      compareLogitRow(logits.reference.subarray(p * V, (p + 1) * V), logits.engine.subarray(p * V, (p + 1) * V), {
        prompt: opts.prompt,
        pos: p,
        token: ids[p],
      }),
    );
  }
  return rows;
}
