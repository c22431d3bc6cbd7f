/**
 * `CppModel`: a GGUF model run by llama.cpp, the reference our engine is checked against. A thin typed layer over
 * the C API of the pinned release (`include/llama.h`): load, tokenize, evaluate, greedy-generate, describe, close.
 *
 * Ownership, as llama.h documents it: the model (`llama_model_load_from_file`) owns its vocab; the context
 * (`llama_init_from_model`) owns the KV cache ("memory") and the logits buffer and must be freed before the model;
 * the batch (`llama_batch_init`) owns its arrays until `llama_batch_free`. `close()` frees all three in that order.
 *
 * Logits are returned without copying: a `Float32Array` over llama.cpp's own buffer. That buffer is reused (and
 * may be reallocated) by the next decode, so views handed out are **detached** (length 0) by the next `eval`,
 * `decode`, `reset`, `generateGreedy` or `close`. Copy (`.slice()`, or `{ copy: true }`) what must outlive that.
 *
 * @module
 */

import { LlamaLibrary, llamaLog } from "./llama_library.ts";
import { LLAMA_CONTEXT_PARAMS, LLAMA_MODEL_PARAMS, writeField } from "./struct_layout.ts";
import { type CaptureResult, TensorCapture } from "./tensor_capture.ts";
import type {
  CppModelInfo,
  CppModelOptions,
  CppModelSettings,
  DetokenizeOptions,
  EvalOptions,
  EvalResult,
  GreedyOptions,
  GreedyResult,
  TokenizeOptions,
} from "./cpp_model_types.ts";
import { checkModelFile, troubleshooting } from "./_model_file.ts";
import { LlamaBatch } from "./_batch.ts";
import type { LlamaSymbols } from "./_symbols.ts";

const GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1;
const FLASH_ATTN_AUTO = -1, FLASH_ATTN_DISABLED = 0;

function cBytes(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/** A llama.cpp model (and, unless vocab-only, one context with its KV cache). */
export class CppModel implements Disposable {
  readonly #lib: LlamaLibrary;
  readonly #s: LlamaSymbols;
  readonly #path: string;
  #model: Deno.PointerObject | null;
  #ctx: Deno.PointerObject | null;
  readonly #vocab: Deno.PointerObject;
  readonly #nVocab: number;
  readonly #info: CppModelInfo;
  readonly #capture: TensorCapture | null;
  readonly #batch: LlamaBatch | null;
  readonly #mem: Deno.PointerObject | null;
  #nPast = 0;
  #views: ArrayBuffer[] = [];
  #closed = false;

  private constructor(
    lib: LlamaLibrary,
    path: string,
    model: Deno.PointerObject,
    ctx: Deno.PointerObject | null,
    capture: TensorCapture | null,
    info: Omit<CppModelInfo, "library" | "backend">,
  ) {
    this.#lib = lib;
    this.#s = lib.symbols;
    this.#path = path;
    this.#model = model;
    this.#ctx = ctx;
    this.#capture = capture;
    this.#vocab = this.#s.llama.llama_model_get_vocab(model)!;
    this.#nVocab = info.nVocab;
    const cpu = lib.info.devices.find((d) => d.name === "CPU");
    this.#info = {
      ...info,
      library: lib.info,
      backend: cpu ? `CPU${lib.info.cpuVariant ? ` (${lib.info.cpuVariant})` : ""}` : lib.info.devices[0]?.name ?? "?",
    };
    // Vocab-only: no context, so no batch and no memory.
    this.#batch = ctx ? new LlamaBatch(this.#s, info.settings.nBatch) : null;
    this.#mem = ctx ? this.#s.llama.llama_get_memory(ctx)! : null;
  }

  /**
   * Load a GGUF model with llama.cpp.
   *
   * @param path Path of the GGUF file.
   * @param opts Loading and context options; see {@link CppModelOptions}.
   * @returns The model, ready to tokenize and (unless `vocabOnly`) evaluate. Close it (or `using`) when done.
   * @throws {Deno.errors.NotFound} When the file does not exist (with troubleshooting steps).
   * @throws {SyntaxError} When the file is not GGUF.
   * @throws {Error} When llama.cpp rejects the model or cannot create a context; the message quotes its log.
   * @throws {LibraryLoadError} When the llama.cpp library cannot be loaded (see `LlamaLibrary.open`).
   * @example
   * ```ts
   * import { CppModel } from "./cpp_model.ts";
   * import { llamaSourceDir } from "./llama_source.ts";
   * const vocabFile = `${await llamaSourceDir()}/models/ggml-vocab-llama-bpe.gguf`;
   * using vocab = await CppModel.load(vocabFile, { vocabOnly: true });
   * console.log(vocab.tokenize("Hello world", { addSpecial: false })); // Int32Array [9906, 1917]
   * ```
   */
  static async load(path: string, opts: CppModelOptions = {}): Promise<CppModel> {
    const lib = await LlamaLibrary.open(opts.cppDir !== undefined ? { cppDir: opts.cppDir } : {});
    checkModelFile(path);
    const s = lib.symbols;
    const vocabOnly = opts.vocabOnly ?? false;
    const mark = llamaLog().seq;
    const t0 = performance.now();

    const mp = s.llama.llama_model_default_params() as Uint8Array<ArrayBuffer>;
    writeField(mp, LLAMA_MODEL_PARAMS, "vocab_only", vocabOnly);
    const model = s.llama.llama_model_load_from_file(cBytes(path), mp);
    if (!model) {
      throw new Error(
        `Cannot load model "${path}": llama.cpp rejected it. llama.cpp said:\n${llamaLog().tail(mark)}\n` +
          troubleshooting(path),
      );
    }
    let ctx: Deno.PointerObject | null = null;
    let capture: TensorCapture | null = null;
    try {
      const meta = (key: string) => CppModel.#metaOf(s, model, key);
      const vocab = s.llama.llama_model_get_vocab(model)!;
      const nCtxTrain = s.llama.llama_model_n_ctx_train(model);
      let settings: CppModelSettings = {
        vocabOnly,
        parity: opts.parity ?? false,
        nCtx: 0,
        nBatch: 0,
        nUbatch: 0,
        threads: 0,
        threadsBatch: 0,
        typeK: opts.parity ? "f32" : "f16",
        typeV: opts.parity ? "f32" : "f16",
        flashAttn: opts.parity ? "disabled" : "auto",
        captureTensors: !vocabOnly && (opts.captureTensors ?? false),
      };
      if (!vocabOnly) {
        const nCtx = opts.ctx ?? Math.min(nCtxTrain > 0 ? nCtxTrain : 4096, 4096);
        const nBatch = Math.min(opts.batch ?? 512, nCtx);
        const threads = opts.threads ?? navigator.hardwareConcurrency;
        for (const [k, v] of [["ctx", nCtx], ["batch", nBatch], ["threads", threads]] as const) {
          if (!Number.isInteger(v) || v < 1) {
            throw new RangeError(`Cannot load model "${path}": ${k} must be a positive integer, got ${v}`);
          }
        }
        const cp = s.llama.llama_context_default_params() as Uint8Array<ArrayBuffer>;
        const set = (f: string, v: number | boolean | bigint) => writeField(cp, LLAMA_CONTEXT_PARAMS, f, v);
        set("n_ctx", nCtx);
        set("n_batch", nBatch);
        set("n_ubatch", nBatch);
        set("n_seq_max", 1);
        set("n_threads", threads);
        set("n_threads_batch", threads);
        // We time around the calls ourselves; llama.cpp's perf counters are not needed.
        set("no_perf", true);
        set("type_k", opts.parity ? GGML_TYPE_F32 : GGML_TYPE_F16);
        set("type_v", opts.parity ? GGML_TYPE_F32 : GGML_TYPE_F16);
        set("flash_attn_type", opts.parity ? FLASH_ATTN_DISABLED : FLASH_ATTN_AUTO);
        if (settings.captureTensors) {
          capture = new TensorCapture(s);
          set("cb_eval", BigInt(Deno.UnsafePointer.value(capture.pointer)));
          set("cb_eval_user_data", 0n);
        }
        const ctxMark = llamaLog().seq;
        ctx = s.llama.llama_init_from_model(model, cp);
        if (!ctx) {
          throw new Error(
            `Cannot create a llama.cpp context for "${path}" (ctx ${nCtx}, batch ${nBatch}, threads ${threads}). ` +
              `llama.cpp said:\n${
                llamaLog().tail(mark)
              }\nLower ctx/batch, or check the model with: crossval inspect ${path}`,
          );
        }
        const resolved = llamaLog().since(ctxMark).map((l) =>
          /flash.?att(?:entio)?n\s+(enabled|not supported)/i.exec(l.text)?.[1]
        )
          .find(Boolean);
        settings = {
          ...settings,
          nCtx: s.llama.llama_n_ctx(ctx),
          nBatch: s.llama.llama_n_batch(ctx),
          nUbatch: s.llama.llama_n_ubatch(ctx),
          threads: s.llama.llama_n_threads(ctx),
          threadsBatch: s.llama.llama_n_threads_batch(ctx),
          ...(settings.flashAttn === "auto" && resolved
            ? { flashAttnResolved: resolved === "enabled" ? "enabled" as const : "disabled" as const }
            : {}),
        };
      }
      const loadMs = performance.now() - t0;
      const name = meta("general.name");
      return new CppModel(lib, path, model, ctx, capture, {
        path,
        arch: meta("general.architecture") ?? "?",
        ...(name !== undefined ? { name } : {}),
        description: CppModel.#desc(s, model),
        nVocab: s.llama.llama_vocab_n_tokens(vocab),
        nCtxTrain,
        // A vocab-only model has no layers: llama_model_n_head(model) would abort in llama_hparams::n_head(0).
        nEmbd: vocabOnly ? 0 : s.llama.llama_model_n_embd(model),
        nLayer: vocabOnly ? 0 : s.llama.llama_model_n_layer(model),
        nHead: vocabOnly ? 0 : s.llama.llama_model_n_head(model),
        nHeadKv: vocabOnly ? 0 : s.llama.llama_model_n_head_kv(model),
        nParams: vocabOnly ? 0 : Number(s.llama.llama_model_n_params(model)),
        sizeBytes: vocabOnly ? 0 : Number(s.llama.llama_model_size(model)),
        bos: s.llama.llama_vocab_bos(vocab),
        eos: s.llama.llama_vocab_eos(vocab),
        eot: s.llama.llama_vocab_eot(vocab),
        addBos: s.llama.llama_vocab_get_add_bos(vocab),
        addEos: s.llama.llama_vocab_get_add_eos(vocab),
        settings,
        loadMs,
      });
    } catch (e) {
      if (ctx) s.llama.llama_free(ctx);
      s.llama.llama_model_free(model);
      capture?.close();
      throw e;
    }
  }

  static #metaOf(s: LlamaSymbols, model: Deno.PointerObject, key: string): string | undefined {
    let buf = new Uint8Array(256);
    const k = cBytes(key);
    let n = s.llama.llama_model_meta_val_str(model, k, buf, BigInt(buf.length));
    if (n < 0) return undefined;
    if (n >= buf.length) {
      buf = new Uint8Array(n + 1);
      n = s.llama.llama_model_meta_val_str(model, k, buf, BigInt(buf.length));
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  }

  static #desc(s: LlamaSymbols, model: Deno.PointerObject): string {
    const buf = new Uint8Array(256);
    const n = s.llama.llama_model_desc(model, buf, BigInt(buf.length));
    return new TextDecoder().decode(buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))));
  }

  #open(op: string): void {
    if (this.#closed) {
      throw new TypeError(
        `Cannot ${op}: this CppModel ("${this.#path}") is closed. Load it again with CppModel.load(path).`,
      );
    }
  }

  #needCtx(op: string): Deno.PointerObject {
    this.#open(op);
    if (!this.#ctx) {
      throw new TypeError(
        `Cannot ${op}: "${this.#path}" was loaded with vocabOnly: true and has no weights. ` +
          `Load it without vocabOnly to evaluate.`,
      );
    }
    return this.#ctx;
  }

  /** Detach every logits view handed out: the buffer behind them is about to change or be freed. */
  #invalidate(): void {
    for (const b of this.#views) if (!b.detached) b.transfer(0);
    this.#views = [];
  }

  #view(p: Deno.PointerObject, floats: number): Float32Array {
    const ab = Deno.UnsafePointerView.getArrayBuffer(p, floats * 4);
    this.#views.push(ab);
    return new Float32Array(ab);
  }

  /** Options and facts for receipts: arch, sizes, library version/commit, backend, settings in effect. */
  info(): CppModelInfo {
    this.#open("read info");
    return this.#info;
  }

  /** Vocabulary size: the length of one logits row. */
  get nVocab(): number {
    return this.#nVocab;
  }

  /** Tokens currently in the KV cache (positions `0..nPast-1`). */
  get nPast(): number {
    return this.#nPast;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * One GGUF metadata value as a string (`llama_model_meta_val_str`; arrays are not supported by llama.cpp).
   *
   * @param key Metadata key, e.g. `general.architecture`.
   * @returns The value, or undefined when absent.
   * @throws {TypeError} After `close()`.
   */
  meta(key: string): string | undefined {
    this.#open("read metadata");
    return CppModel.#metaOf(this.#s, this.#model!, key);
  }

  /**
   * All scalar GGUF metadata as strings (`llama_model_meta_key_by_index` / `llama_model_meta_val_str_by_index`;
   * llama.cpp renders arrays as a placeholder such as `arr[str,1024]`).
   *
   * @returns Values keyed by metadata key, in file order.
   * @throws {TypeError} After `close()`.
   */
  metadata(): Record<string, string> {
    this.#open("read metadata");
    const s = this.#s, model = this.#model!;
    const read = (f: (buf: Uint8Array, size: bigint) => number): string => {
      let buf = new Uint8Array(256);
      let n = f(buf, BigInt(buf.length));
      if (n >= buf.length) {
        buf = new Uint8Array(n + 1);
        n = f(buf, BigInt(buf.length));
      }
      return n < 0 ? "" : new TextDecoder().decode(buf.subarray(0, n));
    };
    const out: Record<string, string> = {};
    const count = s.llama.llama_model_meta_count(model);
    for (let i = 0; i < count; i++) {
      const key = read((b, n) => s.llama.llama_model_meta_key_by_index(model, i, b, n));
      out[key] = read((b, n) => s.llama.llama_model_meta_val_str_by_index(model, i, b, n));
    }
    return out;
  }

  /**
   * Tokenize text with the model's vocabulary (`llama_tokenize`).
   *
   * @param text A string (encoded as UTF-8) or the exact bytes to tokenize.
   * @param opts `addSpecial` (default true), `parseSpecial` (default false).
   * @returns Token ids.
   * @throws {TypeError} After `close()`.
   * @throws {RangeError} When llama.cpp reports an overflow.
   * @example
   * ```ts
   * import { CppModel } from "./cpp_model.ts";
   * import { llamaSourceDir } from "./llama_source.ts";
   * const vocabFile = `${await llamaSourceDir()}/models/ggml-vocab-llama-bpe.gguf`;
   * using m = await CppModel.load(vocabFile, { vocabOnly: true });
   * m.tokenize("Hello world"); // Int32Array [128000, 9906, 1917]: BOS added, as the vocab asks
   * m.tokenize(new Uint8Array([0x48, 0x69]), { addSpecial: false }); // exact bytes
   * ```
   */
  tokenize(text: string | Uint8Array, opts: TokenizeOptions = {}): Int32Array {
    this.#open("tokenize");
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    // llama_tokenize reads text_len bytes; a 1-byte buffer keeps the pointer valid for empty input.
    const input = bytes.length ? bytes : new Uint8Array(1);
    const add = opts.addSpecial ?? true, parse = opts.parseSpecial ?? false;
    let out = new Int32Array(bytes.length + 8);
    let n = this.#s.llama.llama_tokenize(this.#vocab, input, bytes.length, out, out.length, add, parse);
    if (n === -2147483648) throw new RangeError(`Cannot tokenize ${bytes.length} bytes: the result overflows int32`);
    if (n < 0) {
      out = new Int32Array(-n);
      n = this.#s.llama.llama_tokenize(this.#vocab, input, bytes.length, out, out.length, add, parse);
    }
    return out.slice(0, n);
  }

  /**
   * The bytes of one token (`llama_token_to_piece`); byte-level vocabularies may yield partial UTF-8.
   *
   * @param id Token id.
   * @param opts `special`: render special/control tokens (default false); `lstrip`: leading spaces to skip.
   * @returns The piece's bytes.
   * @throws {TypeError} After `close()`.
   * @throws {RangeError} When `id` is outside the vocabulary.
   */
  tokenToPiece(id: number, opts: { special?: boolean; lstrip?: number } = {}): Uint8Array {
    this.#open("convert a token to text");
    this.#checkIds([id]);
    let buf = new Uint8Array(64);
    let n = this.#s.llama.llama_token_to_piece(
      this.#vocab,
      id,
      buf,
      buf.length,
      opts.lstrip ?? 0,
      opts.special ?? false,
    );
    if (n < 0) {
      buf = new Uint8Array(-n);
      n = this.#s.llama.llama_token_to_piece(this.#vocab, id, buf, buf.length, opts.lstrip ?? 0, opts.special ?? false);
    }
    return buf.slice(0, n);
  }

  /**
   * Token ids back to bytes (`llama_detokenize`).
   *
   * @param ids Token ids.
   * @param opts `removeSpecial`, `unparseSpecial` (both default false).
   * @returns The bytes.
   * @throws {TypeError} After `close()`.
   * @throws {RangeError} When an id is outside the vocabulary.
   */
  detokenizeBytes(ids: ArrayLike<number>, opts: DetokenizeOptions = {}): Uint8Array {
    this.#open("detokenize");
    this.#checkIds(ids);
    const toks = Int32Array.from(ids);
    const input = toks.length ? toks : new Int32Array(1);
    const rs = opts.removeSpecial ?? false, us = opts.unparseSpecial ?? false;
    let buf = new Uint8Array(toks.length * 8 + 16);
    let n = this.#s.llama.llama_detokenize(this.#vocab, input, toks.length, buf, buf.length, rs, us);
    if (n < 0) {
      buf = new Uint8Array(-n);
      n = this.#s.llama.llama_detokenize(this.#vocab, input, toks.length, buf, buf.length, rs, us);
    }
    return buf.slice(0, n);
  }

  /**
   * Token ids back to text (`llama_detokenize`, decoded as UTF-8 with replacement characters).
   *
   * @param ids Token ids.
   * @param opts `removeSpecial`, `unparseSpecial` (both default false).
   * @returns The text.
   * @throws {TypeError} After `close()`.
   * @throws {RangeError} When an id is outside the vocabulary.
   */
  detokenize(ids: ArrayLike<number>, opts: DetokenizeOptions = {}): string {
    return new TextDecoder().decode(this.detokenizeBytes(ids, opts));
  }

  /** Whether a token ends generation (`llama_vocab_is_eog`). */
  isEog(id: number): boolean {
    this.#open("query a token");
    return this.#s.llama.llama_vocab_is_eog(this.#vocab, id);
  }

  #checkIds(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.#nVocab) {
        throw new RangeError(`Invalid token id ${id} at index ${i}: the vocabulary has ${this.#nVocab} tokens`);
      }
    }
  }

  /**
   * Decode `ids` at positions `nPast..`, requesting logits for `want(i)`; chunks by the batch size.
   * Returns the logits pointer rows as [index in ids, row pointer] for the last chunk only when `copyTo` is
   * absent (single chunk); otherwise copies every requested row into `copyTo`.
   */
  #decode(ctx: Deno.PointerObject, ids: ArrayLike<number>, all: boolean, copyTo: Float32Array | null): void {
    const n = ids.length, nb = this.#info.settings.nBatch, nCtx = this.#info.settings.nCtx;
    if (this.#nPast + n > nCtx) {
      throw new RangeError(
        `Cannot evaluate ${n} tokens at position ${this.#nPast}: the context holds ${nCtx}. ` +
          `Load with a larger ctx, or reset() first.`,
      );
    }
    let row = 0;
    for (let start = 0; start < n; start += nb) {
      const m = Math.min(nb, n - start);
      this.#batch!.fill(ids, { start, count: m, pos0: this.#nPast, output: (i) => all || i === n - 1 });
      const mark = llamaLog().seq;
      const rc = this.#s.llama.llama_decode(ctx, this.#batch!.struct);
      if (rc !== 0) {
        // On failure llama.cpp may keep the micro-batches it processed: resynchronise with its memory.
        this.#nPast = this.#s.llama.llama_memory_seq_pos_max(this.#mem!, 0) + 1;
        const why = rc === 1
          ? "no KV cache slot for the batch (context full)"
          : rc === 2
          ? "aborted"
          : rc === -1
          ? "invalid input batch"
          : "fatal error";
        throw new Error(
          `llama_decode failed with ${rc} (${why}) for ${m} tokens at position ${this.#nPast}. ` +
            `llama.cpp said:\n${llamaLog().tail(mark)}`,
        );
      }
      this.#nPast += m;
      if (copyTo) {
        for (let i = 0; i < m; i++) {
          if (!(all || start + i === n - 1)) continue;
          const p = this.#s.llama.llama_get_logits_ith(ctx, i);
          if (!p) throw new Error(`llama_get_logits_ith(${i}) returned NULL after a successful decode`);
          copyTo.set(
            new Float32Array(Deno.UnsafePointerView.getArrayBuffer(p, this.#nVocab * 4)),
            row++ * this.#nVocab,
          );
        }
      }
    }
  }

  /**
   * Evaluate a token sequence from position 0 (the KV cache is cleared first; with `append`, from `nPast`) in one
   * `llama_batch` per `batch` tokens, with logits requested only where needed.
   *
   * @param ids Token ids (1..ctx of them).
   * @param opts `positions` (`last` default, or `all`), `copy`, `capture`, `append`.
   * @returns Logits rows; a view into llama.cpp's buffer unless `copy` (or the input needed several chunks).
   * @throws {TypeError} After `close()`, for a vocab-only model, or `capture` without `captureTensors`.
   * @throws {RangeError} For an empty input, an id outside the vocabulary, or more tokens than the context.
   * @throws {Error} When `llama_decode` fails (message quotes llama.cpp's log).
   * @example
   * ```ts
   * import { CppModel } from "./cpp_model.ts";
   * import { resolveModel } from "../lock/mod.ts";
   * const { path } = await resolveModel("ci-tiny"); // provisioned by `crossval fetch --tier ci`
   * using m = await CppModel.load(path, { parity: true, threads: 1 });
   * const { logits, rows, nVocab } = m.eval(m.tokenize("Hello"), { positions: "all" });
   * console.log(rows, nVocab, logits.length === rows * nVocab);
   * ```
   */
  eval(ids: ArrayLike<number>, opts: EvalOptions = {}): EvalResult {
    const ctx = this.#needCtx("eval");
    if (ids.length === 0) throw new RangeError("Cannot eval an empty token sequence: pass at least one token id");
    this.#checkIds(ids);
    if (opts.capture && !this.#capture) {
      throw new TypeError(`Cannot capture tensors: load "${this.#path}" with { captureTensors: true }`);
    }
    if (opts.capture && ids.length > this.#info.settings.nUbatch) {
      // One graph per capture: across micro-batches the same names would come back once per chunk.
      throw new RangeError(
        `Cannot capture tensors over ${ids.length} tokens: they must fit in one micro-batch ` +
          `(${this.#info.settings.nUbatch}). Load with { batch: ${ids.length} } or more.`,
      );
    }
    if (opts.capture && opts.append) {
      throw new TypeError("Cannot capture tensors while appending: a capture evaluates from position 0");
    }
    this.#invalidate();
    if (!opts.append) {
      this.#s.llama.llama_memory_clear(this.#mem!, true);
      this.#nPast = 0;
    }
    const pos0 = this.#nPast;
    const all = opts.positions === "all";
    const rows = all ? ids.length : 1;
    const chunked = ids.length > this.#info.settings.nBatch;
    const owned = opts.copy || chunked ? new Float32Array(rows * this.#nVocab) : null;
    if (opts.capture) this.#capture!.arm(opts.capture);
    let capture: CaptureResult | undefined;
    try {
      this.#decode(ctx, ids, all, owned);
    } finally {
      if (opts.capture) capture = this.#capture!.disarm();
    }
    const positions = all
      ? Int32Array.from({ length: rows }, (_, i) => pos0 + i)
      : Int32Array.of(pos0 + ids.length - 1);
    let logits: Float32Array;
    if (owned) logits = owned;
    else {
      // llama_get_logits_ith takes the token's index in the batch (-1: the last output), not the output row.
      const first = this.#s.llama.llama_get_logits_ith(ctx, all ? 0 : -1)!;
      // llama.h: rows are contiguous in batch order; prove it for this call before handing out one view.
      const base = Deno.UnsafePointer.value(first);
      let contiguous = true;
      for (let i = 1; i < rows && contiguous; i++) {
        contiguous = BigInt(Deno.UnsafePointer.value(this.#s.llama.llama_get_logits_ith(ctx, i))) ===
          BigInt(base) + BigInt(i * this.#nVocab * 4);
      }
      if (contiguous) logits = this.#view(first, rows * this.#nVocab);
      else {
        logits = new Float32Array(rows * this.#nVocab);
        for (let i = 0; i < rows; i++) {
          const p = this.#s.llama.llama_get_logits_ith(ctx, i)!;
          logits.set(new Float32Array(Deno.UnsafePointerView.getArrayBuffer(p, this.#nVocab * 4)), i * this.#nVocab);
        }
      }
    }
    return { logits, rows, nVocab: this.#nVocab, positions, ...(capture ? { capture } : {}) };
  }

  /**
   * Append tokens to the sequence in the KV cache (positions `nPast..`) and return the logits of the last one.
   *
   * @param ids Token ids to append.
   * @returns A view of `nVocab` logits, detached by the next call that decodes, resets or closes.
   * @throws {TypeError} After `close()` or for a vocab-only model.
   * @throws {RangeError} For an empty input, a bad id, or a full context.
   * @throws {Error} When `llama_decode` fails.
   * @example
   * ```ts
   * import { argmax, CppModel } from "./cpp_model.ts";
   * import { resolveModel } from "../lock/mod.ts";
   * const { path } = await resolveModel("ci-tiny"); // provisioned by `crossval fetch --tier ci`
   * using m = await CppModel.load(path, { threads: 1 });
   * let logits = m.decode(m.tokenize("Once upon a time"));
   * for (let i = 0; i < 8; i++) logits = m.decode([argmax(logits)]);
   * ```
   */
  decode(ids: ArrayLike<number>): Float32Array {
    const ctx = this.#needCtx("decode");
    if (ids.length === 0) throw new RangeError("Cannot decode an empty token sequence: pass at least one token id");
    this.#checkIds(ids);
    this.#invalidate();
    this.#decode(ctx, ids, false, null);
    return this.#view(this.#s.llama.llama_get_logits_ith(ctx, -1)!, this.#nVocab);
  }

  /**
   * Clear the KV cache (`llama_memory_clear`) so the next `decode` starts at position 0.
   *
   * @throws {TypeError} After `close()` or for a vocab-only model.
   */
  reset(): void {
    this.#needCtx("reset");
    this.#invalidate();
    this.#s.llama.llama_memory_clear(this.#mem!, true);
    this.#nPast = 0;
  }

  /**
   * Greedy continuation: evaluate the prompt, then repeatedly take the argmax (lowest id on ties) and decode it.
   *
   * @param prompt Text (tokenized with `opts`), UTF-8 bytes, or token ids (`number[]`/`Int32Array`).
   * @param n Maximum number of tokens to generate.
   * @param opts Tokenization options and `stopAtEog` (default true).
   * @returns Generated ids and text, with timings.
   * @throws {TypeError} After `close()` or for a vocab-only model.
   * @throws {RangeError} When the prompt is empty or prompt + n exceeds the context.
   * @example
   * ```ts
   * import { CppModel } from "./cpp_model.ts";
   * import { resolveModel } from "../lock/mod.ts";
   * const { path } = await resolveModel("ci-tiny"); // provisioned by `crossval fetch --tier ci`
   * using m = await CppModel.load(path, { threads: 1 });
   * const r = m.generateGreedy("Once upon a time", 16);
   * console.log(r.ids, r.text, r.timings.genTokPerS);
   * ```
   */
  generateGreedy(prompt: string | Uint8Array | ArrayLike<number>, n: number, opts: GreedyOptions = {}): GreedyResult {
    this.#needCtx("generate");
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Cannot generate ${n} tokens: n must be an integer >= 0`);
    const promptIds = typeof prompt === "string" || prompt instanceof Uint8Array
      ? this.tokenize(prompt, opts)
      : Int32Array.from(prompt);
    if (promptIds.length === 0) throw new RangeError("Cannot generate from an empty prompt: it has no tokens");
    if (promptIds.length + n > this.#info.settings.nCtx + 1) {
      throw new RangeError(
        `Cannot generate ${n} tokens after a ${promptIds.length}-token prompt: the context holds ` +
          `${this.#info.settings.nCtx}. Load with a larger ctx or ask for fewer tokens.`,
      );
    }
    const stopAtEog = opts.stopAtEog ?? true;
    const t0 = performance.now();
    let logits = this.eval(promptIds).logits;
    const t1 = performance.now();
    const out: number[] = [];
    let stopped = false, decodes = 0;
    while (out.length < n) {
      const tok = argmax(logits);
      out.push(tok);
      if (stopAtEog && this.#s.llama.llama_vocab_is_eog(this.#vocab, tok)) {
        stopped = true;
        break;
      }
      if (out.length === n) break;
      logits = this.decode([tok]);
      decodes++;
    }
    const t2 = performance.now();
    this.#invalidate();
    const ids = Int32Array.from(out);
    return {
      promptIds,
      ids,
      text: this.detokenize(ids),
      stoppedAtEog: stopped,
      timings: {
        promptTokens: promptIds.length,
        promptMs: t1 - t0,
        genDecodes: decodes,
        genMs: t2 - t1,
        promptTokPerS: promptIds.length / ((t1 - t0) / 1000),
        genTokPerS: decodes ? decodes / ((t2 - t1) / 1000) : NaN,
      },
    };
  }

  /** Free the context, batch and model. Calling it again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#invalidate();
    this.#batch?.free();
    if (this.#ctx) this.#s.llama.llama_free(this.#ctx);
    this.#ctx = null;
    if (this.#model) this.#s.llama.llama_model_free(this.#model);
    this.#model = null;
    // Only now nothing can call back into it.
    this.#capture?.close();
  }

  /** Same as {@link CppModel.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The library this model runs on (shared by every model in the process). */
  get library(): LlamaLibrary {
    return this.#lib;
  }
}

/**
 * Index of the largest value; the lowest index wins ties and NaNs are ignored (the tie rule parity relies on).
 *
 * @param v Values.
 * @returns The index, or -1 when every value is NaN or `v` is empty.
 */
export function argmax(v: ArrayLike<number>): number {
  let best = -1, bv = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x > bv || (best < 0 && x === -Infinity)) {
      bv = x;
      best = i;
    }
  }
  return best;
}
