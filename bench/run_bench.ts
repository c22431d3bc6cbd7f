/**
 * {@link runBench}: measure our engine and llama.cpp on the same model, same threads, same token ids, with their
 * repetitions interleaved (engine, llama.cpp, engine, llama.cpp, ...: "ABAB"), and return a bench receipt.
 *
 * Interleaving is what makes the two columns comparable on a shared machine: a burst of load from another process
 * lands on one engine's repetition and the other's next to it, instead of on a whole block of one engine's runs
 * (the "duet" design; Laaber et al. 2019 run test and control on the same instance for the same reason). The
 * per-pair ratio engine/llama.cpp is recorded with a bootstrap interval of its median.
 *
 * @module
 */

import { bootstrapMedianCi, summarize } from "../receipts/stats.ts";
import {
  type BenchTest,
  depthTokens,
  parseTestName,
  type Repetition,
  repetitionTokens,
  testContext,
  timeRepetition,
} from "./measure.ts";
import type { BenchSubject, SubjectInfo } from "./subject.ts";
import {
  BENCH_SCHEMA_VERSION,
  type BenchBandwidth,
  type BenchModelInfo,
  type BenchReceipt,
  type BenchRecord,
  type BenchResult,
  type PairedRatio,
} from "../receipts/bench_receipt.ts";
import { machineInfo, toolInfo } from "../receipts/provenance.ts";

/** Which engine an event or record concerns. */
export type BenchSide = "engine" | "reference";

/** Progress of {@link runBench}. */
export type BenchEvent =
  | { readonly type: "test_start"; readonly test: string; readonly reps: number; readonly warmup: number }
  | {
    readonly type: "repetition";
    readonly test: string;
    readonly side: BenchSide;
    /** Measured repetition index, or -1, -2, ... for warmup. */
    readonly rep: number;
    readonly ns: number;
    readonly ts: number;
  }
  | {
    readonly type: "test_done";
    readonly test: string;
    readonly engine_median_ts: number | null;
    readonly reference_median_ts: number | null;
  }
  | { readonly type: "error"; readonly side: BenchSide; readonly test: string; readonly message: string };

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  /** Receipt name (`ci/bench_<name>.json`): the lockfile model name or the file's stem. */
  readonly name: string;
  /** Facts about the model file (sha256 included). */
  readonly model: BenchModelInfo;
  /** llama-bench test names, e.g. `["pp64", "tg32"]`. */
  readonly tests: readonly string[];
  /** Measured repetitions per test and engine (default 5, llama-bench's `-r`). */
  readonly reps?: number;
  /** Unmeasured repetitions before them (default 1). */
  readonly warmup?: number;
  /** Seed of the token ids (default 1). */
  readonly seed?: number;
  /** Confidence level of the ratio intervals (default 0.95). */
  readonly confidence?: number;
  /** The read bandwidth measured for this run (bench/bandwidth.ts), recorded as the receipt's `roofline`. */
  readonly roofline?: BenchBandwidth | null;
  /**
   * What a generated token reads on each side, for `bytes_per_token`: the matrices of the file it runs
   * (`weightBytes`: a reference fed a transcode reads the transcode) and the KV cache bytes of one position (their
   * cache types differ: our f32 cache, llama.cpp's F16 by default).
   */
  readonly traffic?: {
    readonly weightBytes: { readonly engine: number; readonly reference: number };
    readonly kvBytesPerPosition: { readonly engine: number; readonly reference: number };
  };
  /** Progress events. */
  readonly onEvent?: (event: BenchEvent) => void;
  /** Which reference this is and the file it ran (default: the pinned llama.cpp on the model itself). */
  readonly reference?: Pick<BenchReceipt["reference"], "library" | "selection" | "build_flags" | "input">;
}

/** A llama-bench record from the repetitions of one side. */
function toRecord(
  info: SubjectInfo,
  build: string,
  cpu: string,
  model: BenchModelInfo,
  test: BenchTest,
  testTime: string,
  reps: readonly Repetition[],
): BenchRecord {
  const samples_ns = reps.map((r) => r.ns);
  const samples_ts = reps.map((r) => r.ts);
  const ns = summarize(samples_ns), ts = summarize(samples_ts);
  const samples_latency_ms = reps.map((r) => r.latencyMs);
  return {
    build_commit: build,
    cpu_info: cpu,
    gpu_info: info.gpuInfo,
    backends: info.backend,
    model_filename: model.path.slice(model.path.lastIndexOf("/") + 1),
    model_type: model.description,
    model_size: model.size_bytes,
    model_n_params: model.n_params,
    n_batch: info.nBatch,
    n_ubatch: info.nUbatch,
    n_threads: info.threads,
    cpu_mask: "0x0",
    cpu_strict: false,
    poll: info.poll,
    type_k: info.typeK,
    type_v: info.typeV,
    n_gpu_layers: 0,
    n_cpu_moe: 0,
    split_mode: info.splitMode,
    main_gpu: 0,
    no_kv_offload: false,
    flash_attn: info.flashAttn,
    devices: info.devices,
    tensor_split: "0.00",
    tensor_buft_overrides: "none",
    load_mode: info.loadMode,
    lazy_mode: info.lazyMode,
    embeddings: false,
    no_op_offload: 0,
    no_host: false,
    fit_target: 0,
    fit_min_ctx: 0,
    n_prompt: test.nPrompt,
    n_gen: test.nGen,
    n_depth: test.nDepth,
    test_time: testTime,
    avg_ns: Math.round(ns.mean),
    stddev_ns: Math.round(ns.stddev),
    avg_ts: ts.mean,
    stddev_ts: ts.stddev,
    samples_ns,
    samples_ts,
    stats_ts: ts,
    samples_latency_ms,
    latency_ms: summarize(samples_latency_ms),
  };
}

function pairedRatio(e: readonly number[], r: readonly number[], confidence: number, seed: number): PairedRatio {
  const samples = e.map((x, i) => x / r[i]);
  const ci = bootstrapMedianCi(samples, { confidence, seed });
  return { samples, median: ci.estimate, low: ci.low, high: ci.high, confidence };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Benchmark our engine against llama.cpp.
 *
 * @param engine Our engine, adapted (see `engineBenchSubject`).
 * @param reference llama.cpp, adapted (see `cppBenchSubject`).
 * @param opts Name, model facts, tests, repetitions, seed, progress.
 * @returns The receipt. A side that throws stops being measured; its error is recorded and its records are null
 *   (such a receipt never verifies).
 * @throws {RangeError} For an invalid test name, repetition count, or tests that do not fit either context, or
 *   two sides with different vocabularies or thread counts (they would not be comparable).
 * @example
 * ```ts
 * import { runBench } from "./run_bench.ts";
 * import { benchModelInfo } from "./bench_model.ts";
 * import { cppBenchSubject, engineBenchSubject } from "./subject.ts";
 * import { Engine } from "../engine/engine.ts";
 * import { CppModel } from "../ffi/mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * using engine = await Engine.load(path, { threads: 1, nCtx: 64 });
 * using cpp = await CppModel.load(path, { threads: 1, ctx: 64 });
 * const model = await benchModelInfo(path, cpp);
 * const opts = { name: "tiny", model, tests: ["pp16", "tg4"], reps: 2, warmup: 0 };
 * const receipt = await runBench(engineBenchSubject(engine), cppBenchSubject(cpp), opts);
 * console.log(receipt.results.map((r) => [r.test, r.ratio?.median]));
 * ```
 */
export async function runBench(
  engine: BenchSubject,
  reference: BenchSubject,
  opts: RunBenchOptions,
): Promise<BenchReceipt> {
  const tests = opts.tests.map(parseTestName);
  if (tests.length === 0) throw new RangeError('Cannot benchmark: no tests given. Pass e.g. tests: ["pp64", "tg32"]');
  const reps = opts.reps ?? 5, warmup = opts.warmup ?? 1, seed = opts.seed ?? 1, confidence = opts.confidence ?? 0.95;
  if (!Number.isInteger(reps) || reps < 1) {
    throw new RangeError(`Cannot benchmark with reps=${reps}: pass an integer >= 1`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new RangeError(`Cannot benchmark with warmup=${warmup}: pass an integer >= 0`);
  }
  if (engine.nVocab !== reference.nVocab) {
    throw new RangeError(
      `Cannot benchmark: the engine has ${engine.nVocab} tokens and llama.cpp ${reference.nVocab}; load the same model on both`,
    );
  }
  const eInfo = engine.describe(), rInfo = reference.describe();
  if (eInfo.threads !== rInfo.threads) {
    throw new RangeError(
      `Cannot benchmark: the engine runs ${eInfo.threads} threads and llama.cpp ${rInfo.threads}; load both with the same threads`,
    );
  }
  const nCtx = Math.min(engine.nCtx, reference.nCtx);
  for (const t of tests) {
    if (testContext(t) > nCtx) {
      throw new RangeError(
        `Cannot run ${t.name}: ${testContext(t)} tokens (depth included) do not fit the context of ${nCtx}. ` +
          `Load both with a larger context.`,
      );
    }
  }
  const [tool, machine] = [await toolInfo(), machineInfo()];
  const emit = opts.onEvent ?? (() => {});
  const bos = reference.bos;
  const started = new Date();
  const t0 = performance.now();
  const sides: Record<BenchSide, { subject: BenchSubject; error: string | null }> = {
    engine: { subject: engine, error: null },
    reference: { subject: reference, error: null },
  };
  const results: BenchResult[] = [];

  for (const test of tests) {
    emit({ type: "test_start", test: test.name, reps, warmup });
    const measured: Record<BenchSide, Repetition[]> = { engine: [], reference: [] };
    let testTime = "";
    // At a depth the cache starts with the depth's tokens (BOS first); the timed tokens continue them.
    const depthIds = test.nDepth > 0 ? depthTokens(test.nDepth, { seed, nVocab: engine.nVocab, bos }) : undefined;
    for (let rep = -warmup; rep < reps; rep++) {
      if (rep === 0) testTime = new Date().toISOString();
      const ids = repetitionTokens(test, rep, { seed, nVocab: engine.nVocab, bos: depthIds ? null : bos });
      for (const side of ["engine", "reference"] as const) {
        const s = sides[side];
        if (s.error !== null) continue;
        try {
          const r = await timeRepetition(s.subject, test, ids, depthIds);
          if (rep >= 0) measured[side].push(r);
          emit({ type: "repetition", test: test.name, side, rep, ns: r.ns, ts: r.ts });
        } catch (e) {
          s.error = `${test.name} repetition ${rep}: ${errorMessage(e)}`;
          emit({ type: "error", side, test: test.name, message: s.error });
        }
      }
    }
    const complete = (side: BenchSide) => sides[side].error === null && measured[side].length === reps;
    const eRec = complete("engine")
      ? toRecord(eInfo, tool.commit, machine.cpu, opts.model, test, testTime, measured.engine)
      : null;
    const rRec = complete("reference")
      ? toRecord(
        rInfo,
        reference.library?.commit ?? "unknown",
        machine.cpu,
        opts.model,
        test,
        testTime,
        measured.reference,
      )
      : null;
    const traffic = opts.traffic;
    // A token at position p attends over p + 1 cache rows: the mean over the test's tokens.
    const rows = test.nDepth + (test.nGen + 1) / 2;
    results.push({
      test: test.name,
      n_prompt: test.nPrompt,
      n_gen: test.nGen,
      n_depth: test.nDepth,
      bytes_per_token: traffic && test.nGen > 0
        ? {
          engine: traffic.weightBytes.engine + rows * traffic.kvBytesPerPosition.engine,
          reference: traffic.weightBytes.reference + rows * traffic.kvBytesPerPosition.reference,
        }
        : null,
      engine: eRec,
      reference: rRec,
      ratio: eRec && rRec ? pairedRatio(eRec.samples_ts, rRec.samples_ts, confidence, seed) : null,
    });
    emit({
      type: "test_done",
      test: test.name,
      engine_median_ts: eRec?.stats_ts.median ?? null,
      reference_median_ts: rRec?.stats_ts.median ?? null,
    });
  }

  const wallMs = performance.now() - t0;
  const finished = new Date(started.getTime() + wallMs);
  const headline = results.find((r) => r.n_gen > 0) ?? results[0];
  const kernels = engine.kernels();
  const lib = reference.library;
  return {
    kind: "bench",
    schema_version: BENCH_SCHEMA_VERSION,
    timestamp: new Date().toISOString(),
    name: opts.name,
    compute_path: "real",
    backend: eInfo.backend,
    ...(eInfo.numerics ? { numerics: eInfo.numerics } : {}),
    model_sha256: opts.model.sha256,
    commit: tool.commit,
    tokens_per_second: headline.engine?.stats_ts.median ?? null,
    latency_ms: headline.engine?.latency_ms.median ?? null,
    headline_test: headline.test,
    kernels,
    tool,
    machine,
    model: opts.model,
    settings: {
      threads: eInfo.threads,
      reps,
      warmup,
      seed,
      order: "ABAB",
      tests: tests.map((t) => t.name),
      n_ctx: nCtx,
      confidence,
    },
    run: { started_at: started.toISOString(), finished_at: finished.toISOString(), wall_ms: wallMs },
    engine: {
      ran: sides.engine.error === null,
      backend: eInfo.backend,
      threads: eInfo.threads,
      kernels,
      ...(eInfo.numerics ? { numerics: eInfo.numerics } : {}),
      faults: eInfo.faults,
      error: sides.engine.error,
    },
    reference: {
      ran: sides.reference.error === null,
      library: opts.reference?.library ?? "llama.cpp",
      ...(opts.reference?.selection ? { selection: opts.reference.selection } : {}),
      ...(opts.reference
        ? { build_flags: opts.reference.build_flags ?? null, input: opts.reference.input ?? null }
        : {}),
      release: lib?.release ?? null,
      version: lib?.version ?? null,
      commit: lib?.commit ?? null,
      ggml_commit: lib?.ggmlCommit ?? null,
      backend: rInfo.backendDetail,
      threads: rInfo.threads,
      kernels: reference.kernels(),
      error: sides.reference.error,
    },
    results,
    roofline: opts.roofline ?? null,
  };
}
