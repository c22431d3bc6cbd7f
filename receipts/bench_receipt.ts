/**
 * The benchmark receipt (`ci/bench_<name>.json`, kind `"bench"`, schema `receipts/bench.schema.json`): what was
 * measured, on which model and machine, by which build, with every per-repetition sample the statistics were
 * computed from, for our engine and for llama.cpp (run interleaved in the same process, same model, same threads).
 *
 * The validation spec's fields (Phase D, AC18) are kept at the top level: `compute_path` (`"real"`), `backend`,
 * `tokens_per_second` and `latency_ms` (the headline: our engine's median of the first generation test), and
 * `kernels` (the kernel ids our engine's recorder saw). Each side of each test is a record with llama-bench's JSON
 * field names and meanings (`tools/llama-bench/llama-bench.cpp`: `avg_ts` is the mean of the per-repetition rates
 * `1e9 * (n_prompt + n_gen) / t_ns`, `stddev_ts` their N - 1 standard deviation), so the records can be fed to
 * llama.cpp's `scripts/compare-llama-bench.py`; what llama-bench lacks (median, latency, the paired engine/llama.cpp
 * ratio with its bootstrap interval, machine fingerprint, model sha256) is added beside.
 *
 * @module
 */

import type { ReferenceInputJson, ReferenceLibraryName, ReferenceSelectionJson } from "./parity_receipt.ts";
import type { MachineInfo, ToolInfo } from "./provenance.ts";

/**
 * Schema version of bench receipts written by this code. 1.1.0 (additive): `numerics` (the engine's kernel set),
 * tests at a depth (`tg32@d512`, `n_depth`), `bytes_per_token` of generation tests and the measured read bandwidth
 * (`roofline`); which reference ran and how (`reference.library` `ik_llama.cpp`/`custom`, `selection`,
 * `build_flags`, `input` with its transcode).
 */
export const BENCH_SCHEMA_VERSION = "1.1.0";

/**
 * Count, mean, median, sample standard deviation (N - 1), min, max of one sample, in the sample's units: what
 * `summarize` (stats.ts, whose `SampleStats` is this type) returns, stored as computed.
 */
export interface StatsJson {
  /** Number of values. */
  readonly n: number;
  /** Arithmetic mean (llama-bench `avg_*`). */
  readonly mean: number;
  /** Median. */
  readonly median: number;
  /** Sample standard deviation, N - 1 in the denominator, 0 when n <= 1 (llama-bench `stddev_*`). */
  readonly stddev: number;
  /** Smallest value. */
  readonly min: number;
  /** Largest value. */
  readonly max: number;
}

/**
 * One engine's repetitions of one test: a record with every field of the pinned llama-bench's JSON output
 * (`tools/llama-bench/llama-bench.cpp` `test::get_fields()`, release v0.5.0) except `build_number`, which neither
 * build has, with the same meanings and types; then our statistics. Fields about GPUs, device splits and affinity
 * hold the values of a plain CPU run. `scripts/compare-llama-bench.py` of the same release accepts the records.
 */
export interface BenchRecord {
  /** Commit of the build that ran (our tool's commit, or llama.cpp's). */
  readonly build_commit: string;
  /** CPU model. */
  readonly cpu_info: string;
  /** Always empty: CPU runs. */
  readonly gpu_info: string;
  /** Backend that computed (`wasm`, `ref`, `CPU`). */
  readonly backends: string;
  /** Model file name (no directory). */
  readonly model_filename: string;
  /** Model description (llama.cpp `llama_model_desc`). */
  readonly model_type: string;
  /** Bytes of all tensors. */
  readonly model_size: number;
  /** Parameters. */
  readonly model_n_params: number;
  /** Tokens per forward call. */
  readonly n_batch: number;
  /** Tokens per micro-batch. */
  readonly n_ubatch: number;
  /** Threads. */
  readonly n_threads: number;
  /** CPU affinity mask (`0x0`: none set). */
  readonly cpu_mask: string;
  /** Strict CPU placement. */
  readonly cpu_strict: boolean;
  /** Thread-pool polling level (ggml's default 50 for llama.cpp; 0 for our engine, which has no such setting). */
  readonly poll: number;
  /** K cache type. */
  readonly type_k: string;
  /** V cache type. */
  readonly type_v: string;
  /** Layers offloaded to a GPU (always 0: CPU runs). */
  readonly n_gpu_layers: number;
  /** MoE layers kept on the CPU (always 0: BitNet is dense). */
  readonly n_cpu_moe: number;
  /** How the model is split over devices (`layer`: llama.cpp's default; `none`). */
  readonly split_mode: string;
  /** Main GPU index (0: unused). */
  readonly main_gpu: number;
  /** KV cache kept off the GPU (false: nothing to offload). */
  readonly no_kv_offload: boolean;
  /** Flash attention as requested, llama.cpp's `flash_attn_type`: -1 auto, 0 disabled, 1 enabled. */
  readonly flash_attn: number;
  /** Devices (`auto`: the library's choice; `none`: CPU only). */
  readonly devices: string;
  /** Tensor split over devices (`0.00`: none). */
  readonly tensor_split: string;
  /** Tensor buffer-type overrides (`none`). */
  readonly tensor_buft_overrides: string;
  /** How weights are loaded (`auto`: llama.cpp's default, which maps the file; `none`: read into memory). */
  readonly load_mode: string;
  /** Lazy tensor loading (`auto`, `off`). */
  readonly lazy_mode: string;
  /** Always false: logits are computed. */
  readonly embeddings: boolean;
  /** Op offload disabled (0: not applicable on CPU). */
  readonly no_op_offload: number;
  /** Host buffers disabled (false). */
  readonly no_host: boolean;
  /** Memory-fit target (0: not used). */
  readonly fit_target: number;
  /** Memory-fit minimum context (0: not used). */
  readonly fit_min_ctx: number;
  /** Prompt tokens per repetition (`pp<N>`: N, else 0). */
  readonly n_prompt: number;
  /** Generated tokens per repetition (`tg<N>`: N, else 0). */
  readonly n_gen: number;
  /** Tokens in the cache before the test (the `@d<D>` of the test name, else 0). */
  readonly n_depth: number;
  /** RFC 3339 time of the test's first repetition. */
  readonly test_time: string;
  /** Mean of `samples_ns`, rounded to an integer as llama-bench does. */
  readonly avg_ns: number;
  /** Sample standard deviation of `samples_ns`. */
  readonly stddev_ns: number;
  /** Mean of `samples_ts`. */
  readonly avg_ts: number;
  /** Sample standard deviation of `samples_ts`. */
  readonly stddev_ts: number;
  /** Wall time of each repetition, nanoseconds (integers). */
  readonly samples_ns: readonly number[];
  /** Tokens per second of each repetition: `1e9 * (n_prompt + n_gen) / samples_ns[i]`. */
  readonly samples_ts: readonly number[];
  /** Statistics of `samples_ts` (median included). */
  readonly stats_ts: StatsJson;
  /** Latency per repetition, ms: the whole prompt for `pp`, the mean per generated token for `tg`. */
  readonly samples_latency_ms: readonly number[];
  /** Statistics of `samples_latency_ms`. */
  readonly latency_ms: StatsJson;
}

/** Engine tokens/s divided by llama.cpp tokens/s for each interleaved pair of repetitions. */
export interface PairedRatio {
  /** `engine.samples_ts[i] / reference.samples_ts[i]`. */
  readonly samples: readonly number[];
  /** Median of `samples`. */
  readonly median: number;
  /** Bootstrap interval of the median, lower bound. */
  readonly low: number;
  /** Upper bound. */
  readonly high: number;
  /** Confidence level of the interval. */
  readonly confidence: number;
}

/** One test (`pp<N>` or `tg<N>`, optionally at a depth: `tg32@d512`) on both engines. */
export interface BenchResult {
  /** llama-bench test name: `pp512`, `tg128`, `tg32@d2048` (llama-bench prints `tg32 @ d2048`). */
  readonly test: string;
  /** Prompt tokens. */
  readonly n_prompt: number;
  /** Generated tokens. */
  readonly n_gen: number;
  /** Tokens in the cache before the timed part (1.1.0; absent in 1.0.0 receipts: 0). */
  readonly n_depth?: number;
  /**
   * Generation tests (1.1.0): bytes each side reads per generated token, the model's matrices once (the token
   * embedding only when it is also the output matrix) plus the mean KV cache rows attended over, in each side's
   * cache type; null for prompt tests. Times tokens/s, over `roofline.native_gbps`: the fraction of the roofline.
   */
  readonly bytes_per_token?: { readonly engine: number; readonly reference: number } | null;
  /** Our engine, or null when it did not run. */
  readonly engine: BenchRecord | null;
  /** llama.cpp, or null when it did not run. */
  readonly reference: BenchRecord | null;
  /** The paired ratio, null unless both ran. */
  readonly ratio: PairedRatio | null;
}

/** How the run was set up. */
export interface BenchSettings {
  /** Threads for both engines. */
  readonly threads: number;
  /** Measured repetitions per test and engine. */
  readonly reps: number;
  /** Unmeasured warmup repetitions per test and engine. */
  readonly warmup: number;
  /** Seed of the token ids (same ids on both engines). */
  readonly seed: number;
  /** Repetition order: `ABAB` = engine, llama.cpp, engine, llama.cpp, ... */
  readonly order: "ABAB";
  /** Tests, in run order. */
  readonly tests: readonly string[];
  /** Context length both engines were loaded with. */
  readonly n_ctx: number;
  /** Confidence level of the intervals. */
  readonly confidence: number;
}

/** The model file. */
export interface BenchModelInfo {
  /** Path as given. */
  readonly path: string;
  /** Lockfile name when it came from the lockfile. */
  readonly lock_name: string | null;
  /** SHA-256 of the file. */
  readonly sha256: string;
  /** File size. */
  readonly size_bytes: number;
  /** `general.architecture`. */
  readonly arch: string;
  /** `llama_model_desc`. */
  readonly description: string;
  /** Parameters (llama.cpp's count). */
  readonly n_params: number;
  /** Vocabulary size. */
  readonly n_vocab: number;
  /** Hidden size. */
  readonly n_embd: number;
  /** Layers. */
  readonly n_layer: number;
  /** Ternary weight type(s), e.g. `TQ2_0`. */
  readonly weight_type: string;
  /** Token embedding type. */
  readonly embedding_type: string;
}

/** Our engine in this run. */
export interface BenchEngineInfo {
  /** True when every repetition completed. */
  readonly ran: boolean;
  /** Kernel backend (`wasm`, `ref`). */
  readonly backend: string;
  /** Threads. */
  readonly threads: number;
  /** Kernel ids that executed, first-run order (`<backend>.<op>[.<variant>]`). */
  readonly kernels: readonly string[];
  /** The kernel set (1.1.0). */
  readonly numerics?: "exact" | "fast";
  /** Test-only modifications in effect (an injected delay); empty in a real receipt. */
  readonly faults: Readonly<Record<string, string>>;
  /** Why it did not run, or null. */
  readonly error: string | null;
}

/** llama.cpp in this run. */
export interface BenchReferenceInfo {
  /** True when every repetition completed. */
  readonly ran: boolean;
  /** `llama.cpp` (the pinned release), `ik_llama.cpp` (built from source) or `custom` (schema 1.1.0). */
  readonly library: ReferenceLibraryName;
  /** How it was chosen (schema 1.1.0). */
  readonly selection?: ReferenceSelectionJson;
  /** How the library was built, when known (schema 1.1.0). */
  readonly build_flags?: string | null;
  /** The file it ran and the transcode that made it, or null when it ran the model itself (schema 1.1.0). */
  readonly input?: ReferenceInputJson | null;
  /** Release label (`v0.5.0`) or null. */
  readonly release: string | null;
  /** `llama_version()`-style version. */
  readonly version: string | null;
  /** Commit of the llama.cpp source. */
  readonly commit: string | null;
  /** ggml commit. */
  readonly ggml_commit: string | null;
  /** Backend, e.g. `CPU (zen4)`. */
  readonly backend: string;
  /** Threads. */
  readonly threads: number;
  /** Stable ids of what computed (`llama.cpp`: ggml's CPU backend has no kernel recorder). */
  readonly kernels: readonly string[];
  /** Why it did not run, or null. */
  readonly error: string | null;
}

/** A bench receipt. */
export interface BenchReceipt {
  /** Receipt kind. */
  readonly kind: "bench";
  /** `1.0.0`. */
  readonly schema_version: string;
  /** RFC 3339, when the receipt was written. */
  readonly timestamp: string;
  /** Receipt name: the file is `bench_<name>.json`. */
  readonly name: string;
  /** `real`: measured by running the engine (the only value this code writes). */
  readonly compute_path: "real";
  /** Our engine's kernel backend. */
  readonly backend: string;
  /** Our engine's kernel set (1.1.0; 1.0.0 receipts ran `exact`). */
  readonly numerics?: "exact" | "fast";
  /** SHA-256 of the model file. */
  readonly model_sha256: string;
  /** Commit of this tool (the engine's build). */
  readonly commit: string;
  /** Headline: our engine's median tokens/s in the first `tg` test (else the first test), null if it did not run. */
  readonly tokens_per_second: number | null;
  /** Headline latency of the same test (ms per token for `tg`, ms per prompt for `pp`). */
  readonly latency_ms: number | null;
  /** Which test the headline numbers come from. */
  readonly headline_test: string;
  /** Kernel ids our engine ran (same as `engine.kernels`). */
  readonly kernels: readonly string[];
  /** The tool. */
  readonly tool: ToolInfo;
  /** The machine. */
  readonly machine: MachineInfo;
  /** The model. */
  readonly model: BenchModelInfo;
  /** Settings. */
  readonly settings: BenchSettings;
  /** Wall-clock bounds of the measurement. */
  readonly run: { readonly started_at: string; readonly finished_at: string; readonly wall_ms: number };
  /** Our engine. */
  readonly engine: BenchEngineInfo;
  /** llama.cpp. */
  readonly reference: BenchReferenceInfo;
  /** Per test. */
  readonly results: readonly BenchResult[];
  /** The streaming-read bandwidth measured in the same run (1.1.0), or null. */
  readonly roofline?: BenchBandwidth | null;
}

/** Streaming-read bandwidth of the machine (bench/bandwidth.ts), the roofline of decode. */
export interface BenchBandwidth {
  /** Threads reading (the benchmark's). */
  readonly threads: number;
  /** Bytes read per repetition. */
  readonly bytes: number;
  /** Native probe (C): bytes over the best repetition, GB/s. */
  readonly native_gbps: number;
  /** WebAssembly probe (`probe.read`): GB/s. */
  readonly wasm_gbps: number;
  /** Seconds of each native repetition. */
  readonly native_seconds: readonly number[];
  /** Seconds of each WebAssembly repetition. */
  readonly wasm_seconds: readonly number[];
}
