/**
 * Deterministic synthetic BitNet models (`crossval make-model`).
 *
 * @module
 */
export {
  normalizeSpec,
  PRESETS,
  shapeOf,
  specFromQuery,
  specToQuery,
  type SynthEmbedType,
  type SynthPreset,
  type SynthShape,
  type SynthSpec,
  type SynthWeightType,
} from "./spec.ts";
export { SYNTH_FORMAT_VERSION, synthesizeModel } from "./generate.ts";
export { type SynthEvent, type SynthResult, writeSyntheticModel } from "./write.ts";
export { LLAMA3_SPECIALS, type SynthVocab, TokenType, trainSynthVocab } from "./vocab.ts";
