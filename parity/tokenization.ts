/**
 * The tokenization check: exact id equality, per prompt and per variant (add_special × parse_special), as
 * llama.cpp's `tests/test-tokenizer-0` demands; on a mismatch, the first differing index and both tokens' text.
 *
 * @module
 */

import type { TokenDiff, TokenizationCase } from "../receipts/parity_receipt.ts";
import type { TokenizeVariant } from "./subject.ts";
import { firstDifference } from "../receipts/metrics.ts";

/** The four variants every prompt is tokenized with. */
export const TOKENIZE_VARIANTS: readonly TokenizeVariant[] = [
  { addSpecial: true, parseSpecial: false },
  { addSpecial: false, parseSpecial: false },
  { addSpecial: true, parseSpecial: true },
  { addSpecial: false, parseSpecial: true },
];

/** Token text lookup for each side. */
export interface PieceLookup {
  /** Engine's text of a token. */
  readonly engine: (id: number) => string;
  /** Reference's text of a token. */
  readonly reference: (id: number) => string;
}

/**
 * Build one tokenization case.
 *
 * @param ids Both sides' ids for one prompt and variant.
 * @param opts Prompt index, variant and the piece lookups used to describe a mismatch.
 * @returns The case, with `first_diff` when the sequences differ.
 * @example
 * ```ts
 * import { tokenizationCase } from "./tokenization.ts";
 * const c = tokenizationCase({ engine: [1, 5], reference: [1, 6] }, {
 *   prompt: 0, variant: { addSpecial: true, parseSpecial: false },
 *   pieces: { engine: (id) => `e${id}`, reference: (id) => `r${id}` },
 * });
 * console.log(c.match, c.first_diff?.index, c.first_diff?.engine_piece); // false 1 e5
 * ```
 */
export function tokenizationCase(
  ids: { readonly engine: ArrayLike<number>; readonly reference: ArrayLike<number> },
  opts: { readonly prompt: number; readonly variant: TokenizeVariant; readonly pieces: PieceLookup },
): TokenizationCase {
  const at = firstDifference(ids.engine, ids.reference);
  let first_diff: TokenDiff | null = null;
  if (at >= 0) {
    const e = at < ids.engine.length ? ids.engine[at] : null;
    const r = at < ids.reference.length ? ids.reference[at] : null;
    first_diff = {
      index: at,
      engine_id: e,
      reference_id: r,
      engine_piece: e === null ? null : safePiece(opts.pieces.engine, e),
      reference_piece: r === null ? null : safePiece(opts.pieces.reference, r),
    };
  }
  return {
    prompt: opts.prompt,
    add_special: opts.variant.addSpecial,
    parse_special: opts.variant.parseSpecial,
    engine_ids: Array.from(ids.engine),
    reference_ids: Array.from(ids.reference),
    match: at < 0,
    first_diff,
  };
}

/** A piece for a report: an id outside a side's vocabulary must not hide the mismatch behind an exception. */
function safePiece(lookup: (id: number) => string, id: number): string {
  try {
    return lookup(id);
  } catch (e) {
    return `<error: ${(e as Error).message}>`;
  }
}
