/**
 * {@link benchModelFile}: the whole benchmark of one model file: load it into our engine and into llama.cpp with the
 * same thread count and context, describe the file, run {@link runBench}, close both. And {@link benchModelInfo},
 * the receipt's model block, for callers that drive `runBench` with their own subjects.
 *
 * @module
 */

import { Engine } from "../engine/engine.ts";
import { GgufFile } from "../engine/gguf/mod.ts";
import type { BackendKind } from "../engine/backends/backend.ts";
import type { NumericsProfile } from "../engine/backends/type_kernels.ts";
import { configFromGguf } from "../engine/model/architectures.ts";
import { weightTypeNames } from "../engine/model/manifest.ts";
import type { RefModelInfo } from "../ffi/mod.ts";
import { sha256File } from "../lock/sha256.ts";
import type { BenchBandwidth, BenchModelInfo, BenchReceipt } from "../receipts/bench_receipt.ts";
import { parseTestName, testContext } from "./measure.ts";
import { type BenchEvent, runBench } from "./run_bench.ts";
import { engineBenchSubject, refBenchSubject } from "./subject.ts";
import { resolveThreads } from "../engine/backends/create.ts";
import type { ReferenceBuildEvent } from "../ffi/references/mod.ts";
import { type IkInputFormat, prepareReference, selectReference } from "../parity/reference_plan.ts";

/** Options of {@link benchModelFile}. */
export interface BenchModelOptions {
  /** Receipt name (default: the file name without `.gguf`). */
  readonly name?: string;
  /** Lockfile name when the file came from the lockfile. */
  readonly lockName?: string | null;
  /** SHA-256 already verified (the lockfile's, after a fetch); hashed from the file otherwise. */
  readonly sha256?: string | null;
  /** Our engine's kernel backend (default `wasm`). */
  readonly backend?: BackendKind;
  /** Our engine's kernel set (default `fast`, the engine's default). */
  readonly numerics?: NumericsProfile;
  /** The read bandwidth measured for this run, recorded in the receipt (`roofline`). */
  readonly roofline?: BenchBandwidth | null;
  /** Threads for both engines (default: the core count). */
  readonly threads?: number;
  /** Tests (default `["pp64", "tg32"]`). */
  readonly tests?: readonly string[];
  /** Measured repetitions (default 5). */
  readonly reps?: number;
  /** Warmup repetitions (default 1). */
  readonly warmup?: number;
  /** Token-id seed (default 1). */
  readonly seed?: number;
  /** Progress events, including `load` events for each engine. */
  readonly onEvent?: (event: BenchEvent | BenchLoadEvent) => void;
  /**
   * The reference (`--reference`: `llama.cpp`, `ik_llama` or a path; default by architecture, as parity chooses,
   * parity/reference_plan.ts). A model the reference cannot compute is guarded and transcoded the same way.
   */
  readonly reference?: string;
  /** ik_llama.cpp's input (default `f32`; `iq2_bn` is its fast path, rows of at least 512). */
  readonly ikFormat?: IkInputFormat;
  /** Progress of a reference build. */
  readonly onBuildEvent?: (e: ReferenceBuildEvent) => void;
}

/** Emitted by {@link benchModelFile} when an engine finished loading. */
export interface BenchLoadEvent {
  /** Event type. */
  readonly type: "load";
  /** Which engine. */
  readonly side: "engine" | "reference";
  /** Milliseconds to load. */
  readonly ms: number;
}

/** Default tests: a short prompt and a short generation, small enough for CI on two cores. */
export const DEFAULT_BENCH_TESTS: readonly string[] = ["pp64", "tg32"];

/**
 * The receipt's model block: file facts (hash, size, weight and embedding types from the GGUF) and llama.cpp's view
 * of the model (description, parameter count, sizes).
 *
 * @param path GGUF path.
 * @param cpp The model loaded by llama.cpp (in its child process, or in this one).
 * @param opts `lockName`; `sha256` when already verified (skips hashing).
 * @returns The model block.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {SyntaxError} When the file is not GGUF.
 * @example
 * ```ts
 * import { benchModelInfo } from "./bench_model.ts";
 * import { ReferenceProcess } from "../ffi/mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * await using ref = await ReferenceProcess.spawn();
 * await using cpp = await ref.load(path);
 * console.log((await benchModelInfo(path, cpp)).n_params > 0); // true
 * ```
 */
export async function benchModelInfo(
  path: string,
  cpp: { info(): Pick<RefModelInfo, "arch" | "description" | "nParams" | "nVocab" | "nEmbd" | "nLayer"> },
  opts: { readonly lockName?: string | null; readonly sha256?: string | null } = {},
): Promise<BenchModelInfo> {
  const sha256 = opts.sha256 ?? await sha256File(path);
  const size_bytes = (await Deno.stat(path)).size;
  using f = GgufFile.open(path);
  const types = weightTypeNames(f.tensors);
  const info = cpp.info();
  return {
    path,
    lock_name: opts.lockName ?? null,
    sha256,
    size_bytes,
    arch: info.arch,
    description: info.description,
    n_params: info.nParams,
    n_vocab: info.nVocab,
    n_embd: info.nEmbd,
    n_layer: info.nLayer,
    weight_type: types.projections.join("+") || "none",
    embedding_type: types.embedding ?? "none",
  };
}

/** Bytes of one cache row element of a KV type (ggml type sizes; f32 for anything unknown). */
const KV_BYTES: Readonly<Record<string, number>> = { f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32 };

/**
 * What one decoded token reads: every matrix of the file each side runs once (the token embedding only when it is
 * also the output matrix: otherwise one row is looked up; a reference fed a transcode reads the transcode), and per
 * cache position K and V of every layer (`2 * n_layer * Kv` values) in each side's cache type: our engine's f32,
 * llama.cpp's `type_k`.
 */
function decodeTraffic(
  path: string,
  referencePath: string,
  referenceTypeK: string,
): {
  weightBytes: { engine: number; reference: number };
  kvBytesPerPosition: { engine: number; reference: number };
} {
  const matrices = (p: string) => {
    using f = GgufFile.open(p);
    const tied = !f.tensor("output.weight");
    let bytes = 0;
    for (const t of f.tensors) if (t.name !== "token_embd.weight" || tied) bytes += t.byteLength;
    return { bytes, cfg: configFromGguf(f) };
  };
  const engine = matrices(path);
  const reference = referencePath === path ? engine : matrices(referencePath);
  const values = 2 * engine.cfg.nLayer * engine.cfg.nHeadKv * engine.cfg.headDim;
  return {
    weightBytes: { engine: engine.bytes, reference: reference.bytes },
    kvBytesPerPosition: { engine: 4 * values, reference: (KV_BYTES[referenceTypeK] ?? 4) * values },
  };
}

/**
 * Benchmark one model file on both engines and return the receipt.
 *
 * @param path GGUF path.
 * @param opts Name, hash, backend, threads, tests, repetitions, progress.
 * @returns The bench receipt.
 * @throws {RangeError} For invalid tests or options.
 * @throws {LibraryLoadError} When llama.cpp cannot be loaded.
 * @throws Whatever `Engine.load` or `CppModel.load` throw for an unreadable or unsupported model.
 * @example
 * ```ts
 * import { benchModelFile } from "./bench_model.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await benchModelFile(path, { threads: 1, tests: ["pp16", "tg4"], reps: 2, warmup: 0 });
 * console.log(receipt.tokens_per_second, receipt.results[0].ratio?.median);
 * ```
 */
export async function benchModelFile(path: string, opts: BenchModelOptions = {}): Promise<BenchReceipt> {
  const tests = (opts.tests ?? DEFAULT_BENCH_TESTS).map(parseTestName);
  const nCtx = Math.max(...tests.map(testContext));
  // The receipt compares equal threads; the webgpu backend runs none on the host (threads = 1), so llama.cpp runs on
  // one thread against it and the GPU's advantage shows in the ratio (bench/webgpu_bench.ts measures it alone).
  const backend = opts.backend ?? "wasm";
  // Both sides run the engine's default thread count unless told otherwise (the one place it is decided).
  const threads = backend === "webgpu" ? opts.threads ?? 1 : resolveThreads(backend, opts.threads);
  if (backend === "webgpu" && threads !== 1) {
    throw new RangeError(
      `Cannot benchmark the webgpu backend against llama.cpp on ${threads} threads: receipts compare equal threads ` +
        `and the webgpu backend has one host thread. Pass --threads 1, or use bench/webgpu_bench.ts for the GPU alone.`,
    );
  }
  const emit = opts.onEvent ?? (() => {});
  let t = performance.now();
  // The reference runs in its supervised child process: an abort there is a ReferenceCrashedError, not our death.
  // It is chosen, built, guarded and fed a transcode exactly as for parity.
  const header = (() => {
    using f = GgufFile.open(path);
    return {
      arch: f.architecture,
      tensors: f.tensors.map((x) => ({ name: x.name, type: x.type, shape: [...x.shape] })),
    };
  })();
  const sha256 = opts.sha256 ?? await sha256File(path);
  const selection = selectReference(opts.reference, header.arch);
  const prepared = await prepareReference(selection, { path, sha256, ...header }, {
    ...(opts.ikFormat ? { ikFormat: opts.ikFormat } : {}),
    ...(opts.onBuildEvent ? { onBuildEvent: opts.onBuildEvent } : {}),
  });
  await using ref = prepared.process;
  await using cpp = await ref.load(prepared.modelPath, { threads, ctx: nCtx, batch: Math.min(512, nCtx) });
  emit({ type: "load", side: "reference", ms: performance.now() - t });
  t = performance.now();
  using engine = await Engine.load(path, { backend, threads, nCtx, numerics: opts.numerics ?? "fast" });
  emit({ type: "load", side: "engine", ms: performance.now() - t });
  const model = await benchModelInfo(path, cpp, { lockName: opts.lockName ?? null, sha256 });
  // Receipt names become file names (bench_<name>.json): keep them to [A-Za-z0-9._-], at most 100 characters.
  const stem = path.slice(path.lastIndexOf("/") + 1).replace(/\.gguf$/i, "");
  const name = opts.name ?? (stem.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "").slice(0, 100) || "model");
  const reference = refBenchSubject(cpp, prepared.library);
  return await runBench(engineBenchSubject(engine), reference, {
    name,
    reference: {
      library: prepared.library,
      selection: selection.json,
      build_flags: prepared.buildFlags,
      input: prepared.input,
    },
    model,
    tests: tests.map((x) => x.name),
    roofline: opts.roofline ?? null,
    traffic: decodeTraffic(path, prepared.modelPath, reference.describe().typeK),
    ...(opts.reps !== undefined ? { reps: opts.reps } : {}),
    ...(opts.warmup !== undefined ? { warmup: opts.warmup } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    onEvent: emit,
  });
}
