/**
 * The verdicts: from per-position rows, tokenization cases and greedy records to pass/fail, with reasons. Pure
 * functions with one definition, used both by the harness that writes a receipt and by `crossval receipt verify`
 * that recomputes it, so a receipt's status can only be what its own numbers say.
 *
 * Threshold values and how they were chosen: docs/parity.md ("Calibration").
 *
 * @module
 */

import { proportion, rms, summarize } from "./metrics.ts";
import type {
  GreedyDivergence,
  GreedyPrompt,
  LocalizationCheck,
  LogitsRow,
  LogitsSummary,
  ParityOverallStatus,
  ParityReason,
  ParityStatus,
  ParityThresholds,
  SummaryJson,
  TokenizationCase,
} from "./parity_receipt.ts";

/**
 * Intermediate kinds in llama.cpp's graph order for one layer of the `bitnet` graph (`src/models/bitnet.cpp`) and
 * the `llama` graph (`src/models/llama.cpp`), merged (`build_ffn` in `src/llama-graph.cpp` names the gated
 * activation `ffn_swiglu`, and the llama graph its down projection `ffn_out`); a model has the kinds of its graph;
 * `*_s` exist only in models with per-tensor scales.
 */
export const LAYER_TENSOR_KINDS: readonly string[] = [
  "attn_norm",
  "Qcur",
  "Kcur",
  "Vcur",
  "kqv_out",
  "attn_sub_norm",
  "attn_out",
  "ffn_inp",
  "ffn_norm",
  "ffn_up",
  "ffn_up_s",
  "ffn_gate",
  "ffn_gate_s",
  "ffn_sub_out",
  "ffn_swiglu",
  "ffn_sub_norm",
  "ffn_down",
  "ffn_out",
  "l_out",
];

/** Kinds after the last layer, in graph order. */
export const OUTPUT_TENSOR_KINDS: readonly string[] = ["result_norm", "result_output"];

/**
 * The gates in force (calibrated on generated models, docs/parity.md). The NMSE tolerances are per intermediate
 * kind; activations that are quantized before a ternary matmul see a rounding flip of one int8 as a discrete jump,
 * so matmul outputs get more room than norms of their inputs.
 */
export const DEFAULT_THRESHOLDS: ParityThresholds = {
  id: "parity-gates/1",
  cosine_min: 0.99,
  kld_mean_max: 5e-3,
  kld_median_max: 5e-3,
  kld_max_max: 5e-2,
  same_top_min: 0.92,
  tie_logit_epsilon: 0.25,
  tie_top_k: 5,
  localization: {
    clean_row_nmse: 1e-10,
    new_error_row_nmse: {
      ...Object.fromEntries([...LAYER_TENSOR_KINDS, "result_norm"].map((k) => [k, 1e-9])),
      result_output: 1e-8,
    },
    dense_fraction: 0.5,
    min_clean_rows: 8,
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Gates per reference (docs/parity.md, "Gates per reference")

/** What decides which gate set a receipt is judged with: the reference, the file it ran, our activations. */
export interface GateKey {
  /** `llama.cpp`, `ik_llama.cpp` or `custom`. */
  readonly library: string;
  /** Weight format of the file the reference ran after a transcode (`f32`, `iq2_bn`), or null for the model itself. */
  readonly input: string | null;
  /** Our engine's activation precision (`int8` when absent, the only one before schema 1.2.0). */
  readonly activations: string | null;
  /** Our engine's kernel set (`exact` when absent or null, the only one before schema 1.2.0). */
  readonly numerics?: string | null;
}

/**
 * ik_llama.cpp on the lossless F32 transcode against our engine with float activations: the same math (no
 * activation quantization on either side) in another float order, with ik_llama.cpp's F16 V cache (its only choice
 * without flash attention). Calibrated on the generated bitnet-b1.58 shapes (docs/parity.md, "Gates for
 * ik_llama.cpp"): worst clean 1 - cosine 2.5e-6, KLD mean 2.6e-6, KLD max 1.2e-5, op NMSE 1.2e-5. Each logit gate
 * sits about 8x above the worst clean run and below the smallest fault (one flipped ternary weight: KLD max 2.6e-4 in
 * layer 3, KLD mean 4.8e-5 in layer 1); the op tolerance 8x above the worst clean op, 2x to 10000x below the gross
 * faults, each localized to its op.
 */
export const IK_F32_FLOAT_THRESHOLDS: ParityThresholds = {
  id: "parity-gates/ik_llama-f32-float/1",
  cosine_min: 0.9999,
  kld_mean_max: 2e-5,
  kld_median_max: 2e-5,
  kld_max_max: 1e-4,
  same_top_min: 0.95,
  tie_logit_epsilon: 0.25,
  tie_top_k: 5,
  localization: {
    clean_row_nmse: 1e-5,
    new_error_row_nmse: Object.fromEntries([...LAYER_TENSOR_KINDS, ...OUTPUT_TENSOR_KINDS].map((k) => [k, 1e-4])),
    dense_fraction: 0.5,
    min_clean_rows: 8,
  },
};

/**
 * ik_llama.cpp on its own IQ2_BN requantization (the same ternary weights, proven element for element) against our
 * engine with int8 activations: both quantize activations to 8 bits, ik_llama.cpp to Q8_K64 blocks and we per token
 * as bitnet.cpp, so the two sides differ by two activation conventions at every ternary matmul. That noise is large
 * on generated models (KLD mean up to 0.075, top-1 agreement 72%, top-1 flips with gaps up to 1.9 and cross ranks up
 * to 13), so these gates are coarse: calibrated to pass the clean runs and fail the gross faults (wrong RoPE pairing,
 * off-by-one position, missing sub-norm, SiLU for squared ReLU), not a flipped weight, which only the F32 comparison
 * ({@link IK_F32_FLOAT_THRESHOLDS}) sees (docs/parity.md, "Gates for ik_llama.cpp").
 */
export const IK_IQ2BN_INT8_THRESHOLDS: ParityThresholds = {
  id: "parity-gates/ik_llama-iq2_bn-int8/1",
  cosine_min: 0.93,
  kld_mean_max: 0.11,
  kld_median_max: 0.1,
  kld_max_max: 0.5,
  same_top_min: 0.68,
  tie_logit_epsilon: 2.5,
  tie_top_k: 20,
  localization: {
    clean_row_nmse: 1e-2,
    new_error_row_nmse: Object.fromEntries([...LAYER_TENSOR_KINDS, ...OUTPUT_TENSOR_KINDS].map((k) => [k, 0.15])),
    dense_fraction: 0.5,
    min_clean_rows: 8,
  },
};

/**
 * The gates of the `fast` numerics profile (calibrated on generated models of every family, docs/parity.md
 * "Fast profile"): the logit gates of {@link DEFAULT_THRESHOLDS}, which were calibrated on kernels with their own
 * float order too; localization allows the denser rounding differences of the fast kernels.
 */
export const FAST_THRESHOLDS: ParityThresholds = {
  ...DEFAULT_THRESHOLDS,
  id: "parity-gates-fast/1",
  localization: {
    ...DEFAULT_THRESHOLDS.localization,
    new_error_row_nmse: {
      ...DEFAULT_THRESHOLDS.localization.new_error_row_nmse,
      // The fast F16/BF16 output GEMV multiplies f32 activations (llama.cpp rounds result_norm to the weight type
      // first): clean rows then differ by that rounding, NMSE 3e-8..7e-8 (F16) and 2e-6..3.6e-6 (BF16) measured.
      result_output: 2e-5,
    },
  },
};

/** Every gate set, by id. */
export const GATE_SETS: ReadonlyMap<string, ParityThresholds> = new Map(
  [DEFAULT_THRESHOLDS, FAST_THRESHOLDS, IK_F32_FLOAT_THRESHOLDS, IK_IQ2BN_INT8_THRESHOLDS].map((t) => [t.id, t]),
);

/**
 * The gates a run is judged with: the pinned llama.cpp (and a user's llama.cpp build) with our engine's int8
 * activations gets {@link DEFAULT_THRESHOLDS} for the bit-exact `exact` kernels and {@link FAST_THRESHOLDS} for the
 * `fast` ones; ik_llama.cpp, whose float order neither profile replicates, gets the set calibrated for the file it
 * ran and our activation precision, in either profile (the fast kernels' rounding differences are orders of
 * magnitude below ik_llama.cpp's own: docs/parity.md, "Fast profile"). A combination nobody calibrated has no
 * gates: null.
 *
 * @param k Library, the reference's input format, our activations and kernel set.
 * @returns The gate set, or null.
 * @example
 * ```ts
 * import { gatesFor } from "./parity_gates.ts";
 * console.log(gatesFor({ library: "ik_llama.cpp", input: "f32", activations: "float" })?.id);
 * // parity-gates/ik_llama-f32-float/1
 * console.log(gatesFor({ library: "llama.cpp", input: null, activations: "int8", numerics: "fast" })?.id);
 * // parity-gates-fast/1
 * ```
 */
export function gatesFor(k: GateKey): ParityThresholds | null {
  const act = k.activations ?? "int8", numerics = k.numerics ?? "exact";
  if (numerics !== "exact" && numerics !== "fast") return null;
  if (k.library !== "ik_llama.cpp") {
    if (act !== "int8") return null;
    return numerics === "fast" ? FAST_THRESHOLDS : DEFAULT_THRESHOLDS;
  }
  if (k.input === "f32" && act === "float") return IK_F32_FLOAT_THRESHOLDS;
  if (k.input === "iq2_bn" && act === "int8") return IK_IQ2BN_INT8_THRESHOLDS;
  return null;
}

/**
 * Status of one localized op from its counts: `exceeded` when it had at least `min_clean_rows` clean-input rows
 * and more than `dense_fraction` of them got a new error; `undetermined` with too few clean-input rows.
 *
 * @param cleanRows Rows whose inputs matched.
 * @param newErrorRows Of those, rows with a new error.
 * @param t Thresholds.
 * @returns The status.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, localizedStatus } from "./parity_gates.ts";
 * console.log(localizedStatus(100, 90, DEFAULT_THRESHOLDS)); // "exceeded"
 * console.log(localizedStatus(100, 2, DEFAULT_THRESHOLDS)); // "ok"
 * ```
 */
export function localizedStatus(
  cleanRows: number,
  newErrorRows: number,
  t: ParityThresholds,
): "ok" | "exceeded" | "undetermined" {
  if (cleanRows < t.localization.min_clean_rows) return "undetermined";
  return newErrorRows > t.localization.dense_fraction * cleanRows ? "exceeded" : "ok";
}

/**
 * Judge the localization check from its per-tensor records (each op's status recomputed from its counts).
 *
 * @param check The check as recorded.
 * @param t Thresholds.
 * @returns `fail` naming the first failing op, `pass`, or `not_run` when nothing was compared.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, judgeLocalization } from "./parity_gates.ts";
 * const check = { status: "not_run" as const, reason: "", prompt: null, n_tokens: 0, sequences: 0, tensors: [], not_compared: [], first_exceedance: null };
 * console.log(judgeLocalization(check, DEFAULT_THRESHOLDS).status); // "not_run"
 * ```
 */
export function judgeLocalization(check: LocalizationCheck, t: ParityThresholds): Verdict {
  if (check.tensors.length === 0) {
    return {
      status: "not_run",
      reasons: [{
        check: "localization",
        code: "no_tensors",
        message: `no intermediate was compared: ${check.reason}`,
      }],
    };
  }
  const bad = check.tensors.find((x) =>
    x.status === "missing_in_engine" || x.status === "shape_mismatch" ||
    localizedStatus(x.clean_rows, x.new_error_rows, t) === "exceeded"
  );
  if (!bad) return { status: "pass", reasons: [] };
  const what = bad.status === "missing_in_engine"
    ? "is missing in our engine (the step is skipped)"
    : bad.status === "shape_mismatch"
    ? "has a different shape"
    : `differs for ${bad.new_error_rows} of ${bad.clean_rows} tokens whose inputs matched (per-row NMSE > ${bad.tolerance})`;
  const op = OP_WORDS[bad.kind];
  const words = op
    ? `first divergence at ${bad.layer === null ? "the output" : `layer ${bad.layer}`} ${op.what}` +
      (bad.status === "exceeded" ? `: given the same ${op.inputs}, ${op.means}` : "") + ". "
    : "";
  return {
    status: "fail",
    reasons: [{
      check: "localization",
      code: bad.status === "missing_in_engine"
        ? "tensor_missing"
        : bad.status === "shape_mismatch"
        ? "tensor_shape"
        : "op_differs",
      message: `${words}first divergent op: ${bad.name}${bad.layer === null ? "" : ` (layer ${bad.layer})`} ${what}`,
    }],
  };
}

/**
 * What a first divergent op means, in words: the op, the inputs that matched (the localization only blames an op
 * whose inputs agreed), and what the two sides must then compute differently.
 */
const OP_WORDS: Readonly<Record<string, { readonly what: string; readonly inputs: string; readonly means: string }>> =
  (() => {
    const norm = (name: string, input: string) => ({
      what: `${name} RMS norm`,
      inputs: input,
      means: "the two sides normalize differently (epsilon, weight or the norm itself)",
    });
    const proj = (what: string, input: string) => ({
      what,
      inputs: input,
      means: "the two sides multiply by different weights or quantize the input differently",
    });
    const activation = {
      what: "ffn activation",
      inputs: "ffn_gate and ffn_up",
      means: "the reference's FFN activation differs (SiLU vs squared ReLU?)",
    };
    return {
      attn_norm: norm("attention", "layer input"),
      ffn_norm: norm("FFN", "residual"),
      attn_sub_norm: norm("attention sub-", "attention output"),
      ffn_sub_norm: norm("FFN sub-", "FFN activation"),
      result_norm: norm("output", "last layer output"),
      Qcur: proj("Q projection / RoPE", "attention norm"),
      Kcur: proj("K projection / RoPE", "attention norm"),
      Vcur: proj("V projection", "attention norm"),
      kqv_out: { what: "attention", inputs: "Q, K and V", means: "the scores, the softmax or the weighted sum differ" },
      attn_out: proj("attention output projection", "attention sub-norm"),
      ffn_inp: { what: "residual add", inputs: "inputs", means: "the residual stream is added differently" },
      l_out: { what: "residual add", inputs: "inputs", means: "the residual stream is added differently" },
      ffn_up: proj("ffn_up projection", "FFN norm"),
      ffn_gate: proj("ffn_gate projection", "FFN norm"),
      ffn_up_s: proj("ffn_up scale", "ffn_up"),
      ffn_gate_s: proj("ffn_gate scale", "ffn_gate"),
      ffn_sub_out: activation,
      ffn_swiglu: activation,
      ffn_down: proj("ffn_down projection", "FFN sub-norm"),
      ffn_out: proj("FFN down projection", "FFN activation"),
      result_output: proj("output matmul", "output norm"),
    };
  })();

/** What {@link isExcusedTie} looks at. */
export interface TieEvidence {
  /** Engine's top-1 − top-2 logit gap (null: NaN). */
  readonly engGap: number | null;
  /** Reference's gap. */
  readonly refGap: number | null;
  /** Rank of the reference's choice in the engine's logits. */
  readonly engRankOfRef: number;
  /** Rank of the engine's choice in the reference's logits. */
  readonly refRankOfEng: number;
}

/**
 * The near-tie rule (vLLM `check_logprobs_close` plus a gap bound): a differing argmax is excused only when both
 * sides' top-1/top-2 logit gaps are below `tie_logit_epsilon` AND each side's choice is in the other's top
 * `tie_top_k`.
 *
 * @param e Gaps and ranks at the position.
 * @param t Thresholds.
 * @returns True when excused.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, isExcusedTie } from "./parity_gates.ts";
 * console.log(isExcusedTie({ engGap: 1e-5, refGap: 2e-5, engRankOfRef: 1, refRankOfEng: 1 }, DEFAULT_THRESHOLDS)); // true
 * ```
 */
export function isExcusedTie(e: TieEvidence, t: ParityThresholds): boolean {
  return e.engGap !== null && e.refGap !== null && e.engGap < t.tie_logit_epsilon &&
    e.refGap < t.tie_logit_epsilon && e.engRankOfRef < t.tie_top_k && e.refRankOfEng < t.tie_top_k;
}

/**
 * Whether a logits row picks a different top-1 token on the two sides without an excused near-tie (a decisive
 * top-1 flip).
 *
 * @param r The row.
 * @param t Thresholds.
 * @returns True when the top-1 tokens differ and {@link isExcusedTie} does not excuse it.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, isDecisiveFlip } from "./parity_gates.ts";
 * const row = { ref_top1: 1, eng_top1: 2, eng_gap: 3, ref_gap: 3, eng_rank_of_ref_top1: 1, ref_rank_of_eng_top1: 1 };
 * console.log(isDecisiveFlip(row, DEFAULT_THRESHOLDS)); // true: the gaps are far above the tie epsilon
 * ```
 */
export function isDecisiveFlip(
  r: Pick<LogitsRow, "ref_top1" | "eng_top1" | "eng_gap" | "ref_gap" | "eng_rank_of_ref_top1" | "ref_rank_of_eng_top1">,
  t: ParityThresholds,
): boolean {
  return r.ref_top1 !== r.eng_top1 &&
    !isExcusedTie({
      engGap: r.eng_gap,
      refGap: r.ref_gap,
      engRankOfRef: r.eng_rank_of_ref_top1,
      refRankOfEng: r.ref_rank_of_eng_top1,
    }, t);
}

/**
 * Whether a greedy divergence is an excused near-tie, recomputed from its recorded gaps and ranks.
 *
 * @param d The divergence.
 * @param t Thresholds.
 * @returns {@link isExcusedTie} of its evidence.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, isExcusedDivergence } from "./parity_gates.ts";
 * const d = { engine_gap: 0.01, reference_gap: 0.02, engine_rank_of_reference_token: 1, reference_rank_of_engine_token: 1 };
 * console.log(isExcusedDivergence(d, DEFAULT_THRESHOLDS)); // true
 * ```
 */
export function isExcusedDivergence(
  d: Pick<
    GreedyDivergence,
    "engine_gap" | "reference_gap" | "engine_rank_of_reference_token" | "reference_rank_of_engine_token"
  >,
  t: ParityThresholds,
): boolean {
  return isExcusedTie({
    engGap: d.engine_gap,
    refGap: d.reference_gap,
    engRankOfRef: d.engine_rank_of_reference_token,
    refRankOfEng: d.reference_rank_of_engine_token,
  }, t);
}

/** A verdict with its reasons. */
export interface Verdict {
  /** Status. */
  readonly status: ParityStatus;
  /** Reasons (empty for a pass). */
  readonly reasons: ParityReason[];
}

const finite = (x: number | null): x is number => x !== null && Number.isFinite(x);
const fmt = (
  x: number | null,
) => (x === null ? "NaN" : Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(3) : x.toFixed(6));

/**
 * Judge the tokenization cases: every case must match exactly.
 *
 * @param cases Prompt × variant comparisons.
 * @returns `pass`, `fail` (reasons name the first difference of each failing case), or `not_run` when empty.
 * @example
 * ```ts
 * import { judgeTokenization } from "./parity_gates.ts";
 * console.log(judgeTokenization([]).status); // "not_run"
 * ```
 */
export function judgeTokenization(cases: readonly TokenizationCase[]): Verdict {
  if (cases.length === 0) {
    return {
      status: "not_run",
      reasons: [{ check: "tokenization", code: "no_cases", message: "no tokenization case was compared" }],
    };
  }
  const reasons: ParityReason[] = [];
  for (const c of cases) {
    const equal = c.engine_ids.length === c.reference_ids.length &&
      c.engine_ids.every((id, i) => id === c.reference_ids[i]);
    if (equal) continue;
    const d = c.first_diff;
    reasons.push({
      check: "tokenization",
      code: "token_mismatch",
      message: `prompt ${c.prompt} (add_special=${c.add_special}, parse_special=${c.parse_special}): ids differ` +
        (d
          ? ` first at index ${d.index}: engine ${d.engine_id ?? "(end)"} ${
            JSON.stringify(d.engine_piece)
          } vs reference ` +
            `${d.reference_id ?? "(end)"} ${JSON.stringify(d.reference_piece)}`
          : "") +
        ` (${c.engine_ids.length} vs ${c.reference_ids.length} tokens)`,
    });
  }
  return { status: reasons.length ? "fail" : "pass", reasons };
}

function summaryJson(values: number[]): SummaryJson {
  const s = summarize(values);
  const j = (x: number | null) => (x === null || Number.isNaN(x) ? null : x);
  return {
    n: s.n,
    mean: j(s.mean),
    mean_uncertainty: j(s.mean_uncertainty),
    max: j(s.max),
    p99_9: j(s.p99_9),
    p99: j(s.p99),
    p95: j(s.p95),
    median: j(s.median),
    min: j(s.min),
  };
}

/**
 * Statistics of the logits rows: cosine min/mean, KLD summary, same-top proportion, decisive top-1 flips,
 * max |Δlogit|, RMS Δp. A null (NaN) in any row makes the corresponding statistic null.
 *
 * @param rows Per-position rows.
 * @param t Thresholds (for the tie rule).
 * @returns The summary, or null when there are no rows.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, summarizeLogitsRows } from "./parity_gates.ts";
 * console.log(summarizeLogitsRows([], DEFAULT_THRESHOLDS)); // null
 * ```
 */
export function summarizeLogitsRows(rows: readonly LogitsRow[], t: ParityThresholds): LogitsSummary | null {
  if (rows.length === 0) return null;
  const n = rows.length;
  const nums = (f: (r: LogitsRow) => number | null) => rows.map((r) => f(r) ?? NaN);
  const cos = nums((r) => r.cosine);
  const anyNaN = (xs: number[]) => xs.some(Number.isNaN);
  const same = rows.filter((r) => r.ref_top1 === r.eng_top1).length;
  const flips = rows.filter((r) => isDecisiveFlip(r, t)).length;
  const dl = nums((r) => r.max_abs_dlogit);
  const dp = nums((r) => r.dp);
  return {
    compared_tokens: n,
    cosine_min: anyNaN(cos) ? null : Math.min(...cos),
    cosine_mean: anyNaN(cos) ? null : cos.reduce((a, b) => a + b, 0) / n,
    kld: summaryJson(nums((r) => r.kld)),
    same_top: proportion(same, n),
    decisive_top1_flips: flips,
    max_abs_dlogit: anyNaN(dl) ? null : Math.max(...dl),
    rms_dp: anyNaN(dp) ? null : rms(dp),
  };
}

/**
 * Judge the logits summary: min cosine ≥ `cosine_min` (AC13) AND mean KLD ≤ `kld_mean_max` AND median KLD ≤
 * `kld_median_max` AND max KLD ≤ `kld_max_max` AND same-top ≥ `same_top_min` AND no decisive top-1 flip. NaN
 * anywhere fails.
 *
 * @param rows Per-position rows (for naming the first offending position).
 * @param summary Their summary (from {@link summarizeLogitsRows}); null means nothing was compared.
 * @param t Thresholds.
 * @returns The verdict; `not_run` when no row was compared.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, judgeLogits } from "./parity_gates.ts";
 * console.log(judgeLogits([], null, DEFAULT_THRESHOLDS).status); // "not_run"
 * ```
 */
export function judgeLogits(rows: readonly LogitsRow[], summary: LogitsSummary | null, t: ParityThresholds): Verdict {
  if (!summary || summary.compared_tokens === 0) {
    return {
      status: "not_run",
      reasons: [{ check: "logits", code: "no_tokens", message: "zero positions were compared" }],
    };
  }
  const reasons: ParityReason[] = [];
  const where = (pred: (r: LogitsRow) => boolean) => {
    const r = rows.find(pred);
    return r ? ` (first at prompt ${r.prompt} position ${r.pos})` : "";
  };
  if (!finite(summary.cosine_min) || summary.cosine_min < t.cosine_min) {
    reasons.push({
      check: "logits",
      code: "cosine_below_min",
      message: `min cosine ${fmt(summary.cosine_min)} < ${t.cosine_min}` +
        where((r) => !finite(r.cosine) || r.cosine! < t.cosine_min),
    });
  }
  if (!finite(summary.kld.mean) || summary.kld.mean > t.kld_mean_max) {
    reasons.push({
      check: "logits",
      code: "kld_mean_above_max",
      message: `mean KLD ${fmt(summary.kld.mean)} > ${t.kld_mean_max}`,
    });
  }
  if (!finite(summary.kld.median) || summary.kld.median > t.kld_median_max) {
    reasons.push({
      check: "logits",
      code: "kld_median_above_max",
      message: `median KLD ${fmt(summary.kld.median)} > ${t.kld_median_max}: most positions differ, not just a few`,
    });
  }
  if (!finite(summary.kld.max) || summary.kld.max > t.kld_max_max) {
    reasons.push({
      check: "logits",
      code: "kld_max_above_max",
      message: `max KLD ${fmt(summary.kld.max)} > ${t.kld_max_max}` +
        where((r) => !finite(r.kld) || r.kld! > t.kld_max_max),
    });
  }
  if (summary.same_top.p < t.same_top_min) {
    reasons.push({
      check: "logits",
      code: "same_top_below_min",
      message:
        `top-1 agreement ${(summary.same_top.p * 100).toFixed(2)}% (${summary.same_top.k}/${summary.same_top.n}) < ` +
        `${(t.same_top_min * 100).toFixed(2)}%`,
    });
  }
  if (summary.decisive_top1_flips > 0) {
    reasons.push({
      check: "logits",
      code: "decisive_top1_flip",
      message: `${summary.decisive_top1_flips} position(s) pick a different top token without a near-tie ` +
        `(gap ≥ ${t.tie_logit_epsilon} or outside the other's top ${t.tie_top_k})` +
        where((r) => isDecisiveFlip(r, t)),
    });
  }
  if (summary.max_abs_dlogit === null || summary.rms_dp === null) {
    reasons.push({ check: "logits", code: "nan", message: "a logit difference or probability is NaN" });
  }
  return { status: reasons.length ? "fail" : "pass", reasons };
}

/**
 * Judge greedy decoding: a prompt passes when every divergence is an excused near-tie (recomputed here with
 * {@link isExcusedTie}, so a hand-set `tie: true` does not count) and all requested steps were compared.
 *
 * @param prompts Per-prompt records.
 * @param stepsRequested Steps asked for per prompt.
 * @param t Thresholds.
 * @returns The verdict; `not_run` when no prompt was decoded.
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, judgeGreedy } from "./parity_gates.ts";
 * console.log(judgeGreedy([], 32, DEFAULT_THRESHOLDS).status); // "not_run"
 * ```
 */
export function judgeGreedy(prompts: readonly GreedyPrompt[], stepsRequested: number, t: ParityThresholds): Verdict & {
  readonly perPrompt: ParityStatus[];
} {
  if (prompts.length === 0) {
    return {
      status: "not_run",
      reasons: [{ check: "greedy", code: "no_prompts", message: "no prompt was decoded" }],
      perPrompt: [],
    };
  }
  const reasons: ParityReason[] = [];
  const perPrompt: ParityStatus[] = [];
  for (const p of prompts) {
    let ok = p.engine_ids.length === p.steps && p.reference_ids.length === p.steps;
    let bad = null;
    for (let s = 0; s < p.steps && ok; s++) {
      if (p.engine_ids[s] === p.reference_ids[s]) continue;
      const d = p.divergences.find((x) => x.step === s);
      const excused = d !== undefined && d.engine_token === p.engine_ids[s] &&
        d.reference_token === p.reference_ids[s] && isExcusedDivergence(d, t);
      if (!excused) {
        ok = false;
        bad = d ?? null;
        reasons.push({
          check: "greedy",
          code: "token_divergence",
          message:
            `prompt ${p.prompt} step ${s}: engine ${p.engine_ids[s]} ${JSON.stringify(d?.engine_piece ?? "")} vs ` +
            `reference ${p.reference_ids[s]} ${JSON.stringify(d?.reference_piece ?? "")}` +
            (bad ? ` (gaps: engine ${fmt(bad.engine_gap)}, reference ${fmt(bad.reference_gap)}; not a near-tie)` : ""),
        });
      }
    }
    if (ok && p.steps < stepsRequested) {
      ok = false;
      reasons.push({
        check: "greedy",
        code: "steps_missing",
        message: `prompt ${p.prompt}: only ${p.steps} of ${stepsRequested} steps compared`,
      });
    }
    perPrompt.push(ok ? "pass" : "fail");
  }
  return { status: perPrompt.every((s) => s === "pass") ? "pass" : "fail", reasons, perPrompt };
}

/** Inputs of {@link judgeOverall}. */
export interface OverallInputs {
  /** Tokenization verdict. */
  readonly tokenization: ParityStatus;
  /** Logits verdict. */
  readonly logits: ParityStatus;
  /** Greedy verdict. */
  readonly greedy: ParityStatus;
  /** Localization verdict. */
  readonly localization: ParityStatus;
  /** Whether the reference ran every call. */
  readonly referenceRan: boolean;
  /** Whether the reference process died (abort, signal, deadline, memory limit); absent means no. */
  readonly referenceCrashed?: boolean;
  /** Whether our engine loaded and ran. */
  readonly engineRan: boolean;
  /** Logit rows compared. */
  readonly comparedTokens: number;
}

/**
 * The receipt's status: `reference_crashed` when the reference process died (nothing could be compared, whatever our
 * engine did; an engine error is still among the reasons); else `fail` when our engine could not run (that is the
 * checked thing failing); else `not_run` when the reference did not run or nothing was compared (never a vacuous
 * pass); else `fail` when any check failed or did not run; else `pass`.
 *
 * @param i Check verdicts and facts.
 * @returns The overall status.
 * @example
 * ```ts
 * import { judgeOverall } from "./parity_gates.ts";
 * console.log(judgeOverall({ tokenization: "pass", logits: "pass", greedy: "pass", localization: "pass", referenceRan: false, engineRan: true, comparedTokens: 0 })); // "not_run"
 * ```
 */
export function judgeOverall(i: OverallInputs): ParityOverallStatus {
  if (i.referenceCrashed) return "reference_crashed";
  if (!i.engineRan) return "fail";
  if (!i.referenceRan || i.comparedTokens === 0) return "not_run";
  return i.tokenization === "pass" && i.logits === "pass" && i.greedy === "pass" && i.localization === "pass"
    ? "pass"
    : "fail";
}
