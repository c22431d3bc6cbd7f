/**
 * Models: the architecture registry, the shared hyperparameters, manifests, graph blocks, arena placement and run
 * state, each architecture's file, and the RoPE table.
 *
 * @module
 */
export * from "./config.ts";
export {
  checkManifest,
  EMBEDDING_TYPES,
  type ManifestProblem,
  normSpec,
  projectionSpecs,
  type TensorRole,
  type TensorSpec,
  TERNARY_TYPES,
  type WeightTypeNames,
  weightTypeNames,
} from "./manifest.ts";
export {
  type Architecture,
  architecture,
  ARCHITECTURES,
  configFromGguf,
  type LlamaCppCompatibility,
  llamaCppCompatibility,
  loadModel,
  validateTensors,
} from "./architectures.ts";
export {
  type AttentionWeights,
  type Chunk,
  DecoderGraph,
  type DecoderInit,
  type ForwardOptions,
  type GateUpWeights,
  loadDecoder,
  type LoadedDecoder,
  type LoadOptions,
  type LogitsMode,
  type Model,
  type ModelSummary,
  type OutputWeights,
  type TensorHook,
  type TensorHookInfo,
} from "./graph.ts";
export {
  type ArenaTensor,
  FUSED_GROUPS,
  type FusedGroup,
  type FusedProjection,
  PlacedWeights,
  type Projection,
} from "./arena.ts";
export { allocRunState, type RunState, type RunStateOptions } from "./run_state.ts";
export { bitnetHparams, type BitnetLayer, bitnetManifest, BitnetModel } from "./bitnet.ts";
export { llamaHparams, type LlamaLayer, llamaManifest, LlamaModel } from "./llama.ts";
export { ropeTable, type RopeTableOptions } from "./rope.ts";
export { cosf, sinf } from "./sincosf.ts";
