/**
 * {@link summarizeParityReceipt}: the few numbers a person (or `validate --json`) wants from a parity receipt,
 * without the per-position rows.
 *
 * @module
 */

import type { ParityOverallStatus, ParityReceipt, ParityStatus } from "../receipts/parity_receipt.ts";

/** A compact view of a parity receipt. */
export interface ParitySummary {
  /** Model (lockfile name or path). */
  readonly model: string;
  /** Model SHA-256. */
  readonly model_sha256: string;
  /** Overall verdict. */
  readonly status: ParityOverallStatus;
  /** Per check. */
  readonly checks: {
    readonly tokenization: { readonly status: ParityStatus; readonly cases: number; readonly mismatches: number };
    readonly logits: {
      readonly status: ParityStatus;
      readonly compared_tokens: number;
      readonly cosine_min: number | null;
      readonly kld_mean: number | null;
      readonly kld_max: number | null;
      readonly same_top_p: number | null;
    };
    readonly greedy: {
      readonly status: ParityStatus;
      readonly steps_compared: number;
      readonly exact_match: boolean | null;
      readonly ties: number;
    };
    readonly localization: {
      readonly status: ParityStatus;
      readonly tensors: number;
      readonly first_exceedance: string | null;
    };
  };
  /** Reasons, one line each. */
  readonly reasons: readonly string[];
  /** Engine backend and kernel count. */
  readonly engine: { readonly backend: string | null; readonly kernels: number };
  /** Reference version and settings. */
  readonly reference: { readonly version: string | null; readonly ran: boolean };
}

/**
 * Summarize a parity receipt.
 *
 * @param r The receipt.
 * @returns The compact view.
 * @example
 * ```ts
 * import { summarizeParityReceipt } from "./summary.ts";
 * import { DEFAULT_PROMPTS } from "./prompts.ts";
 * import { runParityOnModel } from "./run_model.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await runParityOnModel(path, { prompts: DEFAULT_PROMPTS.slice(0, 1), steps: 2 });
 * console.log(summarizeParityReceipt(receipt).checks.logits.kld_mean); // 0
 * ```
 */
export function summarizeParityReceipt(r: ParityReceipt): ParitySummary {
  const c = r.checks;
  const s = c.logits.summary;
  const f = c.localization.first_exceedance;
  return {
    model: r.model.lock_name ?? r.model.path,
    model_sha256: r.model_sha256,
    status: r.status,
    checks: {
      tokenization: {
        status: c.tokenization.status,
        cases: c.tokenization.cases.length,
        mismatches: c.tokenization.cases.filter((x) => !x.match).length,
      },
      logits: {
        status: c.logits.status,
        compared_tokens: r.metrics.compared_tokens,
        cosine_min: s?.cosine_min ?? null,
        kld_mean: s?.kld.mean ?? null,
        kld_max: s?.kld.max ?? null,
        same_top_p: s?.same_top.p ?? null,
      },
      greedy: {
        status: c.greedy.status,
        steps_compared: r.metrics.greedy_steps_compared,
        exact_match: r.metrics.greedy_exact_match,
        ties: c.greedy.prompts.reduce((n, g) => n + g.divergences.filter((d) => d.tie).length, 0),
      },
      localization: {
        status: c.localization.status,
        tensors: c.localization.tensors.length,
        first_exceedance: f ? `${f.name} (${f.status})` : null,
      },
    },
    reasons: r.reasons.map((x) => `${x.check}: ${x.message}`),
    engine: { backend: r.engine.backend, kernels: r.engine.kernels.length },
    reference: { version: r.reference.version, ran: r.reference.ran },
  };
}
