/**
 * {@link ReceiptProblem}: one reason a receipt is not valid evidence, located by JSON Pointer.
 *
 * @module
 */

/** One violation found by `verifyReceipt`. */
export interface ReceiptProblem {
  /** JSON Pointer into the receipt (`/checks/logits/status`), `""` for the whole document. */
  readonly path: string;
  /** Stable machine code (`schema`, `status_mismatch`, `zero_compared_tokens`, ...). */
  readonly code: string;
  /** What is wrong: the recorded value, what it should be, and why. */
  readonly message: string;
}

/** Signature of a per-kind verifier: the parsed receipt in, every problem out (empty: valid). */
export type ReceiptVerifier = (receipt: Readonly<Record<string, unknown>>) => ReceiptProblem[];
