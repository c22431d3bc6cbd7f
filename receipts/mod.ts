/**
 * Receipts: what produced a number (provenance), how it is written (atomically), what parity and bench receipts
 * and baselines contain, and how any receipt is verified (`verifyReceipt` dispatches on its `kind`). The rules both
 * producers obey live here too: the parity gates and the metrics they use, and the benchmark statistics, so that
 * `parity/` and `bench/` import them from below and a receipt is judged by one definition.
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
export {
  DEFAULT_THRESHOLDS,
  isDecisiveFlip,
  isExcusedDivergence,
  isExcusedTie,
  judgeGreedy,
  judgeLocalization,
  judgeLogits,
  judgeOverall,
  judgeTokenization,
  LAYER_TENSOR_KINDS,
  localizedStatus,
  OUTPUT_TENSOR_KINDS,
  type OverallInputs,
  summarizeLogitsRows,
  type TieEvidence,
  type Verdict as GateVerdict,
} from "./parity_gates.ts";
export {
  argmax,
  cosineSimilarity,
  firstDifference,
  klDivergence,
  klDivergenceLogProbs,
  logSoftmax,
  maxAbsDiff,
  nmse,
  type Numbers,
  percentile,
  type Proportion,
  proportion,
  rms,
  summarize as summarizeValues,
  type Summary,
  topK,
} from "./metrics.ts";
export {
  bootstrapMedianCi,
  bootstrapMedianRatioCi,
  type BootstrapOptions,
  type Interval,
  mannWhitneyU,
  mean,
  median,
  quantile,
  type RankTest,
  type SampleStats,
  sampleStddev,
  summarize,
} from "./stats.ts";
export { Prng } from "./prng.ts";
