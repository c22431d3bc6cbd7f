/**
 * {@link assembleReceipt}: turn what a parity run recorded (or the fact that it could not start) into a receipt.
 * Every verdict is computed here with the functions of receipts/parity_gates.ts, the same ones `crossval receipt verify` uses to
 * recompute it, so the receipt's status can only be what its records say.
 *
 * @module
 */

import type { MachineInfo, ToolInfo } from "../receipts/provenance.ts";
import {
  type EngineInfoJson,
  type GreedyPrompt,
  type LocalizationCheck,
  type LogitsRow,
  type ModelInfoJson,
  PARITY_SCHEMA_VERSION,
  type ParityReason,
  type ParityReceipt,
  type ParityStatus,
  type ParityThresholds,
  type ReferenceInfo,
  type TokenizationCase,
  type TokenizerIdentity,
} from "../receipts/parity_receipt.ts";
import {
  judgeGreedy,
  judgeLocalization,
  judgeLogits,
  judgeOverall,
  judgeTokenization,
  summarizeLogitsRows,
} from "../receipts/parity_gates.ts";
import { localizationNotRun } from "./localize.ts";
import type { ParityPrompt } from "./prompts.ts";

/** Everything a receipt is assembled from. */
export interface AssembleInput {
  /** Prompts. */
  readonly prompts: readonly ParityPrompt[];
  /** The tokens fed to the logits and greedy checks, per prompt (as far as the run got). */
  readonly promptIds: readonly Int32Array[];
  /** Greedy steps requested. */
  readonly steps: number;
  /** Gates. */
  readonly thresholds: ParityThresholds;
  /** Tokenization cases. */
  readonly cases: readonly TokenizationCase[];
  /** Logits rows. */
  readonly rows: readonly LogitsRow[];
  /** Greedy records. */
  readonly greedy: readonly GreedyPrompt[];
  /** Localization record. */
  readonly localization: LocalizationCheck;
  /** Which checks completed. */
  readonly ran: { readonly tokenization: boolean; readonly logits: boolean; readonly greedy: boolean };
  /** Time spent in the logits check's evaluations. */
  readonly times: { readonly engineMs: number; readonly cppMs: number };
  /** Our engine's description. */
  readonly engine: Omit<EngineInfoJson, "ran" | "error">;
  /** Why our engine did not run, or null. */
  readonly engineError: EngineInfoJson["error"];
  /** The reference's description. */
  readonly reference: Omit<ReferenceInfo, "ran" | "error" | "timeout_ms">;
  /** Why the reference did not run, or null. */
  readonly referenceError: ReferenceInfo["error"];
  /** The reference's time budget. */
  readonly timeoutMs: number;
  /** Model facts. */
  readonly model: ModelInfoJson;
  /** Tokenizer identity from the file. */
  readonly tokenizer: TokenizerIdentity | null;
  /** Tool provenance. */
  readonly tool: ToolInfo;
  /** Machine. */
  readonly machine: MachineInfo;
  /** RFC 3339 timestamp. */
  readonly timestamp: string;
}

const REFERENCE_FIX: Record<NonNullable<ReferenceInfo["error"]>["kind"], string> = {
  library_missing: "",
  load_failed: "",
  timeout: " Raise the budget (--timeout) or use a smaller model.",
  error: "",
  crashed: "",
  unsupported: "",
};

/**
 * Assemble a parity receipt.
 *
 * @param i What the run recorded.
 * @returns The receipt with statuses, reasons and metrics computed from the records.
 */
export function assembleReceipt(i: AssembleInput): ParityReceipt {
  const t = i.thresholds;
  const reasons: ParityReason[] = [];
  const tokV = i.ran.tokenization ? judgeTokenization(i.cases) : null;
  const summary = summarizeLogitsRows(i.rows, t);
  const logV = i.ran.logits ? judgeLogits(i.rows, summary, t) : null;
  const greV = i.ran.greedy ? judgeGreedy(i.greedy, i.steps, t) : null;
  const locV = judgeLocalization(i.localization, t);
  const status = (v: { status: ParityStatus } | null): ParityStatus => v?.status ?? "not_run";
  if (i.referenceError) {
    const e = i.referenceError;
    reasons.push({
      check: "reference",
      code: `reference_${e.kind}`,
      message: e.kind === "crashed"
        ? `${e.message}\nThe reference process crashed, so nothing was validated.`
        : `${e.message}\nThe reference did not run, so nothing was validated.${REFERENCE_FIX[e.kind]}`,
    });
  }
  if (i.engineError) reasons.push({ check: "engine", code: "engine_error", message: i.engineError.message });
  for (const v of [tokV, logV, greV]) if (v) reasons.push(...v.reasons);
  if (i.ran.greedy) reasons.push(...locV.reasons);
  const overall = judgeOverall({
    tokenization: status(tokV),
    logits: status(logV),
    greedy: status(greV),
    localization: locV.status,
    referenceRan: i.referenceError === null,
    referenceCrashed: i.referenceError?.kind === "crashed",
    engineRan: i.engineError === null,
    comparedTokens: i.rows.length,
  });
  if (i.rows.length === 0 && !i.referenceError && !i.engineError) {
    reasons.push({
      check: "logits",
      code: "no_tokens",
      message: "zero positions were compared; a receipt needs at least one",
    });
  }
  const tok = i.tokenizer;
  return {
    kind: "parity",
    schema_version: PARITY_SCHEMA_VERSION,
    timestamp: i.timestamp,
    model_sha256: i.model.sha256,
    commit: i.tool.commit,
    test_suite: "tokenization|logits|greedy|localization",
    status: overall,
    reasons,
    metrics: {
      tokenization_exact_match: tokV ? i.cases.every((c) => c.match) : null,
      logits_cosine_similarity: summary?.cosine_min ?? null,
      greedy_exact_match: greV ? i.greedy.every((g) => g.divergences.length === 0 && g.steps === i.steps) : null,
      inference_time_engine_ms: i.ran.logits ? i.times.engineMs : null,
      inference_time_cpp_ms: i.ran.logits ? i.times.cppMs : null,
      compared_tokens: i.rows.length,
      kld_mean: summary?.kld.mean ?? null,
      kld_max: summary?.kld.max ?? null,
      same_top_p: summary?.same_top.p ?? null,
      greedy_steps_compared: i.greedy.reduce((n, g) => n + g.steps, 0),
    },
    thresholds: t,
    tool: i.tool,
    machine: i.machine,
    model: i.model,
    reference: { ...i.reference, ran: i.referenceError === null, timeout_ms: i.timeoutMs, error: i.referenceError },
    engine: { ...i.engine, ran: i.engineError === null, error: i.engineError },
    tokenizer: tok &&
      { ...tok, add_bos: tok.add_bos ?? i.reference.add_bos, add_eos: tok.add_eos ?? i.reference.add_eos },
    prompts: i.prompts.map((p, k) => ({
      index: k,
      text: p.text,
      parse_special: p.parseSpecial,
      n_tokens: i.promptIds[k]?.length ?? 0,
    })),
    checks: {
      tokenization: { status: status(tokV), cases: [...i.cases] },
      logits: { status: status(logV), rows: [...i.rows], summary },
      greedy: {
        status: status(greV),
        steps_requested: i.steps,
        prompts: i.greedy.map((g, k) => ({ ...g, status: greV?.perPrompt[k] ?? g.status })),
      },
      localization: { ...i.localization, status: locV.status },
    },
    first_divergence: i.greedy.flatMap((g) => g.divergences)[0] ?? null,
  };
}

/** The engine block when our engine could not be loaded. */
export const ENGINE_NOT_LOADED: Omit<EngineInfoJson, "ran" | "error"> = {
  backend: null,
  threads: null,
  n_ctx: null,
  kernels: [],
  tokenizer_sha256: null,
  faults: {},
};

/** The reference block when llama.cpp could not be loaded. */
export const REFERENCE_NOT_LOADED: Omit<ReferenceInfo, "ran" | "error" | "timeout_ms"> = {
  library: "llama.cpp",
  release: null,
  version: null,
  commit: null,
  ggml_commit: null,
  source: null,
  backend: null,
  add_bos: null,
  add_eos: null,
  settings: null,
};

/** Inputs of {@link unrunReceipt}. */
export type UnrunInput = Omit<
  AssembleInput,
  "promptIds" | "cases" | "rows" | "greedy" | "localization" | "ran" | "times"
>;

/**
 * The receipt of a run that could not start (a side failed to load): every check `not_run`; `fail` when our
 * engine failed, else `not_run`.
 *
 * @param i Prompts, gates, both sides' descriptions and errors, provenance.
 * @returns The receipt.
 */
export function unrunReceipt(i: UnrunInput): ParityReceipt {
  return assembleReceipt({
    ...i,
    promptIds: [],
    cases: [],
    rows: [],
    greedy: [],
    localization: localizationNotRun(
      i.engineError ? "our engine could not be loaded" : "the reference could not be loaded",
    ),
    ran: { tokenization: false, logits: false, greedy: false },
    times: { engineMs: 0, cppMs: 0 },
  });
}
