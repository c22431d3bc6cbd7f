/**
 * bitnet-crossval: run BitNet b1.58 ternary models with our own engine and prove it against llama.cpp.
 *
 * The public library, by folder, named one by one (each folder's `mod.ts` has more for specialists):
 * - `engine/`: {@link Engine} (load, tokenize, eval, generate), {@link GgufFile}, {@link Tokenizer}, the GGML type
 *   table and ternary formats, lossless conversion between them ({@link convertGguf}), deterministic synthetic
 *   models ({@link writeSyntheticModel}), the BitNet config, and the WebGPU adapter the `webgpu` backend would use
 *   ({@link describeWebGpu}).
 * - `ffi/`: llama.cpp through `Deno.dlopen` ({@link CppModel}, {@link locateLlamaLibrary}, {@link LibraryLoadError}),
 *   run in a supervised child process by {@link ReferenceProcess} (a crash there is a {@link ReferenceCrashedError}).
 * - `lock/`: the lockfile and model fetcher ({@link Lockfile}, {@link fetchModels}, {@link resolveModel}).
 * - `parity/`: the parity harness ({@link runParityOnModel}, {@link runParity}).
 * - `bench/`: benchmarks ({@link benchModelFile}, {@link runBench}).
 * - `receipts/`: receipt types, provenance and verification ({@link verifyReceipt}, {@link compareToBaseline}).
 *
 * Run as a program (`deno run -A jsr:@bitnet/crossval <command>`), this module is the `crossval` CLI.
 *
 * @example Describe a generated model
 * ```ts
 * import { GgufFile, writeSyntheticModel } from "@bitnet/crossval";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using f = GgufFile.open(path);
 * console.log(f.architecture); // "bitnet"
 * ```
 *
 * @module
 */

// --- engine/: our engine, formats, tokenizer, synthetic models ---
export {
  Engine,
  type EngineInfo,
  type EngineOptions,
  type EvalOptions as EngineEvalOptions,
  type GeneratedToken,
  type GenerateOptions,
  type GenerationResult,
  type GenerationTimings,
  type TokenizeOptions as EngineTokenizeOptions,
} from "./engine/engine.ts";
export { Sampler, type SamplingOptions } from "./engine/sampling.ts";
export { type ActivationPrecision } from "./engine/backends/activation_precision.ts";
export { type KernelRecord, KernelRecorder } from "./engine/backends/recorder.ts";
export {
  type BackendKind,
  isNumericsProfile,
  type KernelBackend,
  type KernelId,
  NUMERICS_PROFILES,
  type NumericsProfile,
  type ScratchShape,
} from "./engine/backends/mod.ts";
// Whether `backend: "webgpu"` has an adapter here, and which (no device is created); its failures are WebGpuError.
export {
  describeWebGpu,
  WebGpuError,
  type WebGpuLimits,
  type WebGpuOpenOptions,
  type WebGpuReport,
} from "./engine/backends/webgpu/mod.ts";
export { type TensorHook, type TensorHookInfo } from "./engine/model/mod.ts";
export {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  type GgufArray,
  GgufFile,
  type GgufHeader,
  type GgufKv,
  type GgufScalar,
  type GgufSpec,
  type GgufTensorInfo,
  type GgufTensorSpec,
  GgufValueType,
  type GgufValueTypeId,
  InvalidModelError,
  type PreflightCode,
  preflightGguf,
  type PreflightProblem,
} from "./engine/gguf/mod.ts";
export {
  type ActivationFormat,
  dequantizeI2S,
  dequantizeTq1_0,
  dequantizeTq2_0,
  ggmlTensorBytes,
  GgmlType,
  ggmlTypeByName,
  type GgmlTypeId,
  type GgmlTypeInfo,
  ggmlTypeInfo,
  ggmlTypeName,
  QUANT_FORMATS,
  type QuantFormat,
  quantFormat,
  quantizeI2S,
  quantizeTq1_0,
  quantizeTq2_0,
} from "./engine/quant/mod.ts";
export {
  I2S_PACKINGS,
  type I2SPacking,
  type I2SPackingEvidence,
  i2sRowDispersion,
  type I2SShape,
  packI2SCodes,
  parseI2SPacking,
  unpackI2SCodes,
} from "./engine/quant/mod.ts";
export {
  compareWeights,
  type CompareWeightsOptions,
  type ConversionProblem,
  ConversionRefusedError,
  type ConvertedTensor,
  type ConvertEvent,
  convertGguf,
  type ConvertOptions,
  type ConvertResult,
  type ConvertTarget,
  convertTarget,
  decodeTernary,
  type DecodeTernaryOptions,
  encodeTernary,
  type TernaryEncoding,
  type TernaryScales,
  type TernaryWeights,
  type WeightComparison,
  type WeightPlan,
} from "./engine/convert/mod.ts";
export {
  normalizeSpec,
  PRESETS,
  shapeOf,
  specFromQuery,
  specToQuery,
  SYNTH_FORMAT_VERSION,
  type SynthEmbedType,
  synthesizeModel,
  type SynthEvent,
  type SynthPreset,
  type SynthResult,
  type SynthShape,
  type SynthSpec,
  type SynthWeightType,
  writeSyntheticModel,
} from "./engine/synth/mod.ts";
export {
  type ArchName,
  configFromGguf,
  type FfnActivation,
  type LlamaCppCompatibility,
  llamaCppCompatibility,
  type ManifestProblem,
  type ModelConfig,
  type RopeType,
  type TensorRole,
  type TensorSpec,
  validateTensors,
} from "./engine/model/mod.ts";
export {
  type DetokenizeOptions as TokenizerDetokenizeOptions,
  type EncodeOptions as TokenizerEncodeOptions,
  type PieceOptions,
  preTokenize,
  type PreTokenizeOptions,
  type PreTypeInfo,
  type SpecialIds,
  StreamDecoder,
  type StreamDecoderOptions,
  Tokenizer,
  type TokenizerIdentity,
  type Vocab,
  type VocabKind,
} from "./engine/tokenizer/mod.ts";

// --- ffi/: the llama.cpp reference ---
export {
  type CapturedTensor,
  type CaptureResult,
  CppModel,
  type CppModelInfo,
  type CppModelOptions,
  type CppModelSettings,
  type CrashKind,
  type CrashReport,
  type DetokenizeOptions as CppDetokenizeOptions,
  type DriverCommand,
  type EvalOptions as CppEvalOptions,
  type EvalResult as CppEvalResult,
  findLlamaNpmPackage,
  type Frame as ReferenceFrame,
  type GreedyOptions as CppGreedyOptions,
  type GreedyResult as CppGreedyResult,
  type GreedyTimings as CppGreedyTimings,
  type Header as ReferenceFrameHeader,
  LibraryLoadError,
  type LlamaDevice,
  LlamaLibrary,
  type LlamaLibraryInfo,
  type LlamaLibraryLocation,
  LlamaLog,
  type LlamaLogLevel,
  type LlamaLogLine,
  locateLlamaLibrary,
  PINNED_LLAMA,
  type RefCaptureResult,
  ReferenceCrashedError,
  type ReferenceIdentity,
  ReferenceProcess,
  type ReferenceProcessOptions,
  type ReferenceTimeouts,
  type RefEvalResult,
  type RefLoadOptions,
  RefModel,
  type RefModelInfo,
  type TensorFilter,
  type TokenizeOptions as CppTokenizeOptions,
} from "./ffi/mod.ts";
// The C++ references built from source (ik_llama.cpp): progress of a build, and what a reference can compute.
export {
  type ComputeSupport,
  type ReferenceBuildEvent,
  type ReferenceBuildPhase,
  type ReferenceId,
  type SupportProblem,
} from "./ffi/references/mod.ts";

// --- lock/: lockfile, cache, fetcher ---
export {
  type AcquireLockOptions,
  cacheRoot,
  ChecksumMismatchError,
  defaultLockfilePath,
  DownloadError,
  type EnvReader,
  type FetchEvent,
  type FetchModelOptions,
  fetchModels,
  type FetchOptions,
  type FetchReport,
  InsufficientSpaceError,
  type LockEntry,
  Lockfile,
  LOCKFILE_NAME,
  LockfileError,
  type LockfileJson,
  type LockMode,
  type LockOwner,
  modelCacheDir,
  ModelNotProvisionedError,
  type ModelReport,
  type ModelStatus,
  type ProgressPhase,
  type ResolvedModel,
  resolveModel,
  type ResolveModelOptions,
  type RetryPolicy,
  type Source,
  type Tier,
  TIERS,
  UnsafeCacheError,
} from "./lock/mod.ts";

// --- parity/: our engine against llama.cpp ---
export {
  DEFAULT_PROMPTS,
  type EngineParitySubject,
  type NamedTensor,
  type ParityEvent,
  type ParityPrompt,
  type ParityRunOptions,
  type ParitySubject,
  type ParitySummary,
  parsePromptFile,
  type ReferenceParitySubject,
  runParity,
  runParityOnModel,
  type RunParityOptions,
  summarizeParityReceipt,
  type TokenizeVariant,
} from "./parity/mod.ts";
export { FAULT_NAMES, type Faults, type ProjectionName } from "./parity/faults.ts";
// Which reference a run compares with (`--reference`), and what it is fed (docs/references.md, "Reference choice").
export {
  type IkInputFormat,
  REFERENCE_NAMES,
  type ReferenceSelection,
  ReferenceUnsupportedError,
  selectReference,
} from "./parity/reference_plan.ts";

// --- bench/: measurements ---
export {
  type BenchEvent,
  type BenchLoadEvent,
  benchModelFile,
  type BenchModelOptions,
  type BenchSide,
  type BenchSubject,
  type BenchTest,
  DEFAULT_BENCH_TESTS,
  runBench,
  type RunBenchOptions,
  type SubjectInfo,
  type SubjectLibrary,
} from "./bench/mod.ts";

// --- receipts/: what a run proves, and checking it ---
export {
  type Baseline,
  type BaselineComparison,
  type BaselineEntry,
  type BaselineSide,
  type BenchBandwidth,
  type BenchEngineInfo,
  type BenchmarkVerdict,
  type BenchModelInfo,
  type BenchReceipt,
  type BenchRecord,
  type BenchReferenceInfo,
  type BenchResult,
  type BenchSettings,
  type ChangeEstimate,
  type CompareOptions,
  compareToBaseline,
  DEFAULT_THRESHOLDS,
  type EngineInfoJson,
  generateBaseline,
  type GenerateBaselineOptions,
  type GreedyCheck,
  type GreedyDivergence,
  type GreedyPrompt,
  type Interval,
  type LocalizationCheck,
  type LocalizedTensor,
  type LogitsCheck,
  type LogitsRow,
  type LogitsSummary,
  type MachineInfo,
  machineInfo,
  type ModelInfoJson,
  type PairedRatio,
  PARITY_SCHEMA_VERSION,
  type ParityMetrics,
  type ParityOverallStatus,
  type ParityReason,
  type ParityReceipt,
  type ParityStatus,
  type ParityThresholds,
  type ReasonCheck,
  type ReceiptProblem,
  type ReceiptPrompt,
  type ReferenceCrashJson,
  type ReferenceInfo,
  type ReferenceInputJson,
  type ReferenceLibraryName,
  type ReferenceSelectionJson,
  type StatsJson,
  type SummaryJson,
  type TokenDiff,
  type TokenizationCase,
  type TokenizationCheck,
  type TokenizerIdentity as ReceiptTokenizerIdentity,
  type ToolInfo,
  toolInfo,
  type TopEntry,
  type TranscodeJson,
  type Verdict,
  verifyBaseline,
  verifyReceipt,
  writeJsonAtomic,
} from "./receipts/mod.ts";
export { renderReport, type RenderReportOptions, type ReportInput } from "./report/mod.ts";

if (import.meta.main) {
  // `deno run -A jsr:@bitnet/crossval fetch`: the package's default entry doubles as the CLI.
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
