/**
 * Benchmarks: our engine against llama.cpp, measured interleaved on the same model and threads (`runBench`,
 * `benchModelFile`) and the engine-agnostic measurement loop (`timeRepetition`). The statistics and the seeded
 * generator live in `receipts/` (stats.ts, prng.ts), below this folder.
 *
 * @example
 * ```ts
 * import { benchModelFile } from "./mod.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await benchModelFile(path, { threads: 1, tests: ["pp16", "tg4"], reps: 2, warmup: 0 });
 * console.log(receipt.tokens_per_second, receipt.results.map((r) => r.ratio?.median));
 * ```
 *
 * @module
 */
export {
  type BenchLoadEvent,
  benchModelFile,
  benchModelInfo,
  type BenchModelOptions,
  DEFAULT_BENCH_TESTS,
} from "./bench_model.ts";
export {
  type BenchTest,
  parseTestName,
  type Repetition,
  repetitionTokens,
  testTokenCount,
  timeRepetition,
} from "./measure.ts";
export { type BenchEvent, type BenchSide, runBench, type RunBenchOptions } from "./run_bench.ts";
export {
  type BenchSubject,
  cppBenchSubject,
  engineBenchSubject,
  type SubjectInfo,
  type SubjectLibrary,
} from "./subject.ts";
