/**
 * {@link Engine}: our BitNet inference engine behind one object. Load a GGUF into a kernel backend (`wasm` by
 * default, `ref` for the plain TypeScript twin), tokenize, evaluate logits, generate text greedily or by sampling
 * with streaming tokens and timings, and list the kernels that actually ran.
 *
 * @module
 */

import { GgufFile } from "./gguf/file.ts";
import type { BackendKind, KernelBackend } from "./backends/backend.ts";
import type { ActivationPrecision } from "./backends/activation_precision.ts";
import { createBackend } from "./backends/create.ts";
import { isNumericsProfile, NUMERICS_PROFILES, type NumericsProfile } from "./backends/type_kernels.ts";
import { loadModel } from "./model/architectures.ts";
import type { ModelConfig } from "./model/config.ts";
import type { Model, TensorHook } from "./model/graph.ts";
import { Sampler, type SamplingOptions } from "./sampling.ts";
import { StreamDecoder, Tokenizer } from "./tokenizer/mod.ts";

/** Options of {@link Engine.load}. */
export interface EngineOptions {
  /**
   * Kernel backend: `"wasm"` (default), `"ref"` (plain TypeScript, slow, for checking), `"webgpu"`, or a backend
   * instance
   * (any implementation of the port, e.g. a test wrapper; the engine takes ownership and closes it).
   */
  readonly backend?: BackendKind | KernelBackend;
  /** Threads; default `resolveThreads` (the core count for wasm, 1 for ref). Not with a backend instance. */
  readonly threads?: number;
  /**
   * Kernel set (`engine/backends/type_kernels.ts`): `"fast"` (default: WebAssembly-native numerics, ternary
   * weights repacked at load; logits within float noise of llama.cpp's, docs/parity.md) or `"exact"` (llama.cpp's
   * x86 float order: bit-identical logits, what parity against the pinned llama.cpp uses). A backend with one
   * kernel set (`webgpu`) runs it for either; {@link EngineInfo.numerics} says which ran.
   */
  readonly numerics?: NumericsProfile;
  /** Context length in tokens; default `min(n_ctx_train, 4096)`. */
  readonly nCtx?: number;
  /** Most tokens per forward chunk (longer prompts are split); default 128. */
  readonly maxBatch?: number;
  /** Per-tensor hook with llama.cpp's intermediate names (`attn_norm-0`, ..., `result_output`). */
  readonly onTensor?: TensorHook;
  /** Load progress in weight bytes. */
  readonly onProgress?: (loaded: number, total: number) => void;
  /**
   * How the ternary projections take their input: `"int8"` (default: I2_S per token to int8, as BitNet b1.58 was
   * trained and bitnet.cpp computes; TQ1_0/TQ2_0 per block to Q8_K, as llama.cpp) or `"float"` (unquantized f32;
   * I2_S weights only). See `engine/backends/activation_precision.ts`.
   */
  readonly activations?: ActivationPrecision;
}

/** Options of {@link Engine.tokenize}. */
export interface TokenizeOptions {
  /** Add BOS/EOS as the vocabulary says. Default true. */
  readonly addSpecial?: boolean;
  /** Parse special tokens written in the text. Default false. */
  readonly parseSpecial?: boolean;
}

/** Options of {@link Engine.eval}. */
export interface EvalOptions {
  /** Logits of every position (`"all"`) or only of the last (`"last"`, default). */
  readonly positions?: "all" | "last";
}

/** What {@link Engine.info} reports. */
export interface EngineInfo {
  /** Model path. */
  readonly path: string;
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** Backend id (`wasm`, `ref`, ...). */
  readonly backend: string;
  /** Threads the kernels run on. */
  readonly threads: number;
  /** The kernel set that runs (`exact` or `fast`). */
  readonly numerics: NumericsProfile;
  /** The kernel set asked for (differs from `numerics` on a backend that has only one). */
  readonly numericsRequested: NumericsProfile;
  /** What computes: `CPU`, or the backend's device label (`WebGPU llvmpipe (...) [CPU fallback]`). */
  readonly device: string;
  /** Ternary weight type(s), e.g. `TQ2_0`. */
  readonly weightType: string;
  /** Token embedding type. */
  readonly embeddingType: string;
  /** Output matrix type (the embedding's when tied). */
  readonly outputType: string;
  /** True when logits come from the token embedding (no `output.weight`). */
  readonly tiedOutput: boolean;
  /** True when the file has per-tensor `.scale` tensors. */
  readonly hasScales: boolean;
  /** Context length. */
  readonly nCtx: number;
  /** Forward chunk size. */
  readonly maxBatch: number;
  /** Bytes of weights in the arena. */
  readonly weightBytes: number;
  /** Bytes of preallocated run state (KV cache included). */
  readonly stateBytes: number;
  /** Size of the GGUF file. */
  readonly fileBytes: number;
  /** Milliseconds to load (backend start, weights, tokenizer). */
  readonly loadMs: number;
  /** Activation precision of the ternary projections. */
  readonly activations: ActivationPrecision;
}

/** Options of {@link Engine.generate} and {@link Engine.stream}. */
export interface GenerateOptions extends SamplingOptions, TokenizeOptions {
  /** Most tokens to generate. Default 32. */
  readonly maxTokens?: number;
  /** Stop at an end-of-generation token (EOS, EOT, ...; it is included). Default true. */
  readonly stopAtEog?: boolean;
  /** Called for each generated token, in order. */
  readonly onToken?: (token: GeneratedToken) => void;
  /** Stops generation early (the tokens so far are returned). */
  readonly signal?: AbortSignal;
}

/** One generated token. */
export interface GeneratedToken {
  /** Token id. */
  readonly id: number;
  /** 0-based index in the generated sequence. */
  readonly index: number;
  /** Text this token completes (may be empty while a UTF-8 character is incomplete). */
  readonly text: string;
}

/** Timings of a generation (same conventions as the llama.cpp bridge's greedy timings). */
export interface GenerationTimings {
  /** Prompt tokens evaluated. */
  readonly promptTokens: number;
  /** Milliseconds to evaluate the prompt (its logits included). */
  readonly promptMs: number;
  /** Single-token forward passes after the prompt. */
  readonly genDecodes: number;
  /** Milliseconds of those passes plus sampling. */
  readonly genMs: number;
  /** Prompt tokens per second. */
  readonly promptTokPerS: number;
  /** Decoded tokens per second (NaN when none). */
  readonly genTokPerS: number;
}

/** A finished generation. */
export interface GenerationResult {
  /** Prompt token ids as evaluated. */
  readonly promptIds: Int32Array;
  /** Generated token ids. */
  readonly ids: Int32Array;
  /** Generated text. */
  readonly text: string;
  /** True when generation stopped at an end-of-generation token. */
  readonly stoppedAtEog: boolean;
  /** Sampling actually used (the seed reproduces a sampled run). */
  readonly sampling: {
    readonly greedy: boolean;
    readonly temperature: number;
    readonly topK: number;
    readonly topP: number;
    readonly seed: number;
  };
  /** Timings. */
  readonly timings: GenerationTimings;
}

/**
 * The engine: a loaded model, its tokenizer and its kernel backend.
 *
 * @example
 * ```ts
 * import { Engine } from "./engine.ts";
 * import { writeSyntheticModel } from "./synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * // `using`, not `await using`: close() is synchronous.
 * using engine = await Engine.load(path, { backend: "wasm", threads: 2, nCtx: 64 });
 * const r = await engine.generate("Once upon a time", { maxTokens: 8, onToken: (t) => console.log(t.text) });
 * console.log(r.timings.genTokPerS > 0, engine.kernels().includes("wasm.fast.gemm.tq2_0x2_q8_k.relaxed")); // true true
 * ```
 */
export class Engine implements Disposable {
  /** The tokenizer read from the model file. */
  readonly tokenizer: Tokenizer;
  readonly #model: Model;
  readonly #backend: KernelBackend;
  readonly #info: EngineInfo;
  #pos = 0;
  #closed = false;

  private constructor(model: Model, backend: KernelBackend, tokenizer: Tokenizer, info: EngineInfo) {
    this.#model = model;
    this.#backend = backend;
    this.tokenizer = tokenizer;
    this.#info = info;
  }

  /**
   * Load a model.
   *
   * @param path GGUF file of a registered architecture (`bitnet`, `bitnet-b1.58`, `llama`; TQ2_0, TQ1_0 or I2_S
   *   weights).
   * @param opts Backend, threads, context, hook.
   * @returns The engine; close it (or `using`) to stop the backend's workers.
   * @throws {Deno.errors.NotFound} When the file does not exist.
   * @throws {RangeError} When the model is not a supported file (the message names the problem tensor or key) or
   *   an option is out of range.
   */
  static async load(path: string, opts: EngineOptions = {}): Promise<Engine> {
    const t0 = performance.now();
    const requested = opts.numerics ?? "fast";
    if (!isNumericsProfile(requested)) {
      throw new RangeError(
        `Cannot load "${path}" with numerics "${requested as string}": expected one of ${NUMERICS_PROFILES.join(", ")}`,
      );
    }
    using file = GgufFile.open(path);
    const given = typeof opts.backend === "object" ? opts.backend : undefined;
    if (given && opts.threads !== undefined && opts.threads !== given.threads) {
      given.close();
      throw new RangeError(
        `Cannot load "${path}" with threads=${opts.threads} on a given ${given.id} backend of ${given.threads} ` +
          `threads: create the backend with the threads you want and leave threads out`,
      );
    }
    const backend = given ?? await createBackend((opts.backend as BackendKind) ?? "wasm", { threads: opts.threads });
    try {
      const numerics = backend.numerics && !backend.numerics.includes(requested) ? backend.numerics[0] : requested;
      const model = loadModel(file, backend, { ...opts, numerics });
      const tokenizer = Tokenizer.fromGguf(file);
      const s = model.summary;
      const info: EngineInfo = {
        path,
        config: model.config,
        backend: backend.id,
        threads: backend.threads,
        numerics,
        numericsRequested: requested,
        device: backend.device ?? "CPU",
        weightType: s.weightTypes.join("+"),
        embeddingType: s.embeddingType,
        outputType: s.outputType,
        tiedOutput: s.tiedOutput,
        hasScales: s.hasScales,
        nCtx: model.state.nCtx,
        maxBatch: model.state.maxBatch,
        weightBytes: s.weightBytes,
        stateBytes: model.state.bytes,
        fileBytes: Deno.statSync(path).size,
        loadMs: performance.now() - t0,
        activations: opts.activations ?? "int8",
      };
      return new Engine(model, backend, tokenizer, info);
    } catch (e) {
      backend.close();
      throw e;
    }
  }

  /** Hyperparameters. */
  get config(): ModelConfig {
    return this.#model.config;
  }

  /** Tokens currently in the KV cache (the position of the next token). */
  get position(): number {
    return this.#pos;
  }

  /**
   * Describe the loaded model and the backend.
   *
   * @returns Model, backend and memory facts.
   */
  info(): EngineInfo {
    return this.#info;
  }

  /**
   * Text to token ids with the model's tokenizer.
   *
   * @param text Input text.
   * @param opts `addSpecial` (default true), `parseSpecial` (default false).
   * @returns Token ids.
   */
  tokenize(text: string, opts: TokenizeOptions = {}): Int32Array {
    return this.tokenizer.encode(text, {
      addSpecial: opts.addSpecial ?? true,
      parseSpecial: opts.parseSpecial ?? false,
    });
  }

  /**
   * Token ids to text (special tokens are not rendered, as the llama.cpp bridge's `detokenize`).
   *
   * @param ids Token ids.
   * @returns The text.
   */
  detokenize(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(ids, { unparseSpecial: false });
  }

  /** True when `id` ends a generation (EOS, EOT and the other tokens llama.cpp's `llama_vocab_is_eog` detects). */
  isEog(id: number): boolean {
    return this.tokenizer.isEog(id);
  }

  /**
   * Evaluate a fresh sequence (the KV cache is reset first).
   *
   * @param ids Token ids.
   * @param opts `positions`: `"last"` (default, `[V]`) or `"all"` (`[n][V]`, row-major).
   * @returns Logits, an owned array.
   * @throws {RangeError} For an empty input, an id outside the vocabulary, or more tokens than the context.
   */
  async eval(ids: ArrayLike<number>, opts: EvalOptions = {}): Promise<Float32Array> {
    this.#open("eval");
    this.#pos = 0;
    const all = opts.positions === "all";
    const logits = await this.#model.forward(Int32Array.from(ids), 0, { logits: all ? "all" : "last" });
    this.#pos = ids.length;
    return all ? logits : logits.slice();
  }

  /**
   * Append tokens to the current sequence and return the logits of the last one.
   *
   * @param ids Token ids.
   * @returns `[V]` logits: a view into the arena, valid until the next call (copy to keep).
   * @throws {RangeError} When the context would overflow (call `reset()` or load with a larger `nCtx`).
   */
  async decode(ids: ArrayLike<number>): Promise<Float32Array> {
    this.#open("decode");
    const logits = await this.#model.forward(ids instanceof Int32Array ? ids : Int32Array.from(ids), this.#pos, {
      logits: "last",
    });
    this.#pos += ids.length;
    return logits;
  }

  /** Forget the current sequence (the next `decode` starts at position 0). */
  reset(): void {
    this.#pos = 0;
  }

  /**
   * Keep the first `n` tokens of the current sequence and forget the rest (the next `decode` starts at position
   * `n`; the cache rows of those tokens are untouched, later rows are overwritten as decoding goes on).
   *
   * @param n Tokens to keep, at most {@link position}.
   * @throws {RangeError} When `n` is not an integer from 0 to the current position.
   * @example
   * ```ts
   * import { Engine } from "./engine.ts";
   * import { writeSyntheticModel } from "./synth/write.ts";
   * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
   * using e = await Engine.load(path, { backend: "ref", nCtx: 16 });
   * await e.decode([1, 2, 3]);
   * e.rewind(1);
   * console.log(e.position); // 1
   * ```
   */
  rewind(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.#pos) {
      throw new RangeError(`Cannot rewind to ${n} tokens: the sequence has ${this.#pos}; pass 0..${this.#pos}`);
    }
    this.#pos = n;
  }

  /**
   * Generate a continuation, streaming tokens as an async iterator; its return value is the full result.
   *
   * @param prompt Text (tokenized with `addSpecial`/`parseSpecial`) or token ids.
   * @param opts Length, sampling (greedy unless a temperature is given), stop rules.
   * @returns An async generator of tokens whose final value is the {@link GenerationResult}.
   * @throws {RangeError} When the prompt is empty or prompt + maxTokens exceeds the context.
   */
  async *stream(
    prompt: string | ArrayLike<number>,
    opts: GenerateOptions = {},
  ): AsyncGenerator<GeneratedToken, GenerationResult> {
    this.#open("generate");
    const promptIds = typeof prompt === "string" ? this.tokenize(prompt, opts) : Int32Array.from(prompt);
    const maxTokens = opts.maxTokens ?? 32;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new RangeError(`Cannot generate ${maxTokens} tokens: pass an integer >= 0`);
    }
    if (promptIds.length === 0) throw new RangeError("Cannot generate from an empty prompt: it has no tokens");
    const nCtx = this.#info.nCtx;
    if (promptIds.length + maxTokens > nCtx + 1) {
      throw new RangeError(
        `Cannot generate ${maxTokens} tokens after a ${promptIds.length}-token prompt: the context holds ${nCtx}. ` +
          `Load with a larger nCtx or ask for fewer tokens.`,
      );
    }
    const sampler = new Sampler(this.config.nVocab, opts);
    const stopAtEog = opts.stopAtEog ?? true;
    const out = new Int32Array(maxTokens);
    const one = new Int32Array(1);
    const text = new StreamDecoder(this.tokenizer, { special: false });
    let n = 0, decodes = 0, stopped = false;
    const t0 = performance.now();
    this.#pos = 0;
    let logits = await this.#model.forward(promptIds, 0, { logits: "last" });
    this.#pos = promptIds.length;
    const t1 = performance.now();
    let genMs = 0;
    while (n < maxTokens && !opts.signal?.aborted) {
      const ts = performance.now();
      const id = sampler.sample(logits);
      out[n++] = id;
      const eog = stopAtEog && this.tokenizer.isEog(id);
      if (!eog && n < maxTokens) {
        one[0] = id;
        logits = await this.#model.forward(one, this.#pos, { logits: "last" });
        this.#pos++;
        decodes++;
      }
      genMs += performance.now() - ts;
      // Text delta: complete UTF-8 characters only (the last token also flushes an incomplete tail).
      const last = eog || n === maxTokens || opts.signal?.aborted === true;
      const tok: GeneratedToken = { id, index: n - 1, text: text.push(id) + (last ? text.flush() : "") };
      opts.onToken?.(tok);
      yield tok;
      if (eog) {
        stopped = true;
        break;
      }
    }
    const ids = out.slice(0, n);
    return {
      promptIds,
      ids,
      text: this.tokenizer.decode(ids, { unparseSpecial: false }),
      stoppedAtEog: stopped,
      sampling: {
        greedy: sampler.greedy,
        temperature: sampler.temperature,
        topK: sampler.topK,
        topP: sampler.topP,
        seed: sampler.seed,
      },
      timings: {
        promptTokens: promptIds.length,
        promptMs: t1 - t0,
        genDecodes: decodes,
        genMs,
        promptTokPerS: promptIds.length / ((t1 - t0) / 1000),
        genTokPerS: decodes ? decodes / (genMs / 1000) : NaN,
      },
    };
  }

  /**
   * Generate a continuation and return it whole (use `onToken` to stream).
   *
   * @param prompt Text or token ids.
   * @param opts Length, sampling, stop rules, `onToken`.
   * @returns The generated ids, text and timings.
   * @throws {RangeError} When the prompt is empty or prompt + maxTokens exceeds the context.
   * @example
   * ```ts
   * import { Engine } from "./engine.ts";
   * import { writeSyntheticModel } from "./synth/write.ts";
   * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny-llama" });
   * using e = await Engine.load(path, { backend: "ref", nCtx: 32 });
   * const r = await e.generate("Hello", { maxTokens: 4 });
   * console.log(r.ids.length, r.timings.promptTokPerS > 0); // 4 true
   * ```
   */
  async generate(prompt: string | ArrayLike<number>, opts: GenerateOptions = {}): Promise<GenerationResult> {
    const it = this.stream(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Kernel ids that actually executed, in first-run order (`<backend>.<kernel>[.<variant>]`).
   *
   * @returns The ids.
   */
  kernels(): string[] {
    return this.#backend.kernels();
  }

  /** Stop the backend and release its memory (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backend.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(op: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${op}: the engine is closed. Load the model again.`);
  }
}
