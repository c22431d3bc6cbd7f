/**
 * The greedy-decode check (the validation spec's AC14): N steps from a prompt, exact token equality. Both sides take
 * their own argmax (lowest id on ties) at every step; at a step where they differ the harness records both tokens,
 * both top-5 lists, each side's top-1/top-2 logit gap and the cross ranks. The difference is excused as a near-tie
 * only under `isExcusedTie` (both gaps below ε and each token in the other's top-k); then both sides continue with
 * the reference's token, so later steps are still compared. Any other difference fails and ends the comparison
 * (the sequences have diverged), as vLLM's `check_logprobs_close` does. End-of-generation tokens do not stop the
 * loop: all N steps are compared.
 *
 * @module
 */

import type { GreedyDivergence, GreedyPrompt, ParityThresholds } from "../receipts/parity_receipt.ts";
import { isExcusedDivergence } from "../receipts/parity_gates.ts";
import { rankOf, topEntries, topGap } from "./logits.ts";
import { argmax, topK } from "../receipts/metrics.ts";
import type { ParitySubject } from "./subject.ts";

/**
 * Describe a step where the two argmaxes differ.
 *
 * @param logits Both sides' logits at the step.
 * @param opts Prompt, step, both tokens, piece lookups, thresholds.
 * @returns The divergence record, `tie` set by the near-tie rule.
 */
export function describeDivergence(
  logits: { readonly engine: Float32Array; readonly reference: Float32Array },
  opts: {
    readonly prompt: number;
    readonly step: number;
    readonly engineToken: number;
    readonly referenceToken: number;
    readonly pieces: { readonly engine: (id: number) => string; readonly reference: (id: number) => string };
    readonly thresholds: ParityThresholds;
  },
): GreedyDivergence {
  const { engine: e, reference: r } = logits;
  const engine_gap = topGap(e, topK(e, 2)), reference_gap = topGap(r, topK(r, 2));
  const engine_rank_of_reference_token = rankOf(e, opts.referenceToken);
  const reference_rank_of_engine_token = rankOf(r, opts.engineToken);
  const d = {
    prompt: opts.prompt,
    step: opts.step,
    engine_token: opts.engineToken,
    reference_token: opts.referenceToken,
    engine_piece: opts.pieces.engine(opts.engineToken),
    reference_piece: opts.pieces.reference(opts.referenceToken),
    engine_top5: topEntries(e, 5, opts.pieces.engine),
    reference_top5: topEntries(r, 5, opts.pieces.reference),
    engine_gap,
    reference_gap,
    engine_rank_of_reference_token,
    reference_rank_of_engine_token,
  };
  return { ...d, tie: isExcusedDivergence(d, opts.thresholds) };
}

/**
 * Greedy-decode `steps` tokens from `ids` on both sides and compare step by step.
 *
 * @param sides Engine and reference.
 * @param opts Prompt index, prompt ids, steps, thresholds.
 * @returns The per-prompt record (status `pass` when every difference is an excused near-tie).
 * @throws Whatever a side throws (the harness classifies it).
 */
export async function compareGreedy(
  sides: { readonly engine: ParitySubject; readonly reference: ParitySubject },
  opts: {
    readonly prompt: number;
    readonly ids: Int32Array;
    readonly steps: number;
    readonly thresholds: ParityThresholds;
  },
): Promise<GreedyPrompt> {
  const { engine, reference } = sides;
  const engine_ids: number[] = [], reference_ids: number[] = [];
  const divergences: GreedyDivergence[] = [];
  let status: GreedyPrompt["status"] = "pass";
  if (opts.steps === 0) return { prompt: opts.prompt, steps: 0, engine_ids, reference_ids, divergences, status };
  let e = await engine.begin(opts.ids);
  let r = await reference.begin(opts.ids);
  for (let s = 0; s < opts.steps; s++) {
    const et = argmax(e), rt = argmax(r);
    engine_ids.push(et);
    reference_ids.push(rt);
    if (et !== rt) {
      const d = describeDivergence({ engine: e, reference: r }, {
        prompt: opts.prompt,
        step: s,
        engineToken: et,
        referenceToken: rt,
        pieces: { engine: (id) => engine.piece(id), reference: (id) => reference.piece(id) },
        thresholds: opts.thresholds,
      });
      divergences.push(d);
      if (!d.tie) {
        status = "fail";
        break;
      }
    }
    if (s === opts.steps - 1) break;
    // After an excused tie both continue with the reference's choice, so the rest is still comparable.
    e = await engine.step(rt);
    r = await reference.step(rt);
  }
  return { prompt: opts.prompt, steps: engine_ids.length, engine_ids, reference_ids, divergences, status };
}
