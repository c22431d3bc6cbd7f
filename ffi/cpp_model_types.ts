/**
 * The options, settings and results of `CppModel` (`cpp_model.ts`): what callers pass, and what receipts record.
 *
 * @module
 */

import type { LlamaLibraryInfo } from "./llama_library.ts";
import type { CaptureResult, TensorFilter } from "./tensor_capture.ts";

/** Options for {@link CppModel.load}. */
export interface CppModelOptions {
  /** Load only the vocabulary (no weights, no context): tokenize/detokenize work, evaluation throws. */
  readonly vocabOnly?: boolean;
  /** CPU threads for decoding and prompt processing (default: `navigator.hardwareConcurrency`). */
  readonly threads?: number;
  /** Context size in tokens (default: the model's training context, capped at 4096). llama.cpp pads it (to 256
   * cells in v0.5.0); `info().settings.nCtx` reports the size in effect. */
  readonly ctx?: number;
  /** Tokens per `llama_decode` call and per micro-batch (default: `min(ctx, 512)`); longer inputs are chunked. */
  readonly batch?: number;
  /**
   * Parity mode: F32 K and V caches and flash attention disabled, so llama.cpp's own rounding of the cache and
   * its fused attention stay out of a comparison (defaults are an F16 cache and flash attention "auto").
   */
  readonly parity?: boolean;
  /** Install the graph callback so `eval(ids, { capture })` can copy named intermediates out. */
  readonly captureTensors?: boolean;
  /** llama.cpp build directory; overrides `BITNET_CPP_DIR`. */
  readonly cppDir?: string;
}

/** The settings actually in effect (read back from llama.cpp where it can say), for receipts. */
export interface CppModelSettings {
  /** Loaded without weights. */
  readonly vocabOnly: boolean;
  /** Parity mode requested. */
  readonly parity: boolean;
  /** Context size in effect (`llama_n_ctx`); 0 for vocab-only. */
  readonly nCtx: number;
  /** Logical batch (`llama_n_batch`). */
  readonly nBatch: number;
  /** Micro-batch (`llama_n_ubatch`). */
  readonly nUbatch: number;
  /** Threads for single-token decoding (`llama_n_threads`). */
  readonly threads: number;
  /** Threads for prompt processing (`llama_n_threads_batch`). */
  readonly threadsBatch: number;
  /** K cache type. */
  readonly typeK: "f32" | "f16";
  /** V cache type. */
  readonly typeV: "f32" | "f16";
  /** Flash attention as requested. */
  readonly flashAttn: "auto" | "disabled";
  /** What `auto` resolved to, from llama.cpp's log, when it said. */
  readonly flashAttnResolved?: "enabled" | "disabled";
  /** Graph callback installed. */
  readonly captureTensors: boolean;
}

/** What {@link CppModel.info} reports. */
export interface CppModelInfo {
  /** Model path as given. */
  readonly path: string;
  /** `general.architecture` (e.g. `bitnet`). */
  readonly arch: string;
  /** `general.name`, when present. */
  readonly name?: string;
  /** `llama_model_desc` (type, size, quantization). */
  readonly description: string;
  /** Vocabulary size (`llama_vocab_n_tokens`), the length of one logits row. */
  readonly nVocab: number;
  /** Training context (`llama_model_n_ctx_train`). */
  readonly nCtxTrain: number;
  /** Hidden size. */
  readonly nEmbd: number;
  /** Layers. */
  readonly nLayer: number;
  /** Attention heads. */
  readonly nHead: number;
  /** KV heads. */
  readonly nHeadKv: number;
  /** Parameter count. */
  readonly nParams: number;
  /** Bytes of all tensors. */
  readonly sizeBytes: number;
  /** BOS id or -1. */
  readonly bos: number;
  /** EOS id or -1. */
  readonly eos: number;
  /** End-of-turn id (`llama_vocab_eot`, e.g. `<|eot_id|>`) or -1. */
  readonly eot: number;
  /** Whether `addSpecial` prepends BOS. */
  readonly addBos: boolean;
  /** Whether `addSpecial` appends EOS. */
  readonly addEos: boolean;
  /** The library: version, commit, source, CPU variant. */
  readonly library: LlamaLibraryInfo;
  /** Backend that runs the model, e.g. `CPU (zen4)`. */
  readonly backend: string;
  /** Settings in effect. */
  readonly settings: CppModelSettings;
  /** Milliseconds spent in `llama_model_load_from_file` + `llama_init_from_model`. */
  readonly loadMs: number;
}

/** Options for {@link CppModel.tokenize}. */
export interface TokenizeOptions {
  /** Add BOS/EOS as the model's vocab says (`llama_tokenize` `add_special`). Default true. */
  readonly addSpecial?: boolean;
  /** Parse special tokens written in the text (`parse_special`). Default false. */
  readonly parseSpecial?: boolean;
}

/** Options for {@link CppModel.detokenize}. */
export interface DetokenizeOptions {
  /** Drop BOS/EOS when the model adds them (`remove_special`). Default false. */
  readonly removeSpecial?: boolean;
  /** Render special tokens as text (`unparse_special`). Default false. */
  readonly unparseSpecial?: boolean;
}

/** Options for {@link CppModel.eval}. */
export interface EvalOptions {
  /** Logits for every position (`all`) or only the last (`last`, default). */
  readonly positions?: "all" | "last";
  /** Return an owned copy instead of a view into llama.cpp's buffer. */
  readonly copy?: boolean;
  /** Capture these intermediates (needs `captureTensors: true` at load and the input within one batch). */
  readonly capture?: TensorFilter;
  /**
   * Continue the sequence in the KV cache (positions `nPast..`) instead of clearing it first. Row `r` of `all`
   * is then position `nPast + r`; `positions` in the result says so.
   */
  readonly append?: boolean;
}

/** Logits of one evaluation: `rows` rows of `nVocab` floats, row-major. */
export interface EvalResult {
  /** `rows * nVocab` values; row r is position r (`all`) or the last position (`last`, one row). */
  readonly logits: Float32Array;
  /** Number of rows. */
  readonly rows: number;
  /** Row length. */
  readonly nVocab: number;
  /** Position (0-based) of each row in the input. */
  readonly positions: Int32Array;
  /** Captured intermediates, when `capture` was given. */
  readonly capture?: CaptureResult;
}

/** Options for {@link CppModel.generateGreedy}. */
export interface GreedyOptions extends TokenizeOptions {
  /** Stop early at an end-of-generation token (it is included). Default true. */
  readonly stopAtEog?: boolean;
}

/** Timings of a greedy run, measured around the C calls. */
export interface GreedyTimings {
  /** Prompt tokens evaluated. */
  readonly promptTokens: number;
  /** Milliseconds for the prompt. */
  readonly promptMs: number;
  /** Single-token decodes after the prompt. */
  readonly genDecodes: number;
  /** Milliseconds for those decodes (argmax included). */
  readonly genMs: number;
  /** Prompt tokens per second. */
  readonly promptTokPerS: number;
  /** Decoded tokens per second (NaN when none). */
  readonly genTokPerS: number;
}

/** A greedy continuation. */
export interface GreedyResult {
  /** Prompt token ids as evaluated. */
  readonly promptIds: Int32Array;
  /** Generated token ids (argmax each step, lowest id on ties). */
  readonly ids: Int32Array;
  /** Generated text (`llama_detokenize` of `ids`, special tokens not rendered). */
  readonly text: string;
  /** True when generation stopped at an end-of-generation token. */
  readonly stoppedAtEog: boolean;
  /** Timings. */
  readonly timings: GreedyTimings;
}
