/**
 * Receipts: what produced a number (provenance), how it is written (atomically), what parity and bench receipts
 * and baselines contain, and how any receipt is verified (`verifyReceipt` dispatches on its `kind`).
 *
 * @module
 */
export { type MachineInfo, machineInfo, type ToolInfo, toolInfo } from "./provenance.ts";
export { writeJsonAtomic } from "./write.ts";
export type * from "./parity_receipt.ts";
export { PARITY_SCHEMA_VERSION } from "./parity_receipt.ts";
export * from "./bench_receipt.ts";
export * from "./baseline.ts";
export * from "./baseline_compare.ts";
export type { ReceiptProblem, ReceiptVerifier } from "./problem.ts";
export { compileSchemaCheck, type SchemaCheck } from "./schema_check.ts";
export { RECEIPT_VERIFIERS, verifyReceipt } from "./verify.ts";
export { verifyParityReceipt } from "./verify_parity.ts";
export * from "./verify_bench.ts";
