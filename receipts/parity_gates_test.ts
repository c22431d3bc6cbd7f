/**
 * The verdict functions: each gate fires on its own violation, the near-tie rule has sharp edges, greedy
 * verdicts ignore a recorded `tie` flag, and the overall status is never a pass without the reference.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_THRESHOLDS as T,
  FAST_THRESHOLDS,
  gatesFor,
  IK_F32_FLOAT_THRESHOLDS,
  IK_IQ2BN_INT8_THRESHOLDS,
  isExcusedTie,
  judgeGreedy,
  judgeLogits,
  judgeOverall,
  judgeTokenization,
  localizedStatus,
  summarizeLogitsRows,
} from "./parity_gates.ts";
import { compareLogitRow } from "../parity/logits.ts";
import { tokenizationCase } from "../parity/tokenization.ts";
import type { GreedyPrompt, LogitsRow } from "./parity_receipt.ts";

const V = 64;
function logits(seed: number): Float32Array {
  return Float32Array.from({ length: V }, (_, i) => 3 * Math.sin(seed * 7.1 + i * 1.3) + (i === seed % V ? 4 : 0));
}
function rows(n: number, perturb: (x: Float32Array, i: number) => Float32Array): LogitsRow[] {
  return Array.from({ length: n }, (_, i) => {
    const ref = logits(i);
    return compareLogitRow(ref, perturb(ref.slice(), i), { prompt: 0, pos: i, token: i });
  });
}
const codes = (v: { reasons: { code: string }[] }) => v.reasons.map((r) => r.code);

Deno.test("judgeLogits() passes identical logits and fails each gate on its own violation", () => {
  const same = rows(40, (x) => x);
  assert.equal(judgeLogits(same, summarizeLogitsRows(same, T), T).status, "pass");

  // One position scrambled: cosine, max KLD and a decisive flip; the mean and median stay small.
  const one = rows(40, (x, i) => (i === 7 ? x.reverse() : x));
  const v1 = judgeLogits(one, summarizeLogitsRows(one, T), T);
  assert.equal(v1.status, "fail");
  assert.ok(codes(v1).includes("cosine_below_min") && codes(v1).includes("kld_max_above_max"), codes(v1).join());
  assert.ok(v1.reasons.some((r) => r.message.includes("position 7")));
  assert.ok(!codes(v1).includes("kld_median_above_max"));

  // Every position shifted a little: a dense error the median sees.
  const dense = rows(40, (x) => x.map((v, k) => v + 0.5 * Math.cos(k)));
  const s = summarizeLogitsRows(dense, T)!;
  assert.ok(s.kld.median! > T.kld_median_max, `the perturbation must be dense enough (median ${s.kld.median})`);
  const v2 = judgeLogits(dense, s, T);
  assert.equal(v2.status, "fail");
  assert.ok(codes(v2).includes("kld_median_above_max"));

  // A NaN logit can never pass.
  const nan = rows(40, (x, i) => (i === 3 ? x.fill(NaN) : x));
  assert.equal(judgeLogits(nan, summarizeLogitsRows(nan, T), T).status, "fail");
  assert.equal(judgeLogits([], null, T).status, "not_run");
});

Deno.test("isExcusedTie() needs both gaps below epsilon and each choice in the other's top-k", () => {
  const e = T.tie_logit_epsilon, k = T.tie_top_k;
  const ok = { engGap: e / 2, refGap: e / 2, engRankOfRef: 1, refRankOfEng: 1 };
  assert.equal(isExcusedTie(ok, T), true);
  assert.equal(isExcusedTie({ ...ok, engGap: e }, T), false);
  assert.equal(isExcusedTie({ ...ok, refGap: e }, T), false);
  assert.equal(isExcusedTie({ ...ok, engRankOfRef: k }, T), false);
  assert.equal(isExcusedTie({ ...ok, refRankOfEng: k }, T), false);
  assert.equal(isExcusedTie({ ...ok, engGap: null }, T), false);
});

Deno.test("judgeGreedy() recomputes ties from gaps and ranks, never trusting the recorded flag", () => {
  const div = {
    prompt: 0,
    step: 2,
    engine_token: 5,
    reference_token: 6,
    engine_piece: "a",
    reference_piece: "b",
    engine_top5: [],
    reference_top5: [],
    engine_gap: 10,
    reference_gap: 10,
    engine_rank_of_reference_token: 1,
    reference_rank_of_engine_token: 1,
    tie: true,
  };
  const p: GreedyPrompt = {
    prompt: 0,
    steps: 3,
    engine_ids: [1, 2, 5],
    reference_ids: [1, 2, 6],
    divergences: [div],
    status: "pass",
  };
  const v = judgeGreedy([p], 3, T);
  assert.equal(v.status, "fail");
  assert.deepEqual(codes(v), ["token_divergence"]);
  const tie = {
    ...p,
    divergences: [{ ...div, engine_gap: T.tie_logit_epsilon / 10, reference_gap: T.tie_logit_epsilon / 10 }],
  };
  assert.equal(judgeGreedy([tie], 3, T).status, "pass");
  // A difference without any divergence record fails; so do missing steps.
  assert.equal(judgeGreedy([{ ...p, divergences: [] }], 3, T).status, "fail");
  assert.deepEqual(
    codes(judgeGreedy([{ ...p, steps: 2, engine_ids: [1, 2], reference_ids: [1, 2], divergences: [] }], 3, T)),
    ["steps_missing"],
  );
  assert.equal(judgeGreedy([], 3, T).status, "not_run");
});

Deno.test("judgeTokenization() names the first differing index and both pieces", () => {
  const c = tokenizationCase({ engine: [1, 2, 3], reference: [1, 2, 4, 5] }, {
    prompt: 3,
    variant: { addSpecial: true, parseSpecial: true },
    pieces: { engine: (id) => `<e${id}>`, reference: (id) => `<r${id}>` },
  });
  assert.equal(c.match, false);
  assert.deepEqual(c.first_diff, {
    index: 2,
    engine_id: 3,
    reference_id: 4,
    engine_piece: "<e3>",
    reference_piece: "<r4>",
  });
  const v = judgeTokenization([c]);
  assert.equal(v.status, "fail");
  assert.match(v.reasons[0].message, /prompt 3 .*parse_special=true.*index 2.*"<e3>".*"<r4>"/);
  assert.equal(judgeTokenization([]).status, "not_run");
});

Deno.test("judgeOverall() is never pass without the reference or without compared tokens; engine failure is fail", () => {
  const all = { tokenization: "pass", logits: "pass", greedy: "pass", localization: "pass" } as const;
  assert.equal(judgeOverall({ ...all, referenceRan: true, engineRan: true, comparedTokens: 5 }), "pass");
  assert.equal(judgeOverall({ ...all, referenceRan: false, engineRan: true, comparedTokens: 5 }), "not_run");
  assert.equal(judgeOverall({ ...all, referenceRan: true, engineRan: true, comparedTokens: 0 }), "not_run");
  assert.equal(judgeOverall({ ...all, referenceRan: true, engineRan: false, comparedTokens: 0 }), "fail");
  assert.equal(
    judgeOverall({ ...all, greedy: "not_run", referenceRan: true, engineRan: true, comparedTokens: 5 }),
    "fail",
  );
});

Deno.test("judgeOverall() says reference_crashed when the reference process died, whatever else happened", () => {
  const all = { tokenization: "pass", logits: "pass", greedy: "pass", localization: "pass" } as const;
  const crashed = { ...all, referenceRan: false, referenceCrashed: true, comparedTokens: 0 };
  assert.equal(judgeOverall({ ...crashed, engineRan: true }), "reference_crashed");
  assert.equal(judgeOverall({ ...crashed, engineRan: false }), "reference_crashed");
  assert.equal(judgeOverall({ ...crashed, referenceCrashed: false, engineRan: true }), "not_run");
});

Deno.test("localizedStatus() needs a dense majority of clean-input rows to call an op divergent", () => {
  const { min_clean_rows: m, dense_fraction: f } = T.localization;
  assert.equal(localizedStatus(m - 1, m - 1, T), "undetermined");
  assert.equal(localizedStatus(100, Math.floor(100 * f), T), "ok");
  assert.equal(localizedStatus(100, Math.floor(100 * f) + 1, T), "exceeded");
});

Deno.test("gatesFor() picks the gates by reference, its input, our activations and our kernel set", () => {
  const llama = { library: "llama.cpp", input: null } as const;
  assert.equal(gatesFor({ ...llama, activations: "int8" }), T);
  assert.equal(gatesFor({ ...llama, activations: null, numerics: null }), T, "absent fields: int8, exact");
  assert.equal(gatesFor({ ...llama, activations: "int8", numerics: "fast" }), FAST_THRESHOLDS);
  assert.equal(gatesFor({ library: "custom", input: null, activations: "int8", numerics: "fast" }), FAST_THRESHOLDS);
  assert.equal(gatesFor({ ...llama, activations: "float" }), null, "float activations against llama.cpp: uncalibrated");
  const ik = { library: "ik_llama.cpp" } as const;
  for (const numerics of ["exact", "fast"]) {
    assert.equal(gatesFor({ ...ik, input: "f32", activations: "float", numerics }), IK_F32_FLOAT_THRESHOLDS);
    assert.equal(gatesFor({ ...ik, input: "iq2_bn", activations: "int8", numerics }), IK_IQ2BN_INT8_THRESHOLDS);
    assert.equal(gatesFor({ ...ik, input: "f32", activations: "int8", numerics }), null);
    assert.equal(gatesFor({ ...ik, input: null, activations: "int8", numerics }), null);
  }
  assert.equal(gatesFor({ ...llama, activations: "int8", numerics: "turbo" }), null, "an unknown kernel set");
});
