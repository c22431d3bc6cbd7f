/**
 * Our inference engine: {@link Engine} (load, tokenize, eval, generate, kernels), the BitNet model and its forward
 * pass, the kernel backends, sampling and the kernel recorder.
 *
 * @module
 */
export {
  Engine,
  type EngineInfo,
  type EngineOptions,
  type EvalOptions,
  type GeneratedToken,
  type GenerateOptions,
  type GenerationResult,
  type GenerationTimings,
  type TokenizeOptions,
} from "./engine.ts";
export * from "./model/mod.ts";
export * from "./backends/mod.ts";
export { argmax, Prng, Sampler, type SamplingOptions } from "./sampling.ts";
