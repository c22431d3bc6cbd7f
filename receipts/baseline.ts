/**
 * Performance baselines (`docs/baselines/YYYYMMDD-cpu.json` and `latest-cpu.json`, kind `"baseline"`, schema
 * `receipts/baseline.schema.json`): bench receipts aggregated into what a later run is compared with
 * (`receipts/baseline_compare.ts`). A baseline keeps every per-repetition sample (a comparison needs the
 * distribution, not one number), the machine fingerprint (numbers from another machine are not comparable), and the
 * validation spec's headline fields (Phase D, AC19): `model_sha256`, `cpu_tps`, `cpu_latency_ms`, `kernels`.
 *
 * Only receipts that pass `verifyBenchReceipt` are accepted: a baseline made of invented, faulted or incomplete
 * measurements would make every later verdict meaningless.
 *
 * @module
 */

import schema from "./baseline.schema.json" with { type: "json" };
import type { BenchReceipt, StatsJson } from "./bench_receipt.ts";
import type { ReceiptProblem } from "./problem.ts";
import type { MachineInfo, ToolInfo } from "./provenance.ts";
import { compileSchemaCheck, type SchemaCheck } from "./schema_check.ts";
import { verifyBenchReceipt } from "./verify_bench.ts";
import { summarize } from "./stats.ts";

/**
 * Schema version of baselines written by this code. 1.1.0 (additive): tests at a depth (`tg32@d512`), each entry's
 * `numerics` (the engine's kernel set).
 */
export const BASELINE_SCHEMA_VERSION = "1.1.0";

/** One engine's side of a baselined test. */
export interface BaselineSide {
  /** Per-repetition tokens/s. */
  readonly samples_ts: readonly number[];
  /** Statistics of `samples_ts`. */
  readonly stats_ts: StatsJson;
  /** Statistics of the per-repetition latency, ms. */
  readonly latency_ms: StatsJson;
  /** Threads. */
  readonly n_threads: number;
  /** Backend (`wasm`, `ref`, `CPU`). */
  readonly backends: string;
  /** Build commit. */
  readonly build_commit: string;
}

/** One test of one receipt. */
export interface BaselineEntry {
  /** `<receipt name>/<test>`, e.g. `ci-tiny/tg32`: how a later receipt's result is matched. */
  readonly id: string;
  /** Receipt name. */
  readonly name: string;
  /** Test. */
  readonly test: string;
  /** Prompt tokens. */
  readonly n_prompt: number;
  /** Generated tokens. */
  readonly n_gen: number;
  /** Model. */
  readonly model_sha256: string;
  /** Our engine's backend. */
  readonly backend: string;
  /** Our engine's kernel set (1.1.0; absent: `exact`). */
  readonly numerics?: "exact" | "fast";
  /** Threads of both engines. */
  readonly threads: number;
  /** Our engine. */
  readonly engine: BaselineSide;
  /** llama.cpp (the control: pinned, unchanged between runs). */
  readonly reference: BaselineSide & { readonly version: string | null; readonly commit: string | null };
  /** Per-pair engine/llama.cpp ratios of the interleaved repetitions. */
  readonly ratio_samples: readonly number[];
  /** Kernels our engine ran. */
  readonly kernels: readonly string[];
  /** Where it came from. */
  readonly receipt: {
    readonly timestamp: string;
    readonly commit: string;
    readonly dirty: boolean;
    readonly source: string | null;
  };
}

/** A baseline file. */
export interface Baseline {
  /** Kind. */
  readonly kind: "baseline";
  /** `1.0.0`. */
  readonly schema_version: string;
  /** RFC 3339, when generated. */
  readonly timestamp: string;
  /** `YYYYMMDD` (UTC) of generation: the dated file's name. */
  readonly date: string;
  /** `cpu`. */
  readonly platform: "cpu";
  /** Spec headline: model of the headline receipt (the first by name). */
  readonly model_sha256: string;
  /** Spec headline: that receipt's `tokens_per_second` (our engine's median). */
  readonly cpu_tps: number;
  /** Spec headline: that receipt's `latency_ms`. */
  readonly cpu_latency_ms: number;
  /** Which receipt and test the headline is. */
  readonly headline: { readonly name: string; readonly test: string };
  /** Union of our engine's kernel ids over all receipts, first-seen order. */
  readonly kernels: readonly string[];
  /** Tool that generated the baseline. */
  readonly tool: ToolInfo;
  /** Machine the receipts were measured on. */
  readonly machine: MachineInfo;
  /** Every test of every receipt, sorted by id. */
  readonly benchmarks: readonly BaselineEntry[];
}

/** Options of {@link generateBaseline}. */
export interface GenerateBaselineOptions {
  /** Tool info of the generating build (default: the first receipt's). */
  readonly tool?: ToolInfo;
  /** Generation time (default now). */
  readonly now?: Date;
  /** File each receipt was read from, same order as `receipts`, recorded per entry. */
  readonly sources?: readonly (string | null)[];
}

/**
 * Aggregate bench receipts into a baseline.
 *
 * @param receipts Verified bench receipts, all from one machine, with distinct names.
 * @param opts Tool, time, source files.
 * @returns The baseline.
 * @throws {RangeError} When there are no receipts, one fails verification (the problems are listed), two have the
 *   same name, or they come from different machines.
 * @example
 * ```ts
 * import { generateBaseline } from "./baseline.ts";
 * import { benchModelFile } from "../bench/bench_model.ts";
 * import { writeSyntheticModel } from "../engine/synth/write.ts";
 * // Usually the receipts `crossval bench` wrote: JSON.parse(await Deno.readTextFile("ci/bench_ci-tiny.json")).
 * const { path } = await writeSyntheticModel(await Deno.makeTempFile({ suffix: ".gguf" }), { preset: "tiny" });
 * const receipt = await benchModelFile(path, { name: "tiny", threads: 1, tests: ["pp16", "tg4"], reps: 2, warmup: 0 });
 * const baseline = generateBaseline([receipt]);
 * console.log(baseline.benchmarks.map((b) => b.id)); // ["tiny/pp16", "tiny/tg4"]
 * await Deno.remove(path);
 * ```
 */
export function generateBaseline(receipts: readonly BenchReceipt[], opts: GenerateBaselineOptions = {}): Baseline {
  if (receipts.length === 0) {
    throw new RangeError(
      "Cannot generate a baseline: no bench receipts. Run `crossval bench` first (it writes ci/bench_<name>.json).",
    );
  }
  const label = (i: number) => opts.sources?.[i] ?? `receipt ${i}`;
  receipts.forEach((r, i) => {
    const problems = verifyBenchReceipt(r as unknown as Record<string, unknown>);
    if (problems.length) {
      throw new RangeError(
        `Cannot generate a baseline from ${label(i)}: it fails verification (${
          problems.map((p) => `${p.code} at ${p.path || "/"}: ${p.message}`).join("; ")
        }). ` +
          `Re-run crossval bench to get a valid receipt.`,
      );
    }
  });
  const names = new Set<string>();
  receipts.forEach((r, i) => {
    if (names.has(r.name)) {
      throw new RangeError(
        `Cannot generate a baseline: two receipts are named "${r.name}" (${label(i)}). Keep one per model.`,
      );
    }
    names.add(r.name);
    if (r.machine.fingerprint !== receipts[0].machine.fingerprint) {
      throw new RangeError(
        `Cannot generate a baseline: ${
          label(i)
        } was measured on another machine (${r.machine.cpu}, fingerprint ${r.machine.fingerprint}) than ` +
          `${label(0)} (${receipts[0].machine.cpu}, ${
            receipts[0].machine.fingerprint
          }). A baseline describes one machine.`,
      );
    }
  });
  const benchmarks: BaselineEntry[] = [];
  receipts.forEach((r, i) => {
    for (const res of r.results) {
      // verifyBenchReceipt guarantees both sides and the ratio.
      const e = res.engine!, f = res.reference!;
      const side = (x: typeof e) => ({
        samples_ts: x.samples_ts,
        stats_ts: x.stats_ts,
        latency_ms: x.latency_ms,
        n_threads: x.n_threads,
        backends: x.backends,
        build_commit: x.build_commit,
      });
      benchmarks.push({
        id: `${r.name}/${res.test}`,
        name: r.name,
        test: res.test,
        n_prompt: res.n_prompt,
        n_gen: res.n_gen,
        model_sha256: r.model_sha256,
        backend: r.backend,
        numerics: r.numerics ?? "exact",
        threads: r.settings.threads,
        engine: side(e),
        reference: { ...side(f), version: r.reference.version, commit: r.reference.commit },
        ratio_samples: res.ratio!.samples,
        kernels: r.kernels,
        receipt: {
          timestamp: r.timestamp,
          commit: r.tool.commit,
          dirty: r.tool.dirty,
          source: opts.sources?.[i] ?? null,
        },
      });
    }
  });
  benchmarks.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const head = [...receipts].sort((a, b) => (a.name < b.name ? -1 : 1))[0];
  const now = opts.now ?? new Date();
  const kernels: string[] = [];
  for (const r of receipts) for (const k of r.kernels) if (!kernels.includes(k)) kernels.push(k);
  return {
    kind: "baseline",
    schema_version: BASELINE_SCHEMA_VERSION,
    timestamp: now.toISOString(),
    date: now.toISOString().slice(0, 10).replaceAll("-", ""),
    platform: "cpu",
    model_sha256: head.model_sha256,
    cpu_tps: head.tokens_per_second!,
    cpu_latency_ms: head.latency_ms!,
    headline: { name: head.name, test: head.headline_test },
    kernels,
    tool: opts.tool ?? head.tool,
    machine: head.machine,
    benchmarks,
  };
}

let schemaCheck: SchemaCheck | undefined;

/**
 * Verify a baseline file: the schema, then that each entry's statistics follow from its samples, its id from its
 * name and test, the ratio samples pair up with the two sides, and the headline is one of its entries.
 *
 * @param json The parsed file.
 * @returns Every problem found (empty: valid).
 * @example
 * ```ts
 * import { verifyBaseline } from "./baseline.ts";
 * console.log(verifyBaseline({ kind: "baseline" }).length > 0); // true
 * ```
 */
export function verifyBaseline(json: Readonly<Record<string, unknown>>): ReceiptProblem[] {
  schemaCheck ??= compileSchemaCheck(schema as Record<string, unknown>);
  const problems = schemaCheck(json);
  if (problems.length) return problems;
  const b = json as unknown as Baseline;
  const add = (path: string, code: string, message: string) => problems.push({ path, code, message });
  const close = (a: number, c: number) => Math.abs(a - c) <= 1e-6 * Math.max(Math.abs(a), Math.abs(c)) + 1e-9;
  b.benchmarks.forEach((e, i) => {
    const path = `/benchmarks/${i}`;
    if (e.id !== `${e.name}/${e.test}`) add(`${path}/id`, "baseline_id", `id "${e.id}" must be "${e.name}/${e.test}"`);
    for (const side of ["engine", "reference"] as const) {
      const s = e[side];
      const want = summarize(s.samples_ts);
      for (const k of ["n", "mean", "median", "stddev", "min", "max"] as const) {
        if (!close(s.stats_ts[k], want[k])) {
          add(
            `${path}/${side}/stats_ts/${k}`,
            "stats_inconsistent",
            `${k} is ${s.stats_ts[k]} but the samples give ${want[k]}`,
          );
        }
      }
    }
    if (
      e.ratio_samples.length !== e.engine.samples_ts.length ||
      e.reference.samples_ts.length !== e.engine.samples_ts.length
    ) {
      add(`${path}/ratio_samples`, "ratio_inconsistent", "engine, llama.cpp and ratio samples must pair up one to one");
    } else {
      e.ratio_samples.forEach((x, j) => {
        if (!close(x, e.engine.samples_ts[j] / e.reference.samples_ts[j])) {
          add(`${path}/ratio_samples/${j}`, "ratio_inconsistent", `pair ${j}: ${x} is not engine/llama.cpp`);
        }
      });
    }
  });
  const head = b.benchmarks.find((e) => e.name === b.headline.name && e.test === b.headline.test);
  if (!head) {
    add(
      "/headline",
      "headline_inconsistent",
      `headline ${b.headline.name}/${b.headline.test} is not one of the benchmarks`,
    );
  } else {
    if (head.model_sha256 !== b.model_sha256) {
      add("/model_sha256", "headline_inconsistent", "model_sha256 is not the headline benchmark's model");
    }
    if (!close(b.cpu_tps, head.engine.stats_ts.median)) {
      add(
        "/cpu_tps",
        "headline_inconsistent",
        `cpu_tps ${b.cpu_tps} is not the headline's median ${head.engine.stats_ts.median}`,
      );
    }
    if (!close(b.cpu_latency_ms, head.engine.latency_ms.median)) {
      add(
        "/cpu_latency_ms",
        "headline_inconsistent",
        `cpu_latency_ms ${b.cpu_latency_ms} is not the headline's median latency`,
      );
    }
  }
  return problems;
}
