/**
 * `BITNET_STRICT_MODE=1` (the validation spec's "fail-fast validation"): what the checks would report as a warning and
 * still pass becomes a failure (exit 1). Receipts are unchanged (they record what was measured; their `status`
 * follows the project's gates); strict mode is a policy of the commands that judge them:
 * - `parity` and `validate`: a greedy divergence excused as a near-tie fails (a bit-exact engine has none);
 * - `validate` (its benchmark step) and `baselines verify`: no baseline, a baseline from another machine
 *   fingerprint (`not_comparable`), an `inconclusive` or `missing` verdict, a regression, or any comparison
 *   warning fails.
 *
 * @module
 */

import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import type { BaselineComparison } from "../receipts/baseline_compare.ts";
import { UsageError } from "./_errors.ts";

/**
 * Whether `BITNET_STRICT_MODE` is on.
 *
 * @returns True for `1` or `true`, false when unset, empty, `0` or `false`.
 * @throws {UsageError} For any other value.
 */
export function strictMode(): boolean {
  const v = (Deno.env.get("BITNET_STRICT_MODE") ?? "").trim().toLowerCase();
  if (v === "" || v === "0" || v === "false") return false;
  if (v === "1" || v === "true") return true;
  throw new UsageError(`Invalid BITNET_STRICT_MODE="${v}": expected 1 (strict) or 0. Fix: export BITNET_STRICT_MODE=1`);
}

/**
 * Why a parity receipt fails in strict mode (empty: it does not, or strict mode is off).
 *
 * @param r The receipt.
 * @returns One message per reason.
 */
export function strictParityProblems(r: ParityReceipt): string[] {
  if (!strictMode() || r.status !== "pass") return [];
  const ties = r.checks.greedy.prompts.flatMap((g) => g.divergences.filter((d) => d.tie));
  if (ties.length === 0) return [];
  const d = ties[0];
  return [
    `${ties.length} greedy divergence(s) excused as near-ties (first: prompt ${d.prompt} step ${d.step}); ` +
    `BITNET_STRICT_MODE=1 fails them. Unset it to accept near-ties, or compare with --backend ref (bit-exact).`,
  ];
}

/**
 * Why a baseline comparison fails in strict mode (empty: it does not, or strict mode is off).
 *
 * @param c The comparison, or null when there was no baseline to compare with.
 * @returns One message per reason: each verdict other than `no_change`/`improvement`, then each warning.
 */
export function strictBaselineProblems(c: BaselineComparison | null): string[] {
  if (!strictMode()) return [];
  if (c === null) {
    return [
      "no baseline to compare with (BITNET_STRICT_MODE=1 requires one: crossval bench && crossval baselines gen)",
    ];
  }
  const out = c.verdicts
    .filter((v) => v.verdict !== "no_change" && v.verdict !== "improvement")
    .map((v) => `${v.id}: ${v.verdict}: ${v.reason}`);
  out.push(...c.warnings.map((w) => `warning: ${w}`));
  return out;
}
