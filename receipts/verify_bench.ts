/**
 * Verification of bench receipts: the schema, then the rules that make a receipt honest evidence of a measurement.
 * Every statistic is recomputed from the per-repetition samples it summarizes, so a hand-set tokens/s, mean or
 * standard deviation that does not follow from the samples is caught; the samples themselves must agree with each
 * other (tokens/s = tokens / time), fit in the run's wall-clock time, and stay below a physical bound for the model
 * and machine; the kernel list must look like real compute; both engines must have run, on the same threads.
 *
 * ## The physical bound (why a rate is "impossible")
 * A forward pass multiplies every weight of every layer with the activations of each token: at least one
 * arithmetic operation per non-embedding weight and token (a multiply-accumulate is two; we count one), the
 * embedding rows being looked up rather than multiplied. No CPU core retires more than
 * {@link MAX_OPS_PER_CYCLE} int8 operations per cycle (Intel AMX's TMUL peaks at 1,024 int8 multiply-accumulates,
 * 2,048 operations, per cycle and core; we allow twice that) at more than {@link MAX_CLOCK_HZ}. So
 * `tokens/s <= cores * MAX_CLOCK_HZ * MAX_OPS_PER_CYCLE / (n_params - n_vocab * n_embd)`.
 * A model too large for any cache ({@link MAX_CACHE_BYTES}) must also stream its uncached weight bytes from memory
 * for every generated token, which no CPU does faster than {@link MAX_MEMORY_BANDWIDTH}. Both bounds are
 * deliberately generous (orders of magnitude above what llama.cpp reaches): they catch invented numbers, not slow
 * ones.
 *
 * @module
 */

import schema from "./bench.schema.json" with { type: "json" };
import type { BenchModelInfo, BenchReceipt, BenchRecord, StatsJson } from "./bench_receipt.ts";
import type { MachineInfo } from "./provenance.ts";
import type { ReceiptProblem } from "./problem.ts";
import { compileSchemaCheck, type SchemaCheck } from "./schema_check.ts";
import { checkKernelIds, FAKE_KERNEL } from "./kernel_ids.ts";
import { mean, median, sampleStddev, summarize } from "./stats.ts";

/** Highest clock any CPU core runs at, Hz (shipping desktop parts boost to about 6.2 GHz). */
export const MAX_CLOCK_HZ = 6.5e9;
/** int8 operations per cycle and core: twice Intel AMX-INT8's 2,048. */
export const MAX_OPS_PER_CYCLE = 4096;
/** Largest cache that could hold a model's weights between tokens (last-level caches reach about 1.1 GiB). */
export const MAX_CACHE_BYTES: number = 4 * 2 ** 30;
/** Highest memory bandwidth of a CPU, bytes/s (12-channel DDR5 is about 0.6 TB/s; HBM Xeon Max about 1 TB/s). */
export const MAX_MEMORY_BANDWIDTH = 2e12;

let schemaCheck: SchemaCheck | undefined;

/**
 * The highest tokens/s that can be physically true for a test on a model and machine (see the module notes).
 *
 * @param model The receipt's model block (`n_params`, `n_vocab`, `n_embd`, `size_bytes`).
 * @param on `cores` of the machine, and `nGen`, the generated tokens of the test (the memory bound applies to
 *   generation only; 0 for prompt processing).
 * @returns The bound in tokens per second.
 * @example
 * ```ts
 * import { maxPlausibleTokensPerSecond } from "./verify_bench.ts";
 * const model = { n_params: 2_400_000_000, n_vocab: 128256, n_embd: 2560, size_bytes: 1.2e9 };
 * console.log(Math.round(maxPlausibleTokensPerSecond(model, { cores: 2, nGen: 0 }))); // about 25,000 on two cores
 * ```
 */
export function maxPlausibleTokensPerSecond(
  model: Pick<BenchModelInfo, "n_params" | "n_vocab" | "n_embd" | "size_bytes">,
  on: Pick<MachineInfo, "cores"> & { readonly nGen: number },
): number {
  const opsPerToken = Math.max(1, model.n_params - model.n_vocab * model.n_embd);
  const compute = (on.cores * MAX_CLOCK_HZ * MAX_OPS_PER_CYCLE) / opsPerToken;
  const uncached = model.size_bytes - MAX_CACHE_BYTES;
  return on.nGen > 0 && uncached > 0 ? Math.min(compute, MAX_MEMORY_BANDWIDTH / uncached) : compute;
}

/** a ≈ b: equal up to float rounding, or to a value printed with 2 decimals. */
function near(a: number, b: number, abs = 0.006): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)) + abs;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(2) : x.toPrecision(6));

/**
 * Verify a bench receipt.
 *
 * @param receipt The parsed JSON.
 * @returns Every problem found; empty when the receipt is valid evidence of a measurement.
 * @example
 * ```ts
 * import { verifyBenchReceipt } from "./verify_bench.ts";
 * console.log(verifyBenchReceipt({ kind: "bench" }).length > 0); // true: not even the schema holds
 * ```
 */
export function verifyBenchReceipt(receipt: Readonly<Record<string, unknown>>): ReceiptProblem[] {
  schemaCheck ??= compileSchemaCheck(schema as Record<string, unknown>);
  const schemaProblems = schemaCheck(receipt);
  if (schemaProblems.length) return schemaProblems;
  const r = receipt as unknown as BenchReceipt;
  const problems: ReceiptProblem[] = [];
  const add = (path: string, code: string, message: string) => problems.push({ path, code, message });

  // Honest compute: what ran, and that it was real.
  if (r.compute_path !== "real") {
    add("/compute_path", "compute_path", `compute_path is "${r.compute_path}": only a real measurement is evidence`);
  }
  if (r.engine.backend !== r.backend) {
    add(
      "/engine/backend",
      "backend_mismatch",
      `engine.backend "${r.engine.backend}" differs from backend "${r.backend}"`,
    );
  }
  problems.push(...checkKernelIds(r.engine.kernels, r.backend));
  if ((r.numerics ?? null) !== (r.engine.numerics ?? null)) {
    add(
      "/engine/numerics",
      "numerics_mismatch",
      `engine.numerics "${r.engine.numerics}" differs from numerics "${r.numerics}" (they are the same kernel set)`,
    );
  }
  if (JSON.stringify(r.kernels) !== JSON.stringify(r.engine.kernels)) {
    add("/kernels", "kernels_mismatch", "the top-level kernels differ from engine.kernels (they are the same list)");
  }
  if (r.reference.kernels.length === 0 || r.reference.kernels.some((k) => FAKE_KERNEL.test(k) || !/^\S+$/.test(k))) {
    add(
      "/reference/kernels",
      "reference_kernels",
      `reference kernels ${JSON.stringify(r.reference.kernels)} do not name what computed`,
    );
  }
  if (Object.keys(r.engine.faults).length) {
    add(
      "/engine/faults",
      "engine_faults",
      `test-only modifications were in effect (${JSON.stringify(r.engine.faults)}): not a real engine run`,
    );
  }
  if (!r.engine.ran || r.engine.error !== null) {
    add("/engine/ran", "engine_not_run", `our engine did not complete the run: ${r.engine.error ?? "ran is false"}`);
  }
  if (!r.reference.ran || r.reference.error !== null) {
    add(
      "/reference/ran",
      "reference_not_run",
      `llama.cpp did not complete the run (nothing to compare against): ${r.reference.error ?? "ran is false"}`,
    );
  }
  if (r.model.sha256 !== r.model_sha256) {
    add(
      "/model/sha256",
      "model_sha256_mismatch",
      `model.sha256 ${r.model.sha256} differs from model_sha256 ${r.model_sha256}`,
    );
  }
  if (r.commit !== r.tool.commit) {
    add("/commit", "commit_mismatch", `commit "${r.commit}" differs from tool.commit "${r.tool.commit}"`);
  }

  // Settings: the same threads everywhere, the tests that were asked for.
  const threads = r.settings.threads;
  if (r.engine.threads !== threads || r.reference.threads !== threads) {
    add(
      "/settings/threads",
      "threads_mismatch",
      `threads differ: settings ${threads}, engine ${r.engine.threads}, llama.cpp ${r.reference.threads}`,
    );
  }
  const tests = r.results.map((x) => x.test);
  if (JSON.stringify(tests) !== JSON.stringify(r.settings.tests)) {
    add(
      "/results",
      "tests_mismatch",
      `results are for ${tests.join(", ")} but settings.tests lists ${r.settings.tests.join(", ")}`,
    );
  }

  // Per test and side: the statistics follow from the samples, the samples from each other, all plausible.
  const started = Date.parse(r.run.started_at), finished = Date.parse(r.run.finished_at);
  let totalNs = 0;
  r.results.forEach((res, i) => {
    const base = `/results/${i}`;
    const m = /^(pp|tg)(\d+)(?:@d(\d+))?$/.exec(res.test)!;
    const want = {
      n_prompt: m[1] === "pp" ? Number(m[2]) : 0,
      n_gen: m[1] === "tg" ? Number(m[2]) : 0,
      n_depth: m[3] ? Number(m[3]) : 0,
    };
    if (res.n_prompt !== want.n_prompt || res.n_gen !== want.n_gen || (res.n_depth ?? 0) !== want.n_depth) {
      add(
        base,
        "test_mismatch",
        `${res.test} must have n_prompt ${want.n_prompt}, n_gen ${want.n_gen} and n_depth ${want.n_depth}, not ` +
          `${res.n_prompt}/${res.n_gen}/${res.n_depth ?? 0}`,
      );
    }
    const bpt = res.bytes_per_token;
    if (bpt && want.n_gen === 0) {
      add(`${base}/bytes_per_token`, "bytes_per_token", `${res.test} is a prompt test: bytes_per_token must be null`);
    }
    if (bpt && res.engine && Math.max(...res.engine.samples_ts) * bpt.engine > MAX_MEMORY_BANDWIDTH) {
      add(
        `${base}/bytes_per_token`,
        "implausible_rate",
        `${res.test}: ${fmt(Math.max(...res.engine.samples_ts))} t/s x ${fmt(bpt.engine)} bytes per token exceeds ` +
          `any CPU's memory bandwidth (${MAX_MEMORY_BANDWIDTH / 1e9} GB/s)`,
      );
    }
    for (const side of ["engine", "reference"] as const) {
      const rec = res[side];
      if (rec === null) {
        add(
          `${base}/${side}`,
          `${side}_record_missing`,
          `${res.test} has no ${side === "engine" ? "engine" : "llama.cpp"} measurement`,
        );
        continue;
      }
      totalNs += rec.samples_ns.reduce((a, b) => a + b, 0);
      checkRecord(rec, `${base}/${side}`, res.test, want, r, add);
      const t = Date.parse(rec.test_time);
      if (t < started - 1 || t > finished + 1) {
        add(
          `${base}/${side}/test_time`,
          "test_time",
          `test_time ${rec.test_time} is outside the run (${r.run.started_at} .. ${r.run.finished_at})`,
        );
      }
    }
    checkRatio(res.engine, res.reference, res.ratio, base, add);
  });

  // The samples must fit in the run: their sum cannot exceed the wall-clock time between start and finish.
  if (!(finished >= started) || Math.abs(finished - started - r.run.wall_ms) > 1000) {
    add(
      "/run",
      "run_time",
      `run.wall_ms ${fmt(r.run.wall_ms)} does not match started_at..finished_at (${finished - started} ms)`,
    );
  }
  if (totalNs > r.run.wall_ms * 1e6 * 1.001 + 1e6) {
    add(
      "/run/wall_ms",
      "implausible_time",
      `the repetitions add up to ${fmt(totalNs / 1e6)} ms, more than the run's ${fmt(r.run.wall_ms)} ms`,
    );
  }

  // The headline is the engine's median of the first generation test (else the first test).
  const headline = r.results.find((x) => x.n_gen > 0) ?? r.results[0];
  if (r.headline_test !== headline.test) {
    add("/headline_test", "headline_inconsistent", `headline_test is ${r.headline_test}; it must be ${headline.test}`);
  }
  const hs = headline.engine;
  if (hs && (r.tokens_per_second === null || !near(r.tokens_per_second, hs.stats_ts.median))) {
    add(
      "/tokens_per_second",
      "headline_inconsistent",
      `tokens_per_second ${r.tokens_per_second} is not the engine's median ${
        fmt(hs.stats_ts.median)
      } t/s in ${headline.test}`,
    );
  }
  if (hs && (r.latency_ms === null || !near(r.latency_ms, hs.latency_ms.median, 1e-6))) {
    add(
      "/latency_ms",
      "headline_inconsistent",
      `latency_ms ${r.latency_ms} is not the engine's median ${fmt(hs.latency_ms.median)} ms in ${headline.test}`,
    );
  }
  if (!hs && (r.tokens_per_second !== null || r.latency_ms !== null)) {
    add(
      "/tokens_per_second",
      "headline_inconsistent",
      `tokens_per_second/latency_ms are set but the engine has no ${headline.test} measurement`,
    );
  }
  return problems;
}

function checkStats(
  s: StatsJson,
  x: readonly number[],
  path: string,
  add: (p: string, c: string, m: string) => void,
  abs: number,
): void {
  const want = summarize(x);
  for (const k of Object.keys(want) as (keyof StatsJson)[]) {
    if (!near(s[k], want[k], abs)) {
      add(`${path}/${k}`, "stats_inconsistent", `${k} is ${fmt(s[k])} but the samples give ${fmt(want[k])}`);
    }
  }
}

function checkRecord(
  rec: BenchRecord,
  path: string,
  test: string,
  want: { n_prompt: number; n_gen: number; n_depth: number },
  r: BenchReceipt,
  add: (p: string, c: string, m: string) => void,
): void {
  if (rec.n_prompt !== want.n_prompt || rec.n_gen !== want.n_gen || rec.n_depth !== want.n_depth) {
    add(
      path,
      "test_mismatch",
      `${test} must have n_prompt ${want.n_prompt}, n_gen ${want.n_gen} and n_depth ${want.n_depth}, not ` +
        `${rec.n_prompt}/${rec.n_gen}/${rec.n_depth}`,
    );
  }
  const reps = r.settings.reps;
  const n = rec.samples_ns.length;
  if (n !== reps || rec.samples_ts.length !== n || rec.samples_latency_ms.length !== n) {
    add(
      path,
      "sample_count",
      `${test}: ${n} samples_ns, ${rec.samples_ts.length} samples_ts, ${rec.samples_latency_ms.length} latencies; settings.reps is ${reps}`,
    );
    return;
  }
  if (rec.n_threads !== r.settings.threads) {
    add(
      `${path}/n_threads`,
      "threads_mismatch",
      `n_threads ${rec.n_threads} differs from settings.threads ${r.settings.threads}`,
    );
  }
  if (rec.model_n_params !== r.model.n_params || rec.model_size !== r.model.size_bytes) {
    add(
      path,
      "record_model_mismatch",
      `model_n_params/model_size (${rec.model_n_params}/${rec.model_size}) differ from the model block`,
    );
  }
  const tokens = want.n_prompt + want.n_gen;
  rec.samples_ns.forEach((ns, i) => {
    if (!(ns > 0)) {
      add(`${path}/samples_ns/${i}`, "samples_ns", `repetition ${i} took ${ns} ns: times must be positive`);
      return;
    }
    const ts = (1e9 * tokens) / ns;
    if (!near(rec.samples_ts[i], ts)) {
      add(
        `${path}/samples_ts/${i}`,
        "samples_ts_inconsistent",
        `repetition ${i}: ${fmt(rec.samples_ts[i])} t/s, but ${tokens} tokens in ${ns} ns is ${fmt(ts)} t/s`,
      );
    }
    const lat = ns / 1e6 / (want.n_gen > 0 ? want.n_gen : 1);
    if (!near(rec.samples_latency_ms[i], lat, 1e-6)) {
      add(
        `${path}/samples_latency_ms/${i}`,
        "latency_inconsistent",
        `repetition ${i}: latency ${fmt(rec.samples_latency_ms[i])} ms, but the time gives ${fmt(lat)} ms`,
      );
    }
  });
  const ts = rec.samples_ts;
  if (!near(rec.avg_ts, mean(ts))) {
    add(
      `${path}/avg_ts`,
      "avg_ts_inconsistent",
      `avg_ts is ${fmt(rec.avg_ts)} but the mean of samples_ts is ${fmt(mean(ts))}`,
    );
  }
  if (!near(rec.stddev_ts, sampleStddev(ts))) {
    add(
      `${path}/stddev_ts`,
      "stddev_ts_inconsistent",
      `stddev_ts is ${fmt(rec.stddev_ts)} but the samples give ${fmt(sampleStddev(ts))}`,
    );
  }
  if (Math.abs(rec.avg_ns - mean(rec.samples_ns)) > 1) {
    add(
      `${path}/avg_ns`,
      "avg_ns_inconsistent",
      `avg_ns is ${rec.avg_ns} but the mean of samples_ns is ${fmt(mean(rec.samples_ns))}`,
    );
  }
  if (Math.abs(rec.stddev_ns - sampleStddev(rec.samples_ns)) > 1) {
    add(
      `${path}/stddev_ns`,
      "stddev_ns_inconsistent",
      `stddev_ns is ${rec.stddev_ns} but the samples give ${fmt(sampleStddev(rec.samples_ns))}`,
    );
  }
  checkStats(rec.stats_ts, ts, `${path}/stats_ts`, add, 0.006);
  checkStats(rec.latency_ms, rec.samples_latency_ms, `${path}/latency_ms`, add, 1e-6);
  const bound = maxPlausibleTokensPerSecond(r.model, { cores: r.machine.cores, nGen: want.n_gen });
  const fastest = Math.max(...ts);
  if (fastest > bound) {
    add(
      `${path}/samples_ts`,
      "implausible_rate",
      `${fmt(fastest)} t/s in ${test} exceeds the physical bound of ${
        fmt(bound)
      } t/s for ${r.model.n_params} parameters on ${r.machine.cores} cores`,
    );
  }
}

function checkRatio(
  e: BenchRecord | null,
  ref: BenchRecord | null,
  ratio: BenchReceipt["results"][number]["ratio"],
  base: string,
  add: (p: string, c: string, m: string) => void,
): void {
  if (!e || !ref) {
    if (ratio !== null) add(`${base}/ratio`, "ratio_inconsistent", "a ratio is given but one side has no measurement");
    return;
  }
  if (ratio === null) {
    add(`${base}/ratio`, "ratio_missing", "both sides ran but the engine/llama.cpp ratio is missing");
    return;
  }
  if (ratio.samples.length !== e.samples_ts.length || e.samples_ts.length !== ref.samples_ts.length) {
    add(`${base}/ratio/samples`, "ratio_inconsistent", "the ratio has not one sample per repetition pair");
    return;
  }
  ratio.samples.forEach((x, i) => {
    const want = e.samples_ts[i] / ref.samples_ts[i];
    if (!near(x, want, 1e-9)) {
      add(
        `${base}/ratio/samples/${i}`,
        "ratio_inconsistent",
        `pair ${i}: ratio ${fmt(x)}, but ${fmt(e.samples_ts[i])} / ${fmt(ref.samples_ts[i])} is ${fmt(want)}`,
      );
    }
  });
  const med = median(ratio.samples);
  if (!near(ratio.median, med, 1e-9)) {
    add(
      `${base}/ratio/median`,
      "ratio_inconsistent",
      `ratio median ${fmt(ratio.median)} is not the median of its samples (${fmt(med)})`,
    );
  }
  if (
    !(ratio.low <= med + 1e-12 && med <= ratio.high + 1e-12) || ratio.low < Math.min(...ratio.samples) - 1e-12 ||
    ratio.high > Math.max(...ratio.samples) + 1e-12
  ) {
    add(
      `${base}/ratio`,
      "ratio_inconsistent",
      `interval [${fmt(ratio.low)}, ${fmt(ratio.high)}] must contain the median and lie within the samples`,
    );
  }
}
