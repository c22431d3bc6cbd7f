/**
 * The parity harness: our engine against llama.cpp on tokenization, logits at every position, greedy decoding
 * and op-by-op localization, producing receipts that cannot claim more than their numbers show.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROMPTS, runParityOnModel } from "./mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await runParityOnModel(path, { prompts: DEFAULT_PROMPTS.slice(0, 1), steps: 2 });
 * console.log(receipt.status);
 * ```
 *
 * @module
 */
export { type AssembleInput, assembleReceipt, type UnrunInput, unrunReceipt } from "./assemble.ts";
export {
  CppSubject,
  type CppSubjectOptions,
  DEFAULT_REFERENCE_TIMEOUT_MS,
  parityReferenceOptions,
} from "./cpp_subject.ts";
export { crashedReference, crashJson, referenceCrashError } from "./reference_crash.ts";
export { EngineSubject, type EngineSubjectOptions } from "./engine_subject.ts";
export { compareGreedy, describeDivergence } from "./greedy.ts";
export { type ParityEvent, runParity, type RunParityOptions } from "./harness.ts";
export {
  graphOrder,
  inputsOf,
  LocalizationAccumulator,
  type LocalizationContext,
  localizationNotRun,
  type OpInputs,
  parseTensorName,
  rowNmse,
} from "./localize.ts";
export { compareLogitRow, compareLogitRows, rankOf, topEntries, topGap } from "./logits.ts";
export { describeModelFile, type ModelFacts, vocabHash } from "./model_facts.ts";
export { DEFAULT_PROMPTS, GGML_VOCAB_TEST_SEPARATOR, type ParityPrompt, parsePromptFile } from "./prompts.ts";
export {
  calibrate,
  type CalibrateOptions,
  CALIBRATION_FAULTS,
  CALIBRATION_MODELS,
  calibrationLine,
} from "./calibrate.ts";
export { type ParityRunOptions, runParityOnModel } from "./run_model.ts";
export { type ParitySummary, summarizeParityReceipt } from "./summary.ts";
export type {
  EngineParitySubject,
  NamedTensor,
  ParitySubject,
  ReferenceParitySubject,
  TokenizeVariant,
} from "./subject.ts";
export { type PieceLookup, tokenizationCase, TOKENIZE_VARIANTS } from "./tokenization.ts";
