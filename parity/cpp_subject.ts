/**
 * {@link CppSubject}: llama.cpp as the reference side of a parity run, run in its own supervised process
 * (`ffi/ref_process.ts`, protocol in `ffi/PROTOCOL.md`), so an abort inside llama.cpp ends that process and becomes
 * a `ReferenceCrashedError` (a `reference_crashed` receipt) instead of ending the tool. Always in parity mode: F32
 * K/V cache and flash attention off, so the reference's own cache rounding and fused attention stay out of the
 * comparison. Intermediates come from a second, capture-enabled context in the same process, loaded on first use,
 * so the graph callback never runs in the timed path.
 *
 * Round trips are the cost of a process boundary, so the greedy check asks for the reference's whole trajectory
 * (every step's token and logits) in one request when it begins a prompt, and `step` serves the rows from it; the
 * reference always continues with its own argmax, so the trajectory is exactly what step-by-step decoding gives.
 *
 * @module
 */

import { ReferenceProcess, type ReferenceProcessOptions, type RefModel } from "../ffi/ref_process.ts";
import type { ReferenceInfo } from "../receipts/parity_receipt.ts";
import { captureFilter, type GraphDialect, toLlamaCppNames } from "./graph_names.ts";
import type { NamedTensor, ReferenceParitySubject, TokenizeVariant } from "./subject.ts";

/** What the receipt records about the reference beyond what its process reports (reference choice, input file). */
export type ReferenceRecord = Pick<ReferenceInfo, "library" | "selection" | "build_flags" | "input">;

/** Options of {@link CppSubject.open}. */
export interface CppSubjectOptions {
  /** CPU threads (use the engine's count, so timings compare like with like). */
  readonly threads?: number;
  /** Context size. */
  readonly nCtx?: number;
  /** llama.cpp build directory (overrides `BITNET_CPP_DIR`). */
  readonly cppDir?: string;
  /** Greedy steps the harness will take per prompt: fetched in one request by `begin` (0: step by step). */
  readonly greedySteps?: number;
  /** Deadline for any one reference request, ms (the child is killed past it; default 300000). */
  readonly requestTimeoutMs?: number;
  /** Process options (driver program, memory limit, stderr listener). */
  readonly process?: Omit<ReferenceProcessOptions, "cppDir">;
  /**
   * A process already started with {@link CppSubject.spawn} (so its start-up overlapped other work); the subject
   * takes it over and closes it. Default: start one now.
   */
  readonly spawned?: Promise<ReferenceProcess>;
  /** How the reference names graph nodes (default `llama.cpp`); captures are renamed into llama.cpp's names. */
  readonly dialect?: GraphDialect;
  /** Which reference this is and what it ran, for the receipt (default: the pinned llama.cpp on the model). */
  readonly record?: ReferenceRecord;
}

/** Default budget for all reference calls of a parity run, ms (also each request's deadline). */
export const DEFAULT_REFERENCE_TIMEOUT_MS = 300_000;

/**
 * The reference-process options of a parity run, from its run options: so a caller that starts the process early
 * (the CLI, while it loads everything else) starts the same process `runParityOnModel` would.
 *
 * @param o The run's budget, library directory and process options.
 * @returns Options for {@link CppSubject.spawn} and {@link CppSubject.open}.
 */
export function parityReferenceOptions(o: {
  readonly referenceTimeoutMs?: number;
  readonly cppDir?: string;
  readonly referenceProcess?: Omit<ReferenceProcessOptions, "cppDir">;
}): Omit<CppSubjectOptions, "spawned"> {
  return {
    requestTimeoutMs: o.referenceTimeoutMs ?? DEFAULT_REFERENCE_TIMEOUT_MS,
    ...(o.cppDir !== undefined ? { cppDir: o.cppDir } : {}),
    ...(o.referenceProcess ? { process: o.referenceProcess } : {}),
  };
}

/** A greedy trajectory being replayed. */
interface Trajectory {
  readonly prompt: Int32Array;
  readonly ids: Int32Array;
  readonly logits: Float32Array;
  /** Tokens appended so far by `step`. */
  readonly appended: number[];
}

/** llama.cpp in a child process, adapted to {@link ReferenceParitySubject}. */
export class CppSubject implements ReferenceParitySubject, AsyncDisposable {
  readonly #path: string;
  readonly #opts: CppSubjectOptions;
  readonly #proc: ReferenceProcess;
  readonly #model: RefModel;
  readonly #pieces: readonly string[];
  #captureModel: Promise<RefModel> | undefined;
  /** Sequences seen by `evalAll`, in order: localization replays them in the same order. */
  readonly #evaluated: Int32Array[] = [];
  /** Sequences seen by `begin`. */
  #begun = 0;
  /** One capture computed ahead, while our engine works on the previous one. */
  #ahead: { readonly ids: Int32Array; readonly result: Promise<ReadonlyMap<string, NamedTensor>> } | null = null;
  #trajectory: Trajectory | null = null;

  private constructor(
    path: string,
    opts: CppSubjectOptions,
    proc: ReferenceProcess,
    model: RefModel,
    pieces: readonly string[],
  ) {
    this.#path = path;
    this.#opts = opts;
    this.#proc = proc;
    this.#model = model;
    this.#pieces = pieces;
  }

  /**
   * Start the reference process and load the model in it, parity mode.
   *
   * @param path GGUF path.
   * @param opts Threads, context, library directory, greedy steps, deadlines.
   * @returns The subject; close it (`await using`) when done.
   * @throws {LibraryLoadError} When the llama.cpp library cannot be loaded.
   * @throws {ReferenceCrashedError} When llama.cpp aborts while loading the file.
   * @throws Whatever the driver reports for the file (`NotFound`, an `invalid_model` error).
   * @example
   * ```ts
   * import { CppSubject } from "./cpp_subject.ts";
   * import { writeSyntheticModel } from "../engine/synth/write.ts";
   * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
   * await using ref = await CppSubject.open(path, { threads: 1 });
   * console.log(ref.describe().settings);
   * ```
   */
  static async open(path: string, opts: CppSubjectOptions = {}): Promise<CppSubject> {
    const proc = await (opts.spawned ?? CppSubject.spawn(opts));
    try {
      const model = await proc.load(path, CppSubject.#loadOptions(opts, false));
      // Pieces are wanted synchronously (reports); the whole vocabulary is one request.
      const all = await model.pieces(Int32Array.from({ length: model.nVocab }, (_, i) => i), { special: true });
      const dec = new TextDecoder();
      return new CppSubject(path, opts, proc, model, all.map((b) => dec.decode(b)));
    } catch (e) {
      await proc.close();
      throw e;
    }
  }

  /**
   * Start the reference process (and load the library in it) without loading a model yet.
   *
   * @param opts Library directory, deadlines, process options.
   * @returns The process, for {@link CppSubjectOptions.spawned}.
   * @throws {LibraryLoadError} When the llama.cpp library cannot be loaded.
   */
  static spawn(opts: Omit<CppSubjectOptions, "spawned"> = {}): Promise<ReferenceProcess> {
    return ReferenceProcess.spawn(CppSubject.processOptions(opts));
  }

  /**
   * The process options of a subject's options (library directory, deadlines, the rest of `process`).
   *
   * @param opts Subject options.
   * @returns Options for `ReferenceProcess.spawn`.
   */
  static processOptions(opts: Omit<CppSubjectOptions, "spawned"> = {}): ReferenceProcessOptions {
    return {
      ...opts.process,
      ...(opts.cppDir !== undefined ? { cppDir: opts.cppDir } : {}),
      ...(opts.requestTimeoutMs !== undefined
        ? { timeouts: { ...opts.process?.timeouts, op: opts.requestTimeoutMs, load: opts.requestTimeoutMs } }
        : {}),
    };
  }

  static #loadOptions(opts: CppSubjectOptions, capture: boolean) {
    return {
      parity: true,
      captureTensors: capture,
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.nCtx !== undefined ? { ctx: opts.nCtx } : {}),
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

  /** The supervised process (its identity, its crash if any). */
  get process(): ReferenceProcess {
    return this.#proc;
  }

  /** Tokenize with `llama_tokenize`. */
  tokenize(text: string, v: TokenizeVariant): Promise<Int32Array> {
    return this.#model.tokenize(text, { addSpecial: v.addSpecial, parseSpecial: v.parseSpecial });
  }

  /**
   * `llama_token_to_piece` with special tokens rendered.
   *
   * @throws {RangeError} For an id outside the vocabulary.
   */
  piece(id: number): string {
    const p = this.#pieces[id];
    if (p === undefined) {
      throw new RangeError(`Invalid token id ${id}: the vocabulary has ${this.#pieces.length} tokens`);
    }
    return p;
  }

  /** `[n][V]` logits. */
  async evalAll(ids: Int32Array): Promise<Float32Array> {
    this.#evaluated.push(ids.slice());
    return (await this.#model.eval(ids, { positions: "all" })).logits;
  }

  /** Fresh sequence, last logits; with `greedySteps`, the whole greedy trajectory is fetched now. */
  async begin(ids: Int32Array): Promise<Float32Array> {
    this.#trajectory = null;
    // After the last prompt's trajectory the reference is idle while our engine decodes: compute the first capture.
    if (++this.#begun === this.#evaluated.length && this.#evaluated.length) this.#prefetch(this.#evaluated[0]);
    const steps = this.#opts.greedySteps ?? 0;
    if (steps > 0 && ids.length + steps <= this.nCtx + 1) {
      const t = await this.#model.greedyTrajectory(ids, steps);
      if (t.ids.length > 0) {
        this.#trajectory = { prompt: ids, ids: t.ids, logits: t.logits, appended: [] };
        return t.logits.subarray(0, this.nVocab);
      }
    }
    return (await this.#model.eval(ids, { positions: "last" })).logits;
  }

  /** Append one token, its logits: from the trajectory while the token is the reference's own choice. */
  async step(id: number): Promise<Float32Array> {
    const t = this.#trajectory;
    if (t) {
      const k = t.appended.length;
      if (t.ids[k] === id && k + 1 < t.ids.length) {
        t.appended.push(id);
        return t.logits.subarray((k + 1) * this.nVocab, (k + 2) * this.nVocab);
      }
      // Off the trajectory: rebuild the sequence in the cache, then go on step by step.
      this.#trajectory = null;
      const seq = Int32Array.from([...t.prompt, ...t.appended, id]);
      return (await this.#model.eval(seq, { positions: "last" })).logits;
    }
    return await this.#model.decode([id]);
  }

  /**
   * Intermediates via `cb_eval`, converted to row-major `[tokens][values]`. The harness replays the prompts it
   * evaluated, in order, taking the reference's capture and then our engine's; so each call starts the next
   * prompt's capture in the child, where it runs while our engine computes its own (one capture ahead at most).
   */
  async capture(ids: Int32Array): Promise<ReadonlyMap<string, NamedTensor>> {
    const ahead = this.#ahead;
    this.#ahead = null;
    const result = ahead && sameIds(ahead.ids, ids) ? ahead.result : this.#captureNow(ids);
    const k = this.#evaluated.findIndex((x) => sameIds(x, ids));
    if (k >= 0 && k + 1 < this.#evaluated.length) this.#prefetch(this.#evaluated[k + 1]);
    return await result;
  }

  #prefetch(ids: Int32Array): void {
    const result = this.#captureNow(ids);
    // Consumed (and its error rethrown) by the capture call that asks for these ids; never an unhandled rejection.
    result.catch(() => {});
    this.#ahead = { ids, result };
  }

  async #captureNow(ids: Int32Array): Promise<ReadonlyMap<string, NamedTensor>> {
    this.#captureModel ??= this.#proc.load(this.#path, CppSubject.#loadOptions(this.#opts, true));
    const dialect = this.#opts.dialect ?? "llama.cpp";
    const r = await (await this.#captureModel).capture(ids, captureFilter(dialect));
    const out = new Map<string, NamedTensor>();
    for (const [name, t] of r.tensors) {
      // ggml order: ne0 innermost; the outermost dimension is the token. [E, T] and [D, H, T] alike.
      const rows = t.shape.length > 1 ? t.shape[t.shape.length - 1] : 1;
      out.set(name, { rows, cols: t.data.length / rows, data: t.data });
    }
    return toLlamaCppNames(dialect, out);
  }

  /** Library version, commit, settings in effect. */
  describe(): Omit<ReferenceInfo, "ran" | "error" | "timeout_ms"> {
    const i = this.#model.info();
    const s = i.settings, id = i.library, rec = this.#opts.record;
    return {
      library: rec?.library ?? "llama.cpp",
      ...(rec?.selection ? { selection: rec.selection } : {}),
      driver: id.driver || null,
      build_flags: rec?.build_flags ?? (id.buildFlags || null),
      arch: i.arch || null,
      input: rec?.input ?? null,
      release: id.release,
      version: id.version,
      commit: id.commit,
      ggml_commit: id.ggmlCommit,
      source: id.source,
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

  /** End the reference process (both contexts go with it). Never throws. */
  close(): Promise<void> {
    return this.#proc.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function sameIds(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
