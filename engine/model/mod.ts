/**
 * BitNet model: hyperparameters, tensor manifest, the forward pass, the RoPE table and the test-only faults.
 *
 * @module
 */
export * from "./config.ts";
export * from "./manifest.ts";
export {
  type ArenaTensor,
  type BitnetLayer,
  type BitnetLoadOptions,
  BitnetModel,
  type BitnetWeights,
  type ForwardOptions,
  type LogitsMode,
  type Projection,
  type RunState,
  type TensorHook,
  type TensorHookInfo,
} from "./bitnet.ts";
export { ropeTable, type RopeTableOptions } from "./rope.ts";
export { cosf, sinf } from "./sincosf.ts";
export { FAULT_NAMES, type Faults, type ProjectionName } from "./faults.ts";
