/**
 * {@link EngineSubject}: our engine as one side of a parity run. Logits and greedy steps run on a plain engine
 * instance (no hook in the measured path); intermediates come from a second instance loaded with the `onTensor`
 * hook on first use, so timings are never polluted by the capture.
 *
 * @module
 */

import { createBackend } from "../engine/backends/create.ts";
import { Engine } from "../engine/engine.ts";
import type { ActivationPrecision } from "../engine/backends/activation_precision.ts";
import type { TensorHook } from "../engine/model/graph.ts";
import { applyFaults, type FaultedModel, type Faults } from "./faults.ts";
import type { BackendKind } from "../engine/backends/backend.ts";
import type { NumericsProfile } from "../engine/backends/type_kernels.ts";
import type { EngineInfoJson } from "../receipts/parity_receipt.ts";
import type { EngineParitySubject, NamedTensor, TokenizeVariant } from "./subject.ts";

/** Options of {@link EngineSubject.open}. */
export interface EngineSubjectOptions {
  /** Kernel backend (default `wasm`). */
  readonly backend?: BackendKind;
  /** Threads (default: the engine's default). */
  readonly threads?: number;
  /** Context length (default: the engine's default). */
  readonly nCtx?: number;
  /** Kernel set (default `exact`: parity against the pinned llama.cpp is bit for bit in that profile). */
  readonly numerics?: NumericsProfile;
  /** TEST-ONLY fault injection, recorded in the receipt (a receipt with faults never verifies). */
  readonly faults?: Faults;
  /** Activation precision of the ternary projections (default `int8`): `float` against a float reference. */
  readonly activations?: ActivationPrecision;
}

/** Our engine, adapted to {@link EngineParitySubject}. */
export class EngineSubject implements EngineParitySubject, Disposable {
  readonly #path: string;
  readonly #opts: EngineSubjectOptions;
  readonly #engine: Engine;
  readonly #faulted: FaultedModel | undefined;
  #captureEngine: Engine | undefined;
  #captured = new Map<string, NamedTensor>();

  private constructor(path: string, opts: EngineSubjectOptions, engine: Engine, faulted: FaultedModel | undefined) {
    this.#path = path;
    this.#opts = opts;
    this.#engine = engine;
    this.#faulted = faulted;
  }

  /**
   * Load the model into our engine.
   *
   * @param path GGUF path.
   * @param opts Backend, threads, context, faults.
   * @returns The subject; close it when done.
   * @throws Whatever `Engine.load` throws (missing file, unsupported model).
   * @example
   * ```ts
   * import { EngineSubject } from "./engine_subject.ts";
   * import { writeSyntheticModel } from "../engine/synth/write.ts";
   * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
   * using eng = await EngineSubject.open(path, { backend: "ref", nCtx: 32 });
   * console.log(eng.nVocab);
   * ```
   */
  static async open(path: string, opts: EngineSubjectOptions = {}): Promise<EngineSubject> {
    const faulted = opts.faults ? await applyFaults(path, opts.faults) : undefined;
    try {
      return new EngineSubject(path, opts, await EngineSubject.#load(path, opts, faulted), faulted);
    } catch (e) {
      faulted?.close();
      throw e;
    }
  }

  /** An engine instance; with faults, on the faulted file through its own patch (test-only, parity/faults.ts). */
  static async #load(path: string, opts: EngineSubjectOptions, faulted?: FaultedModel, hook?: TensorHook) {
    const kind = opts.backend ?? "wasm";
    const common = {
      ...(opts.nCtx !== undefined ? { nCtx: opts.nCtx } : {}),
      numerics: opts.numerics ?? "exact",
      ...(opts.activations !== undefined ? { activations: opts.activations } : {}),
    };
    if (!faulted) {
      return await Engine.load(path, {
        ...common,
        backend: kind,
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(hook ? { onTensor: hook } : {}),
      });
    }
    const patched = faulted.patch(await createBackend(kind, { threads: opts.threads }), hook);
    return await Engine.load(faulted.path, { ...common, backend: patched.backend, onTensor: patched.onTensor });
  }

  /** Logit row length. */
  get nVocab(): number {
    return this.#engine.config.nVocab;
  }

  /** Context length. */
  get nCtx(): number {
    return this.#engine.info().nCtx;
  }

  /** Tokenize. */
  tokenize(text: string, v: TokenizeVariant): Int32Array {
    return this.#engine.tokenize(text, { addSpecial: v.addSpecial, parseSpecial: v.parseSpecial });
  }

  /** Token text with special tokens rendered. */
  piece(id: number): string {
    return this.#engine.tokenizer.tokenToPiece(id, { special: true });
  }

  /** `[n][V]` logits of a fresh sequence. */
  evalAll(ids: Int32Array): Promise<Float32Array> {
    return this.#engine.eval(ids, { positions: "all" });
  }

  /** Fresh sequence, last logits (a copy). */
  begin(ids: Int32Array): Promise<Float32Array> {
    return this.#engine.eval(ids, { positions: "last" });
  }

  /** Append one token, its logits (a copy: the engine's view is overwritten by the next call). */
  async step(id: number): Promise<Float32Array> {
    return (await this.#engine.decode([id])).slice();
  }

  /** Intermediates of evaluating `ids` with logits for every position. */
  async capture(ids: Int32Array): Promise<ReadonlyMap<string, NamedTensor>> {
    this.#captureEngine ??= await EngineSubject.#load(this.#path, this.#opts, this.#faulted, (name, data, info) => {
      // Chunks of a long input call the hook once per chunk: append their rows.
      const prev = this.#captured.get(name);
      if (prev && prev.cols === info.cols) {
        const joined = new Float32Array(prev.data.length + data.length);
        joined.set(prev.data);
        joined.set(data, prev.data.length);
        this.#captured.set(name, { rows: prev.rows + info.rows, cols: info.cols, data: joined });
      } else {
        this.#captured.set(name, { rows: info.rows, cols: info.cols, data: data.slice() });
      }
    });
    this.#captured = new Map();
    await this.#captureEngine.eval(ids, { positions: "all" });
    const out = this.#captured;
    this.#captured = new Map();
    return out;
  }

  /** Backend, threads, kernels that ran so far, faults. */
  describe(): Omit<EngineInfoJson, "ran" | "error"> {
    const info = this.#engine.info();
    return {
      backend: info.backend,
      activations: info.activations,
      // The device label of a backend that does not compute on the host CPU (WebGPU: the adapter).
      ...(info.device !== "CPU" ? { device: info.device } : {}),
      threads: info.threads,
      n_ctx: info.nCtx,
      kernels: this.#engine.kernels(),
      numerics: info.numerics,
      tokenizer_sha256: this.#engine.tokenizer.identity.sha256,
      faults: { ...(this.#opts.faults ?? {}) },
    };
  }

  /** Stop both engine instances. */
  close(): void {
    this.#engine.close();
    this.#captureEngine?.close();
    this.#faulted?.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
