/**
 * llama.cpp through `Deno.dlopen`: the reference the engine is checked against. Never imports `engine/`.
 *
 * @module
 */
export {
  findLlamaNpmPackage,
  LibraryLoadError,
  type LlamaLibraryLocation,
  locateLlamaLibrary,
  PINNED_LLAMA,
} from "./library.ts";
export { llamaSourceDir } from "./llama_source.ts";
export {
  assertFfiPermission,
  type LlamaDevice,
  LlamaLibrary,
  type LlamaLibraryInfo,
  llamaLog,
} from "./llama_library.ts";
export { LlamaLog, type LlamaLogLevel, type LlamaLogLine } from "./llama_log.ts";
export { argmax, CppModel } from "./cpp_model.ts";
export type {
  CppModelInfo,
  CppModelOptions,
  CppModelSettings,
  DetokenizeOptions,
  EvalOptions,
  EvalResult,
  GreedyOptions,
  GreedyResult,
  GreedyTimings,
  TokenizeOptions,
} from "./cpp_model_types.ts";
export { type CapturedTensor, type CaptureResult, type TensorFilter } from "./tensor_capture.ts";
export { compareAbi, probeAbi, type ProbedAbi, type ProbedStruct, type ProbeResult, probeSource } from "./abi_probe.ts";
export {
  BINDING_CONSTANTS,
  BINDING_LAYOUTS,
  type CScalar,
  defineStruct,
  denoStructType,
  GGML_TENSOR,
  LLAMA_BATCH,
  LLAMA_CONTEXT_PARAMS,
  LLAMA_MODEL_PARAMS,
  type StructField,
  type StructFieldSpec,
  type StructLayout,
} from "./struct_layout.ts";
export {
  defaultDriverCommand,
  type DriverCommand,
  type RefCaptureResult,
  type ReferenceIdentity,
  ReferenceProcess,
  type ReferenceProcessOptions,
  type ReferenceTimeouts,
  type RefEvalResult,
  type RefLoadOptions,
  RefModel,
  type RefModelInfo,
} from "./ref_process.ts";
export {
  type CrashKind,
  type CrashReport,
  nativeFailure,
  ReferenceCrashedError,
  shortSourcePath,
} from "./ref_crash.ts";
export { type Frame, type Header, PROTOCOL_MAJOR, PROTOCOL_MINOR } from "./ref_protocol.ts";
