/**
 * What a benchmark needs from an engine, and the adapters: our {@link Engine}, and llama.cpp in its supervised
 * child process ({@link RefModel}) or in this process ({@link CppModel}). The measurement code (`measure.ts`, `run_bench.ts`) only sees {@link BenchSubject}, so both
 * engines are timed by the same loop around calls that do the same work: clear the cache (untimed), then evaluate
 * a prompt up to the last position's logits (`pp`), or append one token at a time and compute its logits (`tg`),
 * as llama-bench's `test_prompt` and `test_gen` do with `llama_decode` and `llama_synchronize`.
 *
 * @module
 */

import type { Engine } from "../engine/engine.ts";
import type { CppModel, CppModelInfo, RefModel, RefModelInfo } from "../ffi/mod.ts";

/** Facts about one side, for the receipt's llama-bench records. */
export interface SubjectInfo {
  /** Backend that computes: `wasm`/`ref` for our engine, `CPU` for llama.cpp. */
  readonly backend: string;
  /** Longer description of the backend (`CPU (zen4)`), same as `backend` when there is nothing to add. */
  readonly backendDetail: string;
  /** llama-bench's `gpu_info`: the GPU that computes (`WebGPU <adapter> [CPU fallback]`), empty on the CPU. */
  readonly gpuInfo: string;
  /** Threads. */
  readonly threads: number;
  /** Tokens per forward call. */
  readonly nBatch: number;
  /** Tokens per micro-batch. */
  readonly nUbatch: number;
  /** Context length. */
  readonly nCtx: number;
  /** K cache type. */
  readonly typeK: string;
  /** V cache type. */
  readonly typeV: string;
  /** Flash attention as requested (llama.cpp's `flash_attn_type`): -1 auto, 0 disabled, 1 enabled. */
  readonly flashAttn: -1 | 0 | 1;
  /** How weights are loaded, as llama-bench names it: `auto` (llama.cpp maps the file), `none` (read into memory). */
  readonly loadMode: string;
  /** Lazy tensor loading: `auto` (llama.cpp's default) or `off`. */
  readonly lazyMode: string;
  /** Device split: `layer` (llama.cpp's default) or `none`. */
  readonly splitMode: string;
  /** Devices: `auto` (the library's choice) or `none` (CPU only). */
  readonly devices: string;
  /** Thread-pool polling level, llama-bench's `poll` (llama.cpp: ggml's default 50; 0 for an engine without one). */
  readonly poll: number;
  /** Test-only modifications (an injected delay); empty for the real engines. */
  readonly faults: Readonly<Record<string, string>>;
  /** Our engine's kernel set (absent for llama.cpp). */
  readonly numerics?: "exact" | "fast";
}

/** The reference library's identity. */
export interface SubjectLibrary {
  /** Release label (`v0.5.0`), or null for a custom build. */
  readonly release: string | null;
  /** Version string. */
  readonly version: string | null;
  /** Commit of the library's source. */
  readonly commit: string | null;
  /** ggml commit. */
  readonly ggmlCommit: string | null;
}

/** One engine as the benchmark drives it. Methods may be synchronous or return a promise. */
export interface BenchSubject {
  /** Vocabulary size (token ids are drawn below it). */
  readonly nVocab: number;
  /** Context length (a test's tokens must fit). */
  readonly nCtx: number;
  /** BOS id when the vocabulary adds one (llama-bench then starts every sequence with it), else null. */
  readonly bos: number | null;
  /** Clear the cache: the next {@link decode} starts at position 0. Not timed. */
  reset(): void | Promise<void>;
  /**
   * Keep only the first `n` positions of the cache (the next {@link decode} starts at `n`). Optional: a subject
   * without it is refilled for every repetition of a test at depth. Not timed.
   *
   * @param n Positions to keep (at most those in the cache).
   */
  rewind?(n: number): void | Promise<void>;
  /**
   * Append tokens to the sequence in the cache and compute the last one's logits (one token for `tg`, the whole
   * prompt for `pp`; the engine splits it into batches as it would for any prompt).
   *
   * @param ids Token ids.
   */
  decode(ids: Int32Array): void | Promise<void>;
  /**
   * The same work as {@link decode}, timed by the subject itself: milliseconds. A subject in another process
   * (llama.cpp in its supervised child) measures inside that process, so the benchmark does not time the pipe;
   * when present, the measurement uses it instead of timing `decode` from outside.
   *
   * @param ids Token ids.
   */
  timedDecode?(ids: Int32Array): Promise<number>;
  /** Release version and commit of the library that computes, when it is not this tool (llama.cpp). */
  readonly library?: SubjectLibrary;
  /** Kernel ids that executed so far (`<backend>.<op>[.<variant>]`). */
  kernels(): string[];
  /** Facts for the receipt. */
  describe(): SubjectInfo;
}

/**
 * Our engine as a {@link BenchSubject}.
 *
 * @param engine A loaded engine (the caller keeps ownership and closes it).
 * @returns The adapter.
 * @example
 * ```ts
 * import { Engine } from "../engine/engine.ts";
 * import { engineBenchSubject } from "./subject.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using engine = await Engine.load(path, { threads: 2, nCtx: 64 });
 * const subject = engineBenchSubject(engine);
 * await subject.decode(Int32Array.of(1, 2, 3));
 * ```
 */
export function engineBenchSubject(engine: Engine): BenchSubject {
  const info = engine.info();
  return {
    nVocab: engine.config.nVocab,
    nCtx: info.nCtx,
    bos: engine.tokenizer.addBos ? engine.tokenizer.bos : null,
    reset: () => engine.reset(),
    rewind: (n) => engine.rewind(n),
    decode: async (ids) => void await engine.decode(ids),
    kernels: () => engine.kernels(),
    describe: () => ({
      backend: info.backend,
      backendDetail: info.device === "CPU" ? info.backend : `${info.backend} (${info.device})`,
      gpuInfo: info.device === "CPU" ? "" : info.device,
      threads: info.threads,
      nBatch: info.maxBatch,
      nUbatch: info.maxBatch,
      nCtx: info.nCtx,
      // The engine's KV cache is f32 (kernels-wasm/ABI.md) and its attention kernel is not a fused flash kernel.
      typeK: "f32",
      typeV: "f32",
      flashAttn: 0,
      // Weights are copied from the file into the kernel arena; nothing is split over devices.
      loadMode: "none",
      lazyMode: "off",
      splitMode: "none",
      devices: "none",
      // No polling knob (its workers spin a fixed number of iterations, then wait): 0, never null, because
      // compare-llama-bench.py pairs records on equal key fields and NULL never equals NULL in its SQL join.
      poll: 0,
      faults: {},
      numerics: info.numerics,
    }),
  };
}

/**
 * llama.cpp's model, loaded in this process, as a {@link BenchSubject}. Loaded as the user would run it (not in
 * parity mode): its default F16 KV cache and flash attention "auto" are recorded in the receipt. `crossval bench`
 * uses {@link refBenchSubject} (the supervised child process) instead; this one stays for in-process measurements
 * such as peak memory.
 *
 * @param model A loaded model with a context (the caller keeps ownership and closes it).
 * @returns The adapter.
 * @throws {TypeError} When the model was loaded vocab-only.
 * @example
 * ```ts
 * import { CppModel } from "../ffi/mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * import { cppBenchSubject } from "./subject.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using model = await CppModel.load(path, { threads: 1, ctx: 64 });
 * const subject = cppBenchSubject(model);
 * await subject.decode(Int32Array.of(1, 2, 3));
 * console.log(subject.nCtx, subject.describe().backend); // 256 "CPU" (llama.cpp pads the context)
 * await Deno.remove(path);
 * ```
 */
export function cppBenchSubject(model: CppModel): BenchSubject {
  const info = model.info();
  return llamaSubject(info, "llama.cpp", {
    release: info.library.release,
    version: info.library.version,
    commit: info.library.bindingCommit,
    ggmlCommit: info.library.ggmlCommit,
  }, {
    reset: () => model.reset(),
    decode: (ids) => void model.decode(ids),
  });
}

/**
 * llama.cpp's model in its supervised child process (`ffi/ref_process.ts`) as a {@link BenchSubject}: every
 * decode is timed inside the child (`eval` with `logits=none`: the logits are computed, not sent), so the
 * receipt measures llama.cpp, not the pipe. Loaded as the user would run it (not in parity mode).
 *
 * @param model A model loaded in a reference process (the caller keeps ownership and closes it).
 * @param library The library's name, the reference's kernel id in the receipt (default `llama.cpp`).
 * @returns The adapter.
 * @throws {TypeError} When the model was loaded vocab-only.
 * @example
 * ```ts
 * import { ReferenceProcess } from "../ffi/mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * import { refBenchSubject } from "./subject.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * await using ref = await ReferenceProcess.spawn();
 * await using model = await ref.load(path, { threads: 1, ctx: 64 });
 * console.log(await refBenchSubject(model).timedDecode!(Int32Array.of(1)) > 0); // true: ms inside the child
 * await Deno.remove(path);
 * ```
 */
export function refBenchSubject(model: RefModel, library = "llama.cpp"): BenchSubject {
  const info = model.info();
  return llamaSubject(info, library, {
    release: info.library.release,
    version: info.library.version,
    commit: info.library.commit,
    ggmlCommit: info.library.ggmlCommit,
  }, {
    reset: () => model.reset(),
    decode: async (ids) => void await model.decodeTimed(ids),
    timedDecode: (ids) => model.decodeTimed(ids),
  });
}

/** The shared part of both llama.cpp adapters: the receipt's facts from the model's settings. */
function llamaSubject(
  info: CppModelInfo | RefModelInfo,
  name: string,
  library: SubjectLibrary,
  calls: Pick<BenchSubject, "reset" | "decode" | "timedDecode">,
): BenchSubject {
  if (info.settings.vocabOnly) {
    throw new TypeError(`Cannot benchmark "${info.path}": it was loaded vocab-only. Load it with weights.`);
  }
  const s = info.settings;
  return {
    nVocab: info.nVocab,
    nCtx: s.nCtx,
    bos: info.addBos && info.bos >= 0 ? info.bos : null,
    ...calls,
    library,
    // ggml's CPU backend records no per-kernel ids; the stable id of the reference is the library itself.
    kernels: () => [name],
    describe: () => ({
      backend: "CPU",
      backendDetail: info.backend,
      gpuInfo: "",
      threads: s.threads,
      nBatch: s.nBatch,
      nUbatch: s.nUbatch,
      nCtx: s.nCtx,
      typeK: s.typeK,
      typeV: s.typeV,
      flashAttn: s.flashAttn === "auto" ? -1 : 0,
      // CppModel keeps llama_model_default_params()/llama_context_default_params() for these: load_mode and
      // lazy_mode AUTO, split_mode LAYER, no device list, and ggml's thread-pool poll of 50
      // (ggml_threadpool_params_default in ggml/src/ggml.c).
      loadMode: "auto",
      lazyMode: "auto",
      splitMode: "layer",
      devices: "auto",
      poll: 50,
      faults: {},
    }),
  };
}
