/**
 * {@link CppSubject}: llama.cpp (through `ffi/`'s `CppModel`) as the reference side of a parity run, always in
 * parity mode: F32 K/V cache and flash attention off, so the reference's own cache rounding and fused attention
 * stay out of the comparison. Intermediates come from a second, capture-enabled context loaded on first use, so
 * the graph callback never runs in the timed path.
 *
 * @module
 */

import { CppModel } from "../ffi/mod.ts";
import type { ReferenceInfo } from "../receipts/parity_receipt.ts";
import type { NamedTensor, ReferenceParitySubject, TokenizeVariant } from "./subject.ts";

/** Options of {@link CppSubject.open}. */
export interface CppSubjectOptions {
  /** CPU threads (use the engine's count, so timings compare like with like). */
  readonly threads?: number;
  /** Context size. */
  readonly nCtx?: number;
  /** llama.cpp build directory (overrides `BITNET_CPP_DIR`). */
  readonly cppDir?: string;
}

const CAPTURED = /^(?:[A-Za-z_]+-\d+|result_norm|result_output)$/;

/** llama.cpp, adapted to {@link ReferenceParitySubject}. */
export class CppSubject implements ReferenceParitySubject, Disposable {
  readonly #path: string;
  readonly #opts: CppSubjectOptions;
  readonly #model: CppModel;
  #captureModel: CppModel | undefined;

  private constructor(path: string, opts: CppSubjectOptions, model: CppModel) {
    this.#path = path;
    this.#opts = opts;
    this.#model = model;
  }

  /**
   * Load the model in llama.cpp, parity mode.
   *
   * @param path GGUF path.
   * @param opts Threads, context, library directory.
   * @returns The subject; close it when done.
   * @throws {LibraryLoadError} When the llama.cpp library cannot be loaded.
   * @throws Whatever `CppModel.load` throws for the file.
   * @example
   * ```ts
   * import { CppSubject } from "./cpp_subject.ts";
   * import { writeSyntheticModel } from "../engine/synth/write.ts";
   * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
   * using ref = await CppSubject.open(path, { threads: 1 });
   * console.log(ref.describe().settings);
   * ```
   */
  static async open(path: string, opts: CppSubjectOptions = {}): Promise<CppSubject> {
    return new CppSubject(path, opts, await CppModel.load(path, CppSubject.#loadOptions(opts, false)));
  }

  static #loadOptions(opts: CppSubjectOptions, capture: boolean) {
    return {
      parity: true,
      captureTensors: capture,
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.nCtx !== undefined ? { ctx: opts.nCtx } : {}),
      ...(opts.cppDir !== undefined ? { cppDir: opts.cppDir } : {}),
    };
  }

  /** Logit row length. */
  get nVocab(): number {
    return this.#model.nVocab;
  }

  /** Context size in effect. */
  get nCtx(): number {
    return this.#model.info().settings.nCtx;
  }

  /** Tokenize with `llama_tokenize`. */
  tokenize(text: string, v: TokenizeVariant): Int32Array {
    return this.#model.tokenize(text, { addSpecial: v.addSpecial, parseSpecial: v.parseSpecial });
  }

  /** `llama_token_to_piece` with special tokens rendered. */
  piece(id: number): string {
    return new TextDecoder().decode(this.#model.tokenToPiece(id, { special: true }));
  }

  /** `[n][V]` logits (a copy). */
  evalAll(ids: Int32Array): Float32Array {
    return this.#model.eval(ids, { positions: "all", copy: true }).logits;
  }

  /** Fresh sequence, last logits (a copy). */
  begin(ids: Int32Array): Float32Array {
    return this.#model.eval(ids, { positions: "last", copy: true }).logits;
  }

  /** Append one token, its logits (a copy). */
  step(id: number): Float32Array {
    return this.#model.decode([id]).slice();
  }

  /** Intermediates via `cb_eval`, converted to row-major `[tokens][values]`. */
  async capture(ids: Int32Array): Promise<ReadonlyMap<string, NamedTensor>> {
    this.#captureModel ??= await CppModel.load(this.#path, CppSubject.#loadOptions(this.#opts, true));
    const r = this.#captureModel.eval(ids, { positions: "all", copy: true, capture: (n: string) => CAPTURED.test(n) });
    const out = new Map<string, NamedTensor>();
    for (const [name, t] of r.capture?.tensors ?? []) {
      // ggml order: ne0 innermost; the outermost dimension is the token. [E, T] and [D, H, T] alike.
      const rows = t.shape.length > 1 ? t.shape[t.shape.length - 1] : 1;
      out.set(name, { rows, cols: t.data.length / rows, data: t.data });
    }
    return out;
  }

  /** Library version, commit, settings in effect. */
  describe(): Omit<ReferenceInfo, "ran" | "error" | "timeout_ms"> {
    const i = this.#model.info();
    const s = i.settings;
    return {
      library: "llama.cpp",
      release: i.library.release,
      version: i.library.version,
      commit: i.library.bindingCommit,
      ggml_commit: i.library.ggmlCommit,
      source: i.library.source,
      backend: i.backend,
      add_bos: i.addBos,
      add_eos: i.addEos,
      settings: {
        threads: s.threads,
        threads_batch: s.threadsBatch,
        type_k: s.typeK,
        type_v: s.typeV,
        flash_attn: s.flashAttn,
        n_ctx: s.nCtx,
        n_batch: s.nBatch,
      },
    };
  }

  /** Free both llama.cpp contexts. */
  close(): void {
    this.#model.close();
    this.#captureModel?.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
