/**
 * The parity receipt (`ci/parity.json`, kind `"parity"`, schema `receipts/parity.schema.json`): what was compared
 * between our engine and llama.cpp, every per-position number the verdict was computed from, the thresholds used,
 * and who computed what (tool, machine, reference library and settings, engine backend and kernels, tokenizer).
 *
 * The validation spec's fields (Phase C) are kept at the top level with their meaning: `timestamp`, `model_sha256`,
 * `commit` (the spec's `bitnet_commit`), `test_suite`, `status`, and `metrics` with
 * `tokenization_exact_match`, `logits_cosine_similarity`, `greedy_exact_match`, `inference_time_engine_ms`
 * (the spec's `inference_time_rust_ms`) and `inference_time_cpp_ms`.
 *
 * JSON has no NaN: a metric that came out NaN (a NaN logit, say) is written as `null`, and `null` never passes a
 * gate.
 *
 * @module
 */

import type { MachineInfo, ToolInfo } from "./provenance.ts";

/**
 * Schema version of parity receipts written by this code. 1.1.0 (additive): overall status `reference_crashed`,
 * reference error kind `crashed` with `reference.error.crash`. 1.2.0 (additive): `engine.device`, the WebGPU
 * adapter the engine ran on; `engine.numerics`, the kernel set that ran; which reference ran and how
 * (`reference.library` `ik_llama.cpp`/`custom`, `reference.selection`, `driver`, `build_flags`, `arch`, `input` with
 * its transcode), error kind `unsupported`, `engine.activations`, and the localization's `clean_row_nmse_max`.
 */
export const PARITY_SCHEMA_VERSION = "1.2.0";

/** Overall or per-check verdict. `not_run`: the check could not be carried out, which is never a pass. */
export type ParityStatus = "pass" | "fail" | "not_run";

/**
 * The receipt's overall verdict: a check verdict, or `reference_crashed` when the reference process died (abort,
 * signal, deadline, memory limit), which is never a pass either.
 */
export type ParityOverallStatus = ParityStatus | "reference_crashed";

/** How the reference process died (`ffi/PROTOCOL.md` section 6), as the receipt records it. */
export interface ReferenceCrashJson {
  /** `abort`, `signal`, `exit`, `timeout`, `memory` or `protocol`. */
  readonly kind: string;
  /** The request in flight (`load`, `eval`, ...), or null. */
  readonly op: string | null;
  /** Exit status, or null when a signal ended it. */
  readonly exit_code: number | null;
  /** Signal name, or null. */
  readonly signal: string | null;
  /** The native message, e.g. `GGML_ASSERT(eps >= 0.0f) failed`. */
  readonly message: string;
  /** `file:line` of the native failure, e.g. `ggml-cpu/ops.cpp:3949`, or null. */
  readonly location: string | null;
  /** The last lines of the child's stderr. */
  readonly stderr_tail: readonly string[];
}

/** Which part of the run a reason concerns. */
export type ReasonCheck = "tokenization" | "logits" | "greedy" | "localization" | "reference" | "engine" | "prompts";

/** Why a check did not pass (or why the run is `not_run`). */
export interface ParityReason {
  /** The check or component. */
  readonly check: ReasonCheck;
  /** Stable machine code, e.g. `cosine_below_min`, `reference_timeout`, `token_mismatch`. */
  readonly code: string;
  /** Human sentence: what failed, the state, the fix when there is one. */
  readonly message: string;
}

/** The thresholds a receipt was judged with (calibration in docs/parity.md). */
export interface ParityThresholds {
  /** Identifier of this threshold set (changes whenever a value changes). */
  readonly id: string;
  /** Every position's cosine similarity must be at least this (the validation spec's AC13). */
  readonly cosine_min: number;
  /** Mean KL(reference ‖ engine) over all positions must not exceed this. */
  readonly kld_mean_max: number;
  /**
   * Median KL must not exceed this: the gate for errors that touch every position a little (a flipped weight,
   * coarser activation scales), which rounding noise, sparse by nature, cannot reach.
   */
  readonly kld_median_max: number;
  /** No position's KL may exceed this. */
  readonly kld_max_max: number;
  /** Fraction of positions whose argmax agrees must be at least this. */
  readonly same_top_min: number;
  /** Top-1/top-2 logit gap below which both sides' choices count as a near-tie. */
  readonly tie_logit_epsilon: number;
  /** A near-tie is excused only if each side's choice is within the other's top this-many. */
  readonly tie_top_k: number;
  /** Localization: op-by-op comparison of intermediates (docs/parity.md, "Localization"). */
  readonly localization: {
    /** A row whose inputs all have per-row NMSE ≤ this was fed the same input on both sides. */
    readonly clean_row_nmse: number;
    /** Per intermediate kind: a clean-input row above this got an error from the op itself. */
    readonly new_error_row_nmse: Readonly<Record<string, number>>;
    /** An op fails when more than this fraction of its clean-input rows got a new error... */
    readonly dense_fraction: number;
    /** ...and it had at least this many clean-input rows. */
    readonly min_clean_rows: number;
  };
}

/** A prompt of the run. */
export interface ReceiptPrompt {
  /** Index used by every per-prompt record. */
  readonly index: number;
  /** The text. */
  readonly text: string;
  /** Whether special-token text in it is parsed for the logits and greedy checks. */
  readonly parse_special: boolean;
  /** Tokens the logits and greedy checks fed both engines (the reference's tokenization, add-special on). */
  readonly n_tokens: number;
}

/** The first place two token sequences differ. */
export interface TokenDiff {
  /** Index of the first difference (may equal the shorter length). */
  readonly index: number;
  /** Engine id there, or null past its end. */
  readonly engine_id: number | null;
  /** Reference id there, or null past its end. */
  readonly reference_id: number | null;
  /** Engine's token text (special tokens rendered), or null. */
  readonly engine_piece: string | null;
  /** Reference's token text, or null. */
  readonly reference_piece: string | null;
}

/** One tokenization comparison. */
export interface TokenizationCase {
  /** Prompt index. */
  readonly prompt: number;
  /** add_special (BOS as the vocabulary says). */
  readonly add_special: boolean;
  /** parse_special (special-token text becomes special tokens). */
  readonly parse_special: boolean;
  /** Engine ids. */
  readonly engine_ids: readonly number[];
  /** Reference ids. */
  readonly reference_ids: readonly number[];
  /** Exact equality of the two sequences. */
  readonly match: boolean;
  /** First difference, null when they match. */
  readonly first_diff: TokenDiff | null;
}

/** The tokenization check. */
export interface TokenizationCheck {
  /** Verdict. */
  readonly status: ParityStatus;
  /** Every prompt × variant. */
  readonly cases: readonly TokenizationCase[];
}

/** One compared position (row) of the logits check. */
export interface LogitsRow {
  /** Prompt index. */
  readonly prompt: number;
  /** Position in the prompt's token sequence. */
  readonly pos: number;
  /** Input token at `pos`. */
  readonly token: number;
  /** Cosine similarity of the two logit rows. */
  readonly cosine: number | null;
  /** KL(softmax(reference) ‖ softmax(engine)), nats, full vocabulary, f64. */
  readonly kld: number | null;
  /** max |Δlogit| over the vocabulary. */
  readonly max_abs_dlogit: number | null;
  /** p_engine(t) − p_reference(t) for t = the reference's argmax. */
  readonly dp: number | null;
  /** Reference argmax (lowest id on ties). */
  readonly ref_top1: number;
  /** Engine argmax. */
  readonly eng_top1: number;
  /** Reference top-1 minus top-2 logit. */
  readonly ref_gap: number | null;
  /** Engine top-1 minus top-2 logit. */
  readonly eng_gap: number | null;
  /** 0-based rank of the reference's argmax in the engine's row. */
  readonly eng_rank_of_ref_top1: number;
  /** 0-based rank of the engine's argmax in the reference's row. */
  readonly ref_rank_of_eng_top1: number;
}

/** llama-perplexity-style statistics (see metrics.ts `Summary`). */
export interface SummaryJson {
  /** Sample size. */
  readonly n: number;
  /** Mean. */
  readonly mean: number | null;
  /** Uncertainty of the mean (null when n ≤ 10). */
  readonly mean_uncertainty: number | null;
  /** Largest. */
  readonly max: number | null;
  /** 99.9th percentile. */
  readonly p99_9: number | null;
  /** 99th percentile. */
  readonly p99: number | null;
  /** 95th percentile. */
  readonly p95: number | null;
  /** Median. */
  readonly median: number | null;
  /** Smallest. */
  readonly min: number | null;
}

/** Summary of the logits rows (recomputed from `rows` by `crossval receipt verify`). */
export interface LogitsSummary {
  /** Rows compared. */
  readonly compared_tokens: number;
  /** Smallest cosine. */
  readonly cosine_min: number | null;
  /** Mean cosine. */
  readonly cosine_mean: number | null;
  /** KLD statistics. */
  readonly kld: SummaryJson;
  /** Fraction of rows whose argmax agrees, with binomial uncertainty. */
  readonly same_top: {
    readonly k: number;
    readonly n: number;
    readonly p: number;
    readonly uncertainty: number | null;
  };
  /** Rows whose argmax differs and that are not an excused near-tie. */
  readonly decisive_top1_flips: number;
  /** Largest |Δlogit| of all rows. */
  readonly max_abs_dlogit: number | null;
  /** RMS of `dp` over rows. */
  readonly rms_dp: number | null;
}

/** The logits check. */
export interface LogitsCheck {
  /** Verdict. */
  readonly status: ParityStatus;
  /** Every position of every prompt. */
  readonly rows: readonly LogitsRow[];
  /** Statistics of `rows`; null when no row was compared. */
  readonly summary: LogitsSummary | null;
}

/** One candidate in a top-k list. */
export interface TopEntry {
  /** Token id. */
  readonly id: number;
  /** Its logit. */
  readonly logit: number | null;
  /** Its text. */
  readonly piece: string;
}

/** A greedy step where the two argmaxes differ. */
export interface GreedyDivergence {
  /** Prompt index. */
  readonly prompt: number;
  /** 0-based generated step. */
  readonly step: number;
  /** Engine's argmax. */
  readonly engine_token: number;
  /** Reference's argmax. */
  readonly reference_token: number;
  /** Engine's text of its token. */
  readonly engine_piece: string;
  /** Reference's text of its token. */
  readonly reference_piece: string;
  /** Engine's top 5 at this step. */
  readonly engine_top5: readonly TopEntry[];
  /** Reference's top 5 at this step. */
  readonly reference_top5: readonly TopEntry[];
  /** Engine's top-1 minus top-2 logit. */
  readonly engine_gap: number | null;
  /** Reference's top-1 minus top-2 logit. */
  readonly reference_gap: number | null;
  /** 0-based rank of the reference's token in the engine's logits. */
  readonly engine_rank_of_reference_token: number;
  /** 0-based rank of the engine's token in the reference's logits. */
  readonly reference_rank_of_engine_token: number;
  /** True when excused as a near-tie (both gaps < epsilon, each token in the other's top-k). */
  readonly tie: boolean;
}

/** Greedy decoding from one prompt. */
export interface GreedyPrompt {
  /** Prompt index. */
  readonly prompt: number;
  /** Steps compared (fewer than requested only after a failing divergence). */
  readonly steps: number;
  /** Engine's argmax at each step. */
  readonly engine_ids: readonly number[];
  /** Reference's argmax at each step (also the token both sides continue with after an excused tie). */
  readonly reference_ids: readonly number[];
  /** Every divergence (ties first, then at most one failing divergence, where comparison stops). */
  readonly divergences: readonly GreedyDivergence[];
  /** Verdict for this prompt. */
  readonly status: ParityStatus;
}

/** The greedy-decode check. */
export interface GreedyCheck {
  /** Verdict. */
  readonly status: ParityStatus;
  /** Steps requested per prompt. */
  readonly steps_requested: number;
  /** Per prompt. */
  readonly prompts: readonly GreedyPrompt[];
}

/** One intermediate compared by the localization check. */
export interface LocalizedTensor {
  /** llama.cpp graph name, e.g. `attn_sub_norm-2`. */
  readonly name: string;
  /** Layer, or null for `result_norm`/`result_output`. */
  readonly layer: number | null;
  /** Kind (name without the layer), the key into the tolerance table. */
  readonly kind: string;
  /** NMSE(reference, engine) over all replayed rows, null when not computable (missing, shape mismatch, NaN). */
  readonly nmse: number | null;
  /** Median over all replayed token rows of the per-row NMSE. */
  readonly row_nmse_median: number | null;
  /** Rows (tokens, all sequences) whose inputs to this op matched (per-row NMSE ≤ `clean_row_nmse`). */
  readonly clean_rows: number;
  /** Of those, rows whose NMSE here exceeds `tolerance`: errors this op introduced. */
  readonly new_error_rows: number;
  /**
   * The largest per-row NMSE among the clean-input rows (schema 1.2.0; null when none): how close the op came to its
   * tolerance, the number gates are calibrated from.
   */
  readonly clean_row_nmse_max?: number | null;
  /** `new_error_row_nmse` of this kind. */
  readonly tolerance: number;
  /**
   * `exceeded`: more than `dense_fraction` of at least `min_clean_rows` clean-input rows got a new error (the op
   * itself differs); `undetermined`: too few clean-input rows to tell (upstream differences already everywhere);
   * `missing_in_engine`: the reference has it, the engine (which provides this kind elsewhere) does not.
   */
  readonly status: "ok" | "exceeded" | "undetermined" | "missing_in_engine" | "shape_mismatch";
}

/** The localization check: named intermediates compared op by op, in graph order. */
export interface LocalizationCheck {
  /** Verdict: `fail` when any tensor is `exceeded`, `missing_in_engine` or `shape_mismatch`. */
  readonly status: ParityStatus;
  /** What was replayed, or why it could not run. */
  readonly reason: string;
  /** Prompt of the first logits/greedy failure, or null when they passed. */
  readonly prompt: number | null;
  /** Tokens replayed, all sequences together. */
  readonly n_tokens: number;
  /** Sequences replayed (every prompt, plus each failing greedy-divergence sequence). */
  readonly sequences: number;
  /** Compared tensors in graph order. */
  readonly tensors: readonly LocalizedTensor[];
  /** Expected names the reference did not provide (not compared). */
  readonly not_compared: readonly string[];
  /** The first failing tensor in graph order, or null. */
  readonly first_exceedance: LocalizedTensor | null;
}

/** A reference library a receipt can name. */
export type ReferenceLibraryName = "llama.cpp" | "ik_llama.cpp" | "custom";

/** How the reference was chosen (schema 1.2.0). */
export interface ReferenceSelectionJson {
  /** The `--reference` value in effect: `llama.cpp`, `ik_llama`, or a path. */
  readonly flag: string;
  /** `flag` when the user passed it, `architecture` when it is the default for the model's architecture. */
  readonly by: "flag" | "architecture";
}

/**
 * A lossless rewrite of the model's weights into a format the reference computes (schema 1.2.0): the file the
 * reference ran is not the file the receipt is about, so what changed and the proof that nothing was lost are
 * recorded.
 */
export interface TranscodeJson {
  /** `float` (our transcode to F32/F16) or `requantize` (the reference's own quantizer, e.g. to IQ2_BN). */
  readonly kind: "float" | "requantize";
  /** Target format (`f32`, `iq2_bn`). */
  readonly to: string;
  /** Tensors rewritten, by source type. */
  readonly from_types: Readonly<Record<string, number>>;
  /** How many tensors were rewritten. */
  readonly n_tensors: number;
  /** Who wrote it and the method's version. */
  readonly method: string;
  /** SHA-256 of the file written. */
  readonly sha256: string;
  /** SHA-256 of the file it was made from (the model's). */
  readonly source_sha256: string;
  /** Whether it came from the cache. */
  readonly cached: boolean;
  /** The element-for-element proof: whose dequantizer read each side, tensors and elements compared, all equal. */
  readonly verified: {
    readonly by: string;
    readonly tensors: number;
    readonly elements: number;
    readonly equal: boolean;
  };
}

/** The file the reference actually ran (schema 1.2.0). */
export interface ReferenceInputJson {
  /** Path. */
  readonly path: string;
  /** SHA-256 of it. */
  readonly sha256: string;
  /** Its weight types, upper case (`F32`, `IQ2_BN`). */
  readonly weight_types: readonly string[];
  /** The transcode that made it from the model, or null when the reference ran the model itself. */
  readonly transcode: TranscodeJson | null;
}

/** The reference and how it ran. */
export interface ReferenceInfo {
  /** True when every reference call the checks needed completed. */
  readonly ran: boolean;
  /** `llama.cpp` (the pinned release), `ik_llama.cpp` (built from source), `custom` (a user's build). */
  readonly library: ReferenceLibraryName;
  /** How it was chosen (schema 1.2.0). */
  readonly selection?: ReferenceSelectionJson;
  /** The driver program: `deno` (the pinned llama.cpp through FFI) or `c` (compiled against a build). */
  readonly driver?: string | null;
  /** How the library was built (CMake flags, compiler), when known. */
  readonly build_flags?: string | null;
  /** The architecture the reference loaded the file as (`general.architecture` as it read it). */
  readonly arch?: string | null;
  /** The file it ran, with the transcode that made it (schema 1.2.0). */
  readonly input?: ReferenceInputJson | null;
  /** Release label (`v0.5.0`) or `custom`. */
  readonly release: string | null;
  /** `llama_version()`. */
  readonly version: string | null;
  /** Commit of the llama.cpp source (the bindings' pinned commit). */
  readonly commit: string | null;
  /** `ggml_commit()`. */
  readonly ggml_commit: string | null;
  /** `npm` or `BITNET_CPP_DIR`. */
  readonly source: string | null;
  /** Backend that ran it, e.g. `CPU (zen4)`. */
  readonly backend: string | null;
  /** `llama_vocab_get_add_bos` of the loaded model. */
  readonly add_bos: boolean | null;
  /** `llama_vocab_get_add_eos`. */
  readonly add_eos: boolean | null;
  /** Settings in effect. */
  readonly settings: {
    readonly threads: number;
    readonly threads_batch: number;
    readonly type_k: string;
    readonly type_v: string;
    readonly flash_attn: string;
    readonly n_ctx: number;
    readonly n_batch: number;
  } | null;
  /** Time budget for all reference calls, ms. */
  readonly timeout_ms: number;
  /** Why it did not run, or null. */
  readonly error:
    | {
      readonly kind: "library_missing" | "load_failed" | "timeout" | "error" | "crashed" | "unsupported";
      readonly message: string;
      /** With kind `crashed`: how the reference process died (schema 1.1.0). */
      readonly crash?: ReferenceCrashJson;
    }
    | null;
}

/** Our engine and how it ran. */
export interface EngineInfoJson {
  /** True when it loaded and every call completed. */
  readonly ran: boolean;
  /** Kernel backend (`wasm`, `ref`, `webgpu`). */
  readonly backend: string | null;
  /** Activation precision of the ternary projections, `int8` or `float` (schema 1.2.0). */
  readonly activations?: "int8" | "float";
  /**
   * What computed when it is not the host CPU: the backend's device label, e.g.
   * `WebGPU llvmpipe (LLVM 15.0.6, 256 bits) [CPU fallback]` (schema 1.2.0; absent for CPU backends).
   */
  readonly device?: string;
  /** Threads. */
  readonly threads: number | null;
  /** Context length. */
  readonly n_ctx: number | null;
  /** Kernel ids that executed, first-run order (`<backend>.<op>[.<variant>]`). */
  readonly kernels: readonly string[];
  /**
   * The kernel set that ran (`exact`: llama.cpp's x86 float order; `fast`: WebAssembly-native numerics), which
   * with the reference also selects the gates (`receipts/parity_gates.ts` `gatesFor`); absent in receipts before schema 1.2.0
   * (they ran `exact`).
   */
  readonly numerics?: "exact" | "fast";
  /** The engine tokenizer's own vocabulary hash (must equal `tokenizer.vocab_sha256`, computed from the file). */
  readonly tokenizer_sha256: string | null;
  /** Test-only faults in effect; must be empty in a real receipt. */
  readonly faults: Readonly<Record<string, unknown>>;
  /** Why it did not run, or null. */
  readonly error: { readonly message: string } | null;
}

/** The tokenizer both sides used (read from the GGUF). */
export interface TokenizerIdentity {
  /** `tokenizer.ggml.model` (`gpt2`, `llama`). */
  readonly model: string;
  /** `tokenizer.ggml.pre`, or null. */
  readonly pre: string | null;
  /** SHA-256 over tokens, token types and merges (see parity/tokenizer_identity.ts). */
  readonly vocab_sha256: string;
  /** Number of tokens. */
  readonly n_tokens: number;
  /** Whether add-special prepends BOS (the file's key, else the reference's effective value; null if unknown). */
  readonly add_bos: boolean | null;
  /** Whether add-special appends EOS (same sources). */
  readonly add_eos: boolean | null;
  /** BOS id or null. */
  readonly bos_id: number | null;
  /** EOS id or null. */
  readonly eos_id: number | null;
  /** parse_special values exercised by the tokenization check. */
  readonly parse_special: readonly boolean[];
}

/** The model file. */
export interface ModelInfoJson {
  /** Path as given. */
  readonly path: string;
  /** Lockfile name when provisioned from the lockfile. */
  readonly lock_name: string | null;
  /** SHA-256 of the file. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly size_bytes: number;
  /** `general.architecture`. */
  readonly arch: string;
  /** Ternary weight type(s). */
  readonly weight_type: string | null;
  /** Token-embedding type. */
  readonly embedding_type: string | null;
  /** Layers. */
  readonly n_layer: number | null;
  /** Vocabulary size. */
  readonly n_vocab: number | null;
}

/** The spec's metrics block plus the headline numbers. */
export interface ParityMetrics {
  /** Every tokenization case matched (null: not run). */
  readonly tokenization_exact_match: boolean | null;
  /** Minimum cosine over every compared position (null: not run or NaN). */
  readonly logits_cosine_similarity: number | null;
  /** Every greedy step matched exactly (null: not run). Excused ties make this false but can still pass. */
  readonly greedy_exact_match: boolean | null;
  /** Our engine's time for the logits check's evaluations, ms. */
  readonly inference_time_engine_ms: number | null;
  /** The reference's time for the same evaluations, ms. */
  readonly inference_time_cpp_ms: number | null;
  /** Logit rows compared. */
  readonly compared_tokens: number;
  /** Mean KL. */
  readonly kld_mean: number | null;
  /** Max KL. */
  readonly kld_max: number | null;
  /** Same-top fraction. */
  readonly same_top_p: number | null;
  /** Greedy steps compared, all prompts. */
  readonly greedy_steps_compared: number;
}

/** A parity receipt. */
export interface ParityReceipt {
  /** Receipt kind. */
  readonly kind: "parity";
  /** `1.2.0` (`1.0.0` and `1.1.0` receipts remain valid). */
  readonly schema_version: string;
  /** RFC 3339. */
  readonly timestamp: string;
  /** SHA-256 of the model file. */
  readonly model_sha256: string;
  /** Commit of this tool (the spec's `bitnet_commit`). */
  readonly commit: string;
  /** Checks run, `|`-joined: `tokenization|logits|greedy|localization`. */
  readonly test_suite: string;
  /** Verdict. */
  readonly status: ParityOverallStatus;
  /** Why it is not a pass (empty for a pass). */
  readonly reasons: readonly ParityReason[];
  /** Headline metrics. */
  readonly metrics: ParityMetrics;
  /** Thresholds used. */
  readonly thresholds: ParityThresholds;
  /** The tool. */
  readonly tool: ToolInfo;
  /** The machine. */
  readonly machine: MachineInfo;
  /** The model file. */
  readonly model: ModelInfoJson;
  /** The reference. */
  readonly reference: ReferenceInfo;
  /** Our engine. */
  readonly engine: EngineInfoJson;
  /** The tokenizer. */
  readonly tokenizer: TokenizerIdentity | null;
  /** Prompts. */
  readonly prompts: readonly ReceiptPrompt[];
  /** Per-check records. */
  readonly checks: {
    readonly tokenization: TokenizationCheck;
    readonly logits: LogitsCheck;
    readonly greedy: GreedyCheck;
    readonly localization: LocalizationCheck;
  };
  /** The first greedy divergence of any prompt (tie or not), or null. */
  readonly first_divergence: GreedyDivergence | null;
}
