/**
 * Lossless conversion between the ternary formats (TQ1_0, TQ2_0, I2_S in its packings), with per-tensor `.scale`
 * tensors where the target keeps fewer scales than the source needs, and the element-for-element proof.
 *
 * @module
 */
export {
  type ConvertedTensor,
  type ConvertEvent,
  convertGguf,
  type ConvertOptions,
  type ConvertResult,
} from "./convert_gguf.ts";
export {
  type ConversionProblem,
  ConversionRefusedError,
  CONVERT_TARGETS,
  type ConvertTarget,
  convertTarget,
  type WeightPlan,
} from "./targets.ts";
export {
  decodeTernary,
  type DecodeTernaryOptions,
  encodeTernary,
  isTernaryType,
  TERNARY_TYPE_IDS,
  type TernaryEncoding,
  type TernaryScales,
  type TernaryWeights,
} from "./ternary_weights.ts";
export { compareWeights, type CompareWeightsOptions, type WeightComparison } from "./lossless.ts";
