/**
 * Verification of parity receipts: the schema, then every rule that makes a receipt honest evidence. The verdicts
 * are recomputed from the receipt's own per-position rows, tokenization cases, greedy records and per-op counts
 * with the same pure functions the harness used (parity_gates.ts), so a hand-edited `status`, summary or metric
 * that does not follow from the rows is caught; thresholds looser than the project's gates are rejected; a receipt
 * whose reference did not run, that compared nothing, that ran injected faults, or whose kernel list does not look
 * like real compute is not evidence.
 *
 * @module
 */

import schema from "./parity.schema.json" with { type: "json" };
import type { ParityReceipt, ParityThresholds } from "./parity_receipt.ts";
import type { ReceiptProblem } from "./problem.ts";
import { compileSchemaCheck, type SchemaCheck } from "./schema_check.ts";
import { checkKernelIds } from "./kernel_ids.ts";
import {
  gatesFor,
  isExcusedDivergence,
  judgeGreedy,
  judgeLocalization,
  judgeLogits,
  judgeOverall,
  judgeTokenization,
  localizedStatus,
  summarizeLogitsRows,
} from "./parity_gates.ts";
import { firstDifference } from "./metrics.ts";

let schemaCheck: SchemaCheck | undefined;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Verify a parity receipt.
 *
 * @param receipt The parsed JSON.
 * @returns Every problem found; empty when the receipt is valid evidence of a parity run (any status).
 * @example
 * ```ts
 * import { verifyParityReceipt } from "./verify_parity.ts";
 * console.log(verifyParityReceipt({ kind: "parity" }).length > 0); // true
 * ```
 */
export function verifyParityReceipt(receipt: Readonly<Record<string, unknown>>): ReceiptProblem[] {
  schemaCheck ??= compileSchemaCheck(schema as Record<string, unknown>);
  const schemaProblems = schemaCheck(receipt);
  // Semantic rules read fields the schema guarantees; without a valid shape they would only add noise.
  if (schemaProblems.length) return schemaProblems;
  const r = receipt as unknown as ParityReceipt;
  const problems: ReceiptProblem[] = [];
  const add = (path: string, code: string, message: string) => problems.push({ path, code, message });
  const t = r.thresholds;

  // The gates are those of the reference that ran, the file it ran, our activations and our kernel set (a receipt
  // cannot pick a looser set than its own run's).
  const input = r.reference.input?.transcode ? r.reference.input.transcode.to : null;
  const gates = gatesFor({
    library: r.reference.library,
    input,
    activations: r.engine.activations ?? null,
    numerics: r.engine.numerics ?? null,
  });
  if (gates === null) {
    add(
      "/thresholds/id",
      "thresholds_uncalibrated",
      `no gates are calibrated for ${r.reference.library} on ${input ?? "the model itself"} with ` +
        `${r.engine.activations ?? "int8"} activations and the ${r.engine.numerics ?? "exact"} kernels: not ` +
        `evidence of parity`,
    );
  } else thresholdsNotLooser(t, gates, add);

  // Identity and provenance.
  if (r.model_sha256 !== r.model.sha256) {
    add("/model_sha256", "hash_mismatch", `model_sha256 ${r.model_sha256} differs from model.sha256 ${r.model.sha256}`);
  }
  if (Number.isNaN(Date.parse(r.timestamp))) add("/timestamp", "timestamp", `"${r.timestamp}" is not a valid date`);
  if (r.commit !== r.tool.commit) {
    add("/commit", "commit_mismatch", `commit ${r.commit} differs from tool.commit ${r.tool.commit}`);
  }
  if (r.tokenizer && r.engine.tokenizer_sha256 && r.tokenizer.vocab_sha256 !== r.engine.tokenizer_sha256) {
    add(
      "/engine/tokenizer_sha256",
      "tokenizer_identity",
      `the engine's vocabulary hash ${r.engine.tokenizer_sha256} differs from the file's ${r.tokenizer.vocab_sha256}`,
    );
  }

  // Tokenization: each case's match and first difference from its own ids.
  r.checks.tokenization.cases.forEach((c, i) => {
    const at = firstDifference(c.engine_ids, c.reference_ids);
    if (c.match !== (at < 0)) {
      add(
        `/checks/tokenization/cases/${i}/match`,
        "case_mismatch",
        `match is ${c.match} but the ids ${at < 0 ? "are equal" : `differ at ${at}`}`,
      );
    }
    if ((c.first_diff?.index ?? -1) !== at) {
      add(
        `/checks/tokenization/cases/${i}/first_diff`,
        "case_mismatch",
        `first_diff does not point at the first difference (${at})`,
      );
    }
  });

  // Logits: rows cover every position of every prompt; summary and verdict follow from the rows.
  const rows = r.checks.logits.rows;
  r.prompts.forEach((p, i) => {
    const pos = rows.filter((x) => x.prompt === i).map((x) => x.pos);
    if (rows.length && (pos.length !== p.n_tokens || pos.some((v, j) => v !== j))) {
      add(
        `/checks/logits/rows`,
        "rows_incomplete",
        `prompt ${i} has ${p.n_tokens} tokens but rows for positions [${pos.join(",")}]`,
      );
    }
  });
  const summary = summarizeLogitsRows(rows, t);
  if (!same(summary, r.checks.logits.summary)) {
    add("/checks/logits/summary", "summary_mismatch", "the logits summary does not follow from the rows");
  }
  rows.forEach((x, i) => {
    if ((x.ref_top1 === x.eng_top1) !== (x.eng_rank_of_ref_top1 === 0)) {
      add(`/checks/logits/rows/${i}`, "row_inconsistent", "top-1 agreement contradicts eng_rank_of_ref_top1");
    }
  });

  // Greedy: divergences' tie flags and the verdict.
  r.checks.greedy.prompts.forEach((g, i) => {
    g.divergences.forEach((d, j) => {
      const tie = isExcusedDivergence(d, t);
      if (tie !== d.tie) {
        add(
          `/checks/greedy/prompts/${i}/divergences/${j}/tie`,
          "tie_mismatch",
          `tie is ${d.tie} but the gaps and ranks say ${tie}`,
        );
      }
    });
  });

  // Recomputed verdicts.
  const tokV = judgeTokenization(r.checks.tokenization.cases);
  const logV = judgeLogits(rows, summary, t);
  const greV = judgeGreedy(r.checks.greedy.prompts, r.checks.greedy.steps_requested, t);
  const locV = judgeLocalization(r.checks.localization, t);
  r.checks.localization.tensors.forEach((x, i) => {
    if (x.status === "missing_in_engine" || x.status === "shape_mismatch") return;
    const s = localizedStatus(x.clean_rows, x.new_error_rows, t);
    if (s !== x.status) {
      add(
        `/checks/localization/tensors/${i}/status`,
        "status_mismatch",
        `${x.name} is "${x.status}" but its counts say "${s}"`,
      );
    }
  });
  const firstBad = r.checks.localization.tensors.find((x) => x.status !== "ok" && x.status !== "undetermined") ?? null;
  if (!same(firstBad, r.checks.localization.first_exceedance)) {
    add(
      "/checks/localization/first_exceedance",
      "summary_mismatch",
      "first_exceedance is not the first failing tensor",
    );
  }
  // A check that did not run is recorded as not_run; one that ran must carry the recomputed verdict.
  const verdicts = [
    ["tokenization", tokV.status, r.checks.tokenization.status],
    ["logits", logV.status, r.checks.logits.status],
    ["greedy", greV.status, r.checks.greedy.status],
    ["localization", locV.status, r.checks.localization.status],
  ] as const;
  for (const [name, computed, recorded] of verdicts) {
    if (recorded !== computed && !(recorded === "not_run" && !r.reference.ran)) {
      add(`/checks/${name}/status`, "status_mismatch", `${name} is "${recorded}" but its records say "${computed}"`);
    }
  }
  const overall = judgeOverall({
    tokenization: r.checks.tokenization.status,
    logits: r.checks.logits.status,
    greedy: r.checks.greedy.status,
    localization: r.checks.localization.status,
    referenceRan: r.reference.ran,
    referenceCrashed: r.reference.error?.kind === "crashed",
    engineRan: r.engine.ran,
    comparedTokens: rows.length,
  });
  if (overall !== r.status) {
    add("/status", "status_mismatch", `status is "${r.status}" but the checks and metrics say "${overall}"`);
  }
  if (r.status === "pass" && r.reasons.length) {
    add("/reasons", "reasons_mismatch", "a passing receipt lists reasons for failure");
  }
  if (r.status !== "pass" && r.reasons.length === 0) {
    add("/reasons", "reasons_mismatch", `a "${r.status}" receipt must say why`);
  }
  const recorded = new Set(r.reasons.map((x) => x.code));
  for (const v of [tokV, logV, greV, locV]) {
    if (v.status !== "fail") continue;
    for (const x of v.reasons) {
      if (!recorded.has(x.code)) {
        add("/reasons", "reasons_mismatch", `the records fail ${x.check} (${x.code}) but the reasons omit it`);
      }
    }
  }

  // Headline metrics follow from the records.
  const m = r.metrics;
  const expect: [keyof typeof m, unknown][] = [
    ["compared_tokens", rows.length],
    [
      "tokenization_exact_match",
      r.checks.tokenization.status === "not_run" ? null : r.checks.tokenization.cases.every((c) => c.match),
    ],
    ["logits_cosine_similarity", summary?.cosine_min ?? null],
    ["kld_mean", summary?.kld.mean ?? null],
    ["kld_max", summary?.kld.max ?? null],
    ["same_top_p", summary?.same_top.p ?? null],
    ["greedy_steps_compared", r.checks.greedy.prompts.reduce((n, g) => n + g.steps, 0)],
    [
      "greedy_exact_match",
      r.checks.greedy.status === "not_run"
        ? null
        : r.checks.greedy.prompts.every((g) =>
          g.divergences.length === 0 && g.steps === r.checks.greedy.steps_requested
        ),
    ],
  ];
  for (const [k, v] of expect) {
    if (!same(m[k], v)) {
      add(
        `/metrics/${k}`,
        "metric_mismatch",
        `${k} is ${JSON.stringify(m[k])} but the records give ${JSON.stringify(v)}`,
      );
    }
  }

  // Honest compute.
  if (rows.length === 0) {
    add("/metrics/compared_tokens", "zero_compared_tokens", "zero positions were compared: the receipt proves nothing");
  }
  if (!r.reference.ran || r.reference.error) {
    add(
      "/reference",
      "reference_not_run",
      `the reference did not run (${r.reference.error?.message ?? "no reason recorded"}): not evidence of parity`,
    );
  }
  if (r.status === "pass" || r.reference.ran) {
    const s = r.reference.settings;
    // ik_llama.cpp refuses an F32 V cache without flash attention and has no F32 cache in its flash attention, so
    // its parity mode is F32 K / F16 V without flash attention (docs/references.md); its gates are calibrated so.
    const typeV = r.reference.library === "ik_llama.cpp" ? "f16" : "f32";
    if (!s || s.type_k !== "f32" || s.type_v !== typeV || s.flash_attn !== "disabled") {
      add(
        "/reference/settings",
        "reference_settings",
        `the reference did not run in parity mode (F32 K / ${typeV.toUpperCase()} V cache, flash attention disabled)`,
      );
    }
    if (!r.reference.version) {
      add("/reference/version", "reference_version", "the reference library version is not recorded");
    }
  }
  if (Object.keys(r.engine.faults).length) {
    add(
      "/engine/faults",
      "engine_faults",
      `test-only faults were injected (${JSON.stringify(r.engine.faults)}): not a real engine run`,
    );
  }
  if (r.engine.ran) problems.push(...checkKernelIds(r.engine.kernels, r.engine.backend));
  // Since 1.2.0 a receipt names the GPU adapter its engine ran on (an llvmpipe run is not a GPU run).
  if (r.engine.ran && r.engine.backend === "webgpu" && !r.engine.device && !/^1\.[01]\./.test(r.schema_version)) {
    add("/engine/device", "engine_device", "the engine ran on WebGPU but the receipt does not name the adapter");
  }
  return problems;
}

/** `t` must be at least as strict as `d`, the gates of the run. */
function thresholdsNotLooser(
  t: ParityThresholds,
  d: ParityThresholds,
  add: (p: string, c: string, m: string) => void,
): void {
  const atLeast: [keyof ParityThresholds, number, number][] = [["cosine_min", t.cosine_min, d.cosine_min], [
    "same_top_min",
    t.same_top_min,
    d.same_top_min,
  ]];
  const atMost: [keyof ParityThresholds, number, number][] = [
    ["kld_mean_max", t.kld_mean_max, d.kld_mean_max],
    ["kld_median_max", t.kld_median_max, d.kld_median_max],
    ["kld_max_max", t.kld_max_max, d.kld_max_max],
    ["tie_logit_epsilon", t.tie_logit_epsilon, d.tie_logit_epsilon],
    ["tie_top_k", t.tie_top_k, d.tie_top_k],
  ];
  for (const [k, v, def] of atLeast) {
    if (!(v >= def)) add(`/thresholds/${k}`, "thresholds_loosened", `${k} ${v} is looser than the gate ${def}`);
  }
  for (const [k, v, def] of atMost) {
    if (!(v <= def)) add(`/thresholds/${k}`, "thresholds_loosened", `${k} ${v} is looser than the gate ${def}`);
  }
  const l = t.localization, dl = d.localization;
  if (!(l.clean_row_nmse <= dl.clean_row_nmse)) {
    add("/thresholds/localization/clean_row_nmse", "thresholds_loosened", `looser than ${dl.clean_row_nmse}`);
  }
  if (!(l.dense_fraction <= dl.dense_fraction)) {
    add("/thresholds/localization/dense_fraction", "thresholds_loosened", `looser than ${dl.dense_fraction}`);
  }
  if (!(l.min_clean_rows <= dl.min_clean_rows)) {
    add("/thresholds/localization/min_clean_rows", "thresholds_loosened", `looser than ${dl.min_clean_rows}`);
  }
  for (const [k, v] of Object.entries(dl.new_error_row_nmse)) {
    const got = l.new_error_row_nmse[k];
    if (!(got <= v)) {
      add(`/thresholds/localization/new_error_row_nmse/${k}`, "thresholds_loosened", `${got} is looser than ${v}`);
    }
  }
}
