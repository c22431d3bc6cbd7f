/**
 * `crossval bench [--model M | --tier T] [--pp N] [--tg N] [--depth D,...] [--numerics fast,exact] [--reps R]
 * [--threads T] [--json]`: measure our engine and llama.cpp on the same model and threads, repetitions
 * interleaved, print a llama-bench-style table (`t/s` as mean ± stddev, plus the median, per engine, and the
 * engine/llama.cpp ratio of medians of the interleaved pairs with its 95% interval), and write one receipt per model
 * and kernel set to `<out-dir>/bench_<name>.json` (`fast`, the engine's default) or `bench_<name>-<profile>.json`.
 * Each receipt is verified right after it is written. Generation tests also run at each `--depth` (`tg32@d512`:
 * 512 tokens in the cache first, llama-bench's `-d`), and the machine's streaming-read bandwidth is measured first
 * (`bench/bandwidth.ts`, native and WebAssembly, unless `--no-roofline`): the table shows what fraction of it each
 * engine's decode reads per second.
 *
 * Also the benchmark step of `crossval validate` ({@link benchValidateStep}): the tier's models are benchmarked,
 * the receipts verified, and compared with `docs/baselines/latest-cpu.json` when that baseline exists (the working
 * directory's, which `crossval baselines gen` writes, else the one shipped with this package).
 *
 * Exit codes: 0 measured and valid; 1 a receipt fails verification (e.g. llama.cpp did not complete); 2 usage or
 * environment errors (model not provisioned, llama.cpp library missing).
 *
 * @module
 */

import { styleText } from "node:util";
import type { BenchBandwidth, BenchReceipt } from "../receipts/bench_receipt.ts";
import { isNumericsProfile, type NumericsProfile } from "../engine/backends/type_kernels.ts";
import type { ReceiptProblem } from "../receipts/problem.ts";
import type { BenchEvent, BenchLoadEvent } from "../bench/mod.ts";
import { lastLevelCacheBytes } from "../bench/bandwidth.ts";
import { formatProblem, humanBytes, printJson, renderTable } from "./_output.ts";
import { UsageError } from "./_errors.ts";
import { type BackendKind, isBackendKind } from "../engine/backends/backend.ts";
import { type ModelTarget, provisionTier, resolveModelFlag } from "./_targets.ts";
import { strictBaselineProblems } from "./_strict.ts";
import type { StepResult, ValidateFlags, ValidateStep } from "./validate.ts";

/** Flags of `bench` as commander parses them. */
export interface BenchFlags {
  model?: string;
  tier?: string;
  pp: number[];
  tg: number[];
  reps: number;
  warmup: number;
  threads?: number;
  backend: string;
  numerics?: string[];
  depth?: number[];
  roofline?: boolean;
  seed: number;
  outDir: string;
  lockfile?: string;
  json?: boolean;
  /** `--reference`: `llama.cpp`, `ik_llama` or a path (default by architecture, as parity chooses). */
  reference?: string;
  /** ik_llama.cpp's input: `f32` (default) or `iq2_bn`. */
  ikFormat?: string;
}

/**
 * `--pp 64,128 --tg 32 --depth 0,512` -> `["pp64", "pp128", "tg32", "tg32@d512"]`; 0 drops that kind (llama-bench's
 * `-p 0`); depths apply to the generation tests (decode at depth is what a long context slows down).
 */
export function testsFromFlags(pp: readonly number[], tg: readonly number[], depth: readonly number[] = [0]): string[] {
  const list = (kind: "pp" | "tg", v: readonly number[]) => v.filter((n) => n > 0).map((n) => `${kind}${n}`);
  const depths = [...new Set(depth)];
  const tests = [...list("pp", pp), ...list("tg", tg).flatMap((t) => depths.map((d) => testAtDepth(t, d)))];
  if (tests.length === 0) {
    throw new UsageError("Nothing to measure: --pp and --tg are both 0. Pass e.g. --pp 64 --tg 32");
  }
  return tests;
}

/** The test name at a depth (`tg32@d512`), as bench/measure.ts `testAtDepth`. */
function testAtDepth(base: string, depth: number): string {
  return depth > 0 ? `${base}@d${depth}` : base;
}

/**
 * Receipt name of a model and kernel set: the model's name for `fast` (the engine's default), `<name>-<profile>`
 * for the others.
 */
export function receiptNameFor(name: string, numerics: string): string {
  return numerics === "fast" ? name : `${name}-${numerics}`.slice(0, 100);
}

const f1 = (x: number) => (x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(2) : x.toPrecision(3));

/**
 * The llama-bench-style table of one or more receipts.
 *
 * @param receipts Bench receipts.
 * @param opts `lastLevelCacheBytes`: the size of the machine's last-level cache (default: read from this machine):
 *   a decode that reads fewer bytes per token than this runs from the cache, and its row shows no share of the DRAM
 *   roofline.
 * @returns The table, then one line naming the machine and the runtimes.
 */
export function renderBenchTable(
  receipts: readonly BenchReceipt[],
  opts: { readonly lastLevelCacheBytes?: number | null } = {},
): string {
  const llc = opts.lastLevelCacheBytes === undefined ? lastLevelCacheBytes() : opts.lastLevelCacheBytes;
  const rows: (string | number)[][] = [];
  let inCache = false;
  for (const r of receipts) {
    for (const res of r.results) {
      const side = (x: typeof res.engine) =>
        x ? [`${f1(x.avg_ts)} ± ${f1(x.stddev_ts)}`, f1(x.stats_ts.median)] : ["not run", ""];
      const q = res.ratio;
      const roofCell = rooflineCell(r, res, llc);
      if (roofCell.endsWith(IN_CACHE)) inCache = true;
      rows.push([
        r.name,
        humanBytes(r.model.size_bytes),
        `${(r.model.n_params / 1e6).toFixed(2)} M`,
        r.backend,
        r.numerics ?? "exact",
        r.settings.threads,
        res.test,
        ...side(res.engine),
        ...side(res.reference),
        q ? `${q.median.toFixed(2)} [${q.low.toFixed(2)}, ${q.high.toFixed(2)}]` : "",
        roofCell,
      ]);
    }
  }
  const m = receipts[0]?.machine;
  // Each model's own reference (ik_llama.cpp for bitnet-b1.58): the columns say "reference" once they are mixed.
  const libs = [...new Set(receipts.map((r) => r.reference.library))];
  const refName = libs.length === 1 ? libs[0] : "reference";
  const refs = [
    ...new Set(
      receipts.map((r) =>
        `${r.reference.library} ${r.reference.release ?? r.reference.version} ${r.reference.backend}`
      ),
    ),
  ].join(", ");
  const head = [
    "model",
    "size",
    "params",
    "backend",
    "numerics",
    "threads",
    "test",
    "engine t/s",
    "median",
    `${refName} t/s`,
    "median",
    `engine/${refName} [95% CI]`,
    `read GB/s: engine, ${refName} (of native)`,
  ];
  // A GPU backend names its adapter (llama-bench's gpu_info; `[CPU fallback]` on a software rasteriser).
  const gpu = receipts[0].results.find((r) => r.engine?.gpu_info)?.engine?.gpu_info;
  const machine = m
    ? `machine: ${m.cpu}, ${m.cores} cores, ${
      humanBytes(m.memory_bytes)
    }, ${m.os}, Deno ${m.runtime.deno} (V8 ${m.runtime.v8}), ` +
      `fingerprint ${m.fingerprint}; ${refs}; ` + (gpu ? `engine on ${gpu}; ` : "") +
      `${receipts[0].settings.reps} reps, interleaved`
    : "";
  const bw = receipts.find((r) => r.roofline)?.roofline;
  const roof = bw
    ? `\nroofline: streaming reads ${bw.native_gbps.toFixed(1)} GB/s native, ${bw.wasm_gbps.toFixed(1)} GB/s ` +
      `WebAssembly (${bw.threads} thread${bw.threads > 1 ? "s" : ""}, measured in this run)` +
      (inCache && llc !== null
        ? `; "${IN_CACHE}": a token reads less than the ${
          humanBytes(llc)
        } last-level cache, so its rate is no share of DRAM bandwidth`
        : "")
    : "";
  return `${renderTable(head, rows)}\n${machine}${roof}`;
}

/** What the roofline cell says instead of a share when the weights fit the last-level cache. */
const IN_CACHE = "in cache";

/**
 * Read bandwidth of a generation test's decode on both sides, and its share of the native roofline; no share when
 * both sides read less per token than the last-level cache holds (the reads are served by the cache, not DRAM).
 */
function rooflineCell(r: BenchReceipt, res: BenchReceipt["results"][number], llc: number | null): string {
  const bpt = res.bytes_per_token;
  if (!bpt || !res.engine || !res.reference) return "";
  const gbps = (bytes: number, ts: number) => (bytes * ts) / 1e9;
  const e = gbps(bpt.engine, res.engine.stats_ts.median), l = gbps(bpt.reference, res.reference.stats_ts.median);
  if (!r.roofline) return `${e.toFixed(1)}, ${l.toFixed(1)}`;
  if (llc !== null && Math.max(bpt.engine, bpt.reference) < llc) return `${e.toFixed(1)}, ${l.toFixed(1)} ${IN_CACHE}`;
  const pct = (x: number) => `${Math.round((100 * x) / r.roofline!.native_gbps)}%`;
  return `${e.toFixed(1)} (${pct(e)}), ${l.toFixed(1)} (${pct(l)})`;
}

function progress(enabled: boolean): (e: BenchEvent | BenchLoadEvent) => void {
  return (e) => {
    if (!enabled) return;
    if (e.type === "load") {
      console.error(`  loaded ${e.side === "engine" ? "engine" : "llama.cpp"} in ${e.ms.toFixed(0)} ms`);
    } else if (e.type === "test_done") {
      console.error(
        `  ${e.test}: engine ${e.engine_median_ts?.toFixed(1) ?? "not run"} t/s, llama.cpp ${
          e.reference_median_ts?.toFixed(1) ?? "not run"
        } t/s (medians)`,
      );
    } else if (e.type === "error") console.error(`  ${styleText("red", "error")} ${e.side} ${e.test}: ${e.message}`);
  };
}

/** Benchmark targets, write and verify receipts; returns receipts, their paths and problems. */
async function benchTargets(
  targets: readonly ModelTarget[],
  o: {
    tests: string[];
    reps: number;
    warmup: number;
    threads?: number;
    backend: BackendKind;
    numerics: readonly NumericsProfile[];
    roofline: boolean;
    seed: number;
    outDir: string;
    log: boolean;
    reference?: string;
    ikFormat?: "f32" | "iq2_bn";
  },
): Promise<{ receipt: BenchReceipt; path: string; problems: ReceiptProblem[] }[]> {
  const { benchModelFile } = await import("../bench/mod.ts");
  const { writeJsonAtomic } = await import("../receipts/write.ts");
  const { verifyReceipt } = await import("../receipts/verify.ts");
  const out = [];
  const roofline = o.roofline ? await measureRoofline(o.threads, o.backend, o.log) : null;
  for (const t of targets) {
    (await import("./preflight.ts")).preflightModelFile(t.path);
    const stem = t.lockName ?? t.path.slice(t.path.lastIndexOf("/") + 1).replace(/\.gguf$/i, "");
    for (const numerics of o.numerics) {
      if (o.log) console.error(`bench ${t.lockName ?? t.path} (${numerics} numerics)`);
      const receipt = await benchModelFile(t.path, {
        name: receiptNameFor(stem.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "") || "model", numerics),
        lockName: t.lockName,
        sha256: t.sha256,
        backend: o.backend,
        numerics,
        roofline,
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
        tests: o.tests,
        reps: o.reps,
        warmup: o.warmup,
        seed: o.seed,
        onEvent: progress(o.log),
        ...(o.reference !== undefined ? { reference: o.reference } : {}),
        ...(o.ikFormat ? { ikFormat: o.ikFormat } : {}),
        ...(o.log ? { onBuildEvent: (await import("./parity.ts")).buildProgress(false) } : {}),
      });
      const path = `${o.outDir.replace(/\/+$/, "")}/bench_${receipt.name}.json`;
      await writeJsonAtomic(path, receipt);
      out.push({ receipt, path, problems: verifyReceipt(JSON.parse(JSON.stringify(receipt))) });
    }
  }
  return out;
}

/**
 * The machine's streaming-read bandwidth on the benchmark's threads (bench/bandwidth.ts): the native probe and the
 * WebAssembly one, 512 MiB, best of 5. It needs a C compiler; without one the receipts carry no roofline and a line
 * says why.
 */
async function measureRoofline(
  threads: number | undefined,
  backend: BackendKind,
  log: boolean,
): Promise<BenchBandwidth | null> {
  const { resolveThreads } = await import("../engine/backends/create.ts");
  const n = backend === "webgpu" ? threads ?? 1 : resolveThreads(backend, threads);
  const { nativeBandwidth, wasmBandwidth } = await import("../bench/bandwidth.ts");
  try {
    const native = await nativeBandwidth({ threads: n, mib: 512, reps: 5 });
    const wasm = await wasmBandwidth({ threads: n, mib: 512, reps: 5 });
    if (log) {
      console.error(
        `  read bandwidth (${n} threads): native ${native.gbPerSecond.toFixed(1)} GB/s, ` +
          `WebAssembly ${wasm.gbPerSecond.toFixed(1)} GB/s`,
      );
    }
    return {
      threads: n,
      bytes: native.bytes,
      native_gbps: native.gbPerSecond,
      wasm_gbps: wasm.gbPerSecond,
      native_seconds: native.seconds,
      wasm_seconds: wasm.seconds,
    };
  } catch (e) {
    if (log) console.error(`  ${styleText("yellow", "no roofline")}: ${(e as Error).message}`);
    return null;
  }
}

/** Run `bench`; returns the exit code. */
export async function benchCommand(flags: BenchFlags): Promise<number> {
  if (flags.model !== undefined && flags.tier !== undefined) {
    throw new UsageError("Pass at most one of --model <gguf|name> or --tier <tier>");
  }
  const tests = testsFromFlags(flags.pp, flags.tg, flags.depth ?? [0]);
  const { reps, warmup, seed, threads } = flags; // parsed and range-checked (cli/_flags.ts)
  if (!isBackendKind(flags.backend)) {
    throw new UsageError(`Invalid --backend "${flags.backend}": expected wasm, ref or webgpu`);
  }
  const log = !flags.json;
  const targets = flags.model !== undefined
    ? [await resolveModelFlag(flags.model, flags.lockfile)]
    : await provisionTier(flags.tier ?? "ci", flags.lockfile, (line) => log && console.error(line));
  const done = await benchTargets(targets, {
    tests,
    reps,
    warmup,
    ...(threads !== undefined ? { threads } : {}),
    backend: flags.backend,
    numerics: (flags.numerics ?? ["fast"]).filter(isNumericsProfile),
    roofline: flags.roofline ?? true,
    seed,
    outDir: flags.outDir,
    log,
    ...(flags.reference !== undefined ? { reference: flags.reference } : {}),
    ...(flags.ikFormat ? { ikFormat: flags.ikFormat as "f32" | "iq2_bn" } : {}),
  });
  const invalid = done.filter((d) => d.problems.length);
  if (flags.json) {
    printJson(done.length === 1 ? done[0].receipt : done.map((d) => d.receipt));
    return invalid.length ? 1 : 0;
  }
  console.log(renderBenchTable(done.map((d) => d.receipt)));
  for (const d of done) console.log(`receipt: ${d.path}`);
  for (const d of invalid) {
    console.log(`${styleText("red", "✗")} ${d.path} fails verification:`);
    for (const p of d.problems) console.log(`    ${formatProblem(p)}`);
  }
  return invalid.length ? 1 : 0;
}

/**
 * The text of the baseline `validate` compares with: `docs/baselines/latest-cpu.json` in the working directory (the
 * user's project; `crossval baselines gen` writes it there), else the one shipped with this package.
 *
 * @throws {Deno.errors.NotFound} When neither exists (or the packaged one cannot be fetched).
 */
export async function readLatestBaseline(): Promise<string> {
  try {
    return await Deno.readTextFile("docs/baselines/latest-cpu.json");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const packaged = new URL("../docs/baselines/latest-cpu.json", import.meta.url);
  if (packaged.protocol === "file:") return await Deno.readTextFile(packaged);
  const res = await fetch(packaged).catch((e) => {
    throw new Deno.errors.NotFound(`no baseline at ${packaged.href} (${(e as Error).message})`);
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Deno.errors.NotFound(`no baseline at ${packaged.href} (HTTP ${res.status})`);
  }
  return await res.text();
}

/**
 * The benchmark step of `crossval validate`: benchmark each provisioned model (pp64 and tg32, 5 repetitions,
 * `--threads` or 1 thread), write `bench_<name>.json` beside the parity receipt, verify it (an invalid receipt fails
 * the step), and compare it with `docs/baselines/latest-cpu.json` when that exists. The verdicts are printed, not
 * failed: `crossval baselines verify` is the gate.
 */
export const benchValidateStep: ValidateStep = {
  name: "bench",
  async run(targets, flags: ValidateFlags): Promise<StepResult[]> {
    const threads = flags.threads ?? 1;
    const outDir = flags.out.includes("/") ? flags.out.slice(0, flags.out.lastIndexOf("/")) : ".";
    const backend = isBackendKind(flags.backend) ? flags.backend : "wasm";
    const done = await benchTargets(targets, {
      tests: ["pp64", "tg32"],
      reps: 5,
      warmup: 1,
      threads,
      backend,
      numerics: (flags.numerics ?? ["exact", "fast"]).filter(isNumericsProfile),
      // The CI model fits in the caches: a memory roofline says nothing about it (and costs seconds).
      roofline: false,
      seed: 1,
      outDir,
      log: !flags.json,
    });
    if (!flags.json) console.log(renderBenchTable(done.map((d) => d.receipt)));
    let comparison: import("../receipts/baseline_compare.ts").BaselineComparison | null = null;
    try {
      const baseline = JSON.parse(await readLatestBaseline());
      const { verifyBaseline } = await import("../receipts/baseline.ts");
      if (verifyBaseline(baseline).length === 0) {
        const { compareToBaseline } = await import("../receipts/baseline_compare.ts");
        comparison = compareToBaseline(baseline, done.filter((d) => d.problems.length === 0).map((d) => d.receipt));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const strict = strictBaselineProblems(comparison);
    return done.map(({ receipt, path, problems }) => {
      const mine = comparison?.verdicts.filter((v) => v.id.startsWith(`${receipt.name}/`)) ?? [];
      const regressed = mine.filter((v) => v.verdict === "regression");
      // One cell of validate's table (clipped at 72 characters): engine medians, engine/llama.cpp ratios.
      const perf = receipt.results
        .map((x) =>
          `${x.test} ${x.engine ? x.engine.stats_ts.median.toFixed(0) : "-"} t/s ${
            x.ratio ? x.ratio.median.toFixed(2) : "-"
          }x`
        )
        .join(", ");
      const vs = comparison === null
        ? "no baseline"
        : mine.length === 0
        ? "not in baseline"
        : `baseline ${[...new Set(mine.map((v) => v.verdict === "regression" ? "REGRESSION" : v.verdict))].join("/")}`;
      return {
        step: "bench",
        model: receipt.name,
        // A regression is reported, not failed here: the gate is `crossval baselines verify` (criterion's FAQ: CI
        // runners are too noisy for a performance verdict to fail the main job).
        // BITNET_STRICT_MODE=1 (cli/_strict.ts) fails them instead, and a missing or foreign baseline too.
        code: problems.length || strict.length ? 1 : 0,
        detail: problems.length
          ? `invalid receipt: ${problems[0].code}: ${problems[0].message}`
          : strict.length
          ? `strict: ${strict[0]}`
          : `${perf}; ${vs}`,
        receipt: path,
        summary: {
          tokens_per_second: receipt.tokens_per_second,
          latency_ms: receipt.latency_ms,
          results: receipt.results.map((x) => ({
            test: x.test,
            engine_median_ts: x.engine?.stats_ts.median ?? null,
            reference_median_ts: x.reference?.stats_ts.median ?? null,
            ratio: x.ratio?.median ?? null,
          })),
          problems,
          ...(strict.length ? { strict } : {}),
          baseline: comparison
            ? {
              status: regressed.length ? "fail" : "pass",
              verdicts: mine.map((v) => ({ id: v.id, verdict: v.verdict, reason: v.reason })),
            }
            : null,
        },
      };
    });
  },
};
