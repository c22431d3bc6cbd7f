/**
 * {@link verifyReceipt}: is this JSON a valid receipt, whose verdict follows from its own numbers? Dispatches on
 * the receipt's `kind` to a per-kind verifier (schema + semantic rules). To add a kind (the bench receipt), write
 * `verify_<kind>.ts` exporting a {@link ReceiptVerifier} and add one line to {@link RECEIPT_VERIFIERS}.
 *
 * @module
 */

import type { ReceiptProblem, ReceiptVerifier } from "./problem.ts";
import { verifyParityReceipt } from "./verify_parity.ts";
import { verifyBenchReceipt } from "./verify_bench.ts";
import { verifyBaseline } from "./baseline.ts";

/** Verifier per receipt kind. */
export const RECEIPT_VERIFIERS: Readonly<Record<string, ReceiptVerifier>> = {
  parity: verifyParityReceipt,
  bench: verifyBenchReceipt,
  baseline: verifyBaseline,
};

/**
 * Verify a receipt of any known kind.
 *
 * @param json The parsed receipt.
 * @returns Every problem found (empty: valid). An unknown or missing `kind` is itself a problem.
 * @example
 * ```ts
 * import { verifyReceipt } from "./verify.ts";
 * console.log(verifyReceipt({ kind: "nonsense" })[0].code); // "unknown_kind"
 * ```
 */
export function verifyReceipt(json: unknown): ReceiptProblem[] {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return [{ path: "", code: "not_an_object", message: "a receipt is a JSON object" }];
  }
  const kind = (json as { kind?: unknown }).kind;
  if (typeof kind !== "string") {
    return [{
      path: "/kind",
      code: "missing_kind",
      message: `no "kind" field: cannot tell which receipt this is (known kinds: ${
        Object.keys(RECEIPT_VERIFIERS).join(", ")
      })`,
    }];
  }
  const verifier = RECEIPT_VERIFIERS[kind];
  if (!verifier) {
    return [{
      path: "/kind",
      code: "unknown_kind",
      message: `unknown receipt kind "${kind}" (known kinds: ${Object.keys(RECEIPT_VERIFIERS).join(", ")})`,
    }];
  }
  return verifier(json as Record<string, unknown>);
}
