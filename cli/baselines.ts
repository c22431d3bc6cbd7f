/**
 * `crossval baselines gen [--receipts ci/] [--out docs/baselines/]`: aggregate the verified bench receipts
 * (`bench_*.json`) into `docs/baselines/YYYYMMDD-cpu.json` and `latest-cpu.json`.
 *
 * `crossval baselines verify [--baseline docs/baselines/latest-cpu.json] [--receipts ci/]`: compare the current
 * receipts with the baseline (receipts/baseline_compare.ts: significance and a > 10% effect, llama.cpp as the
 * control) and print one verdict per benchmark.
 *
 * Exit codes: 0 no regression (improvements, inconclusive and not comparable results are reported, not failed);
 * 1 a regression, or a receipt that fails verification (faults injected by tests are reported as a warning);
 * 2 usage or environment errors (no receipts, unreadable or invalid baseline).
 *
 * @module
 */

import { styleText } from "node:util";
import type { BenchReceipt } from "../receipts/bench_receipt.ts";
import type { BaselineComparison, BenchmarkVerdict } from "../receipts/baseline_compare.ts";
import type { ReceiptProblem } from "../receipts/problem.ts";
import { formatProblem, printJson, renderTable } from "./_output.ts";
import { UsageError } from "./_errors.ts";
import { strictBaselineProblems, strictMode } from "./_strict.ts";

/** Flags of `baselines gen`. */
export interface BaselinesGenFlags {
  receipts: string;
  out: string;
  json?: boolean;
}

/** Flags of `baselines verify`. */
export interface BaselinesVerifyFlags {
  baseline: string;
  receipts: string;
  threshold: number;
  confidence: number;
  json?: boolean;
}

/** Read every `bench_*.json` of a directory (sorted by name). */
async function readReceipts(dir: string): Promise<{ file: string; json: unknown }[]> {
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /^bench_.+\.json$/.test(e.name)) files.push(`${dir.replace(/\/+$/, "")}/${e.name}`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `Cannot read receipts: "${dir}" does not exist. Run crossval bench first (it writes ${dir}/bench_<name>.json).`,
      );
    }
    throw e;
  }
  if (files.length === 0) {
    throw new UsageError(`No bench receipts (bench_*.json) in "${dir}". Run crossval bench first.`);
  }
  files.sort();
  const out = [];
  for (const file of files) {
    try {
      out.push({ file, json: JSON.parse(await Deno.readTextFile(file)) });
    } catch (e) {
      throw new UsageError(`Cannot read receipt "${file}": ${(e as Error).message}. Re-run crossval bench.`);
    }
  }
  return out;
}

/** Run `baselines gen`; returns the exit code. */
export async function baselinesGenCommand(flags: BaselinesGenFlags): Promise<number> {
  const { generateBaseline } = await import("../receipts/baseline.ts");
  const { toolInfo } = await import("../receipts/provenance.ts");
  const { writeJsonAtomic } = await import("../receipts/write.ts");
  const read = await readReceipts(flags.receipts);
  const baseline = generateBaseline(read.map((r) => r.json as BenchReceipt), {
    sources: read.map((r) => r.file),
    tool: await toolInfo(),
  });
  const dir = flags.out.replace(/\/+$/, "");
  const files = [`${dir}/${baseline.date}-cpu.json`, `${dir}/latest-cpu.json`];
  for (const f of files) await writeJsonAtomic(f, baseline);
  if (flags.json) {
    printJson({ files, baseline });
    return 0;
  }
  console.log(renderTable(
    ["benchmark", "engine t/s (median)", "llama.cpp t/s (median)", "reps", "threads", "backend"],
    baseline.benchmarks.map((b) => [
      b.id,
      b.engine.stats_ts.median.toFixed(1),
      b.reference.stats_ts.median.toFixed(1),
      b.engine.samples_ts.length,
      b.threads,
      b.backend,
    ]),
  ));
  console.log(
    `machine: ${baseline.machine.cpu}, ${baseline.machine.cores} cores (fingerprint ${baseline.machine.fingerprint})`,
  );
  console.log(
    `headline: ${baseline.headline.name} ${baseline.headline.test}: ${baseline.cpu_tps.toFixed(1)} t/s, ${
      baseline.cpu_latency_ms.toFixed(3)
    } ms`,
  );
  for (const f of files) console.log(`wrote ${f}`);
  return 0;
}

const pct = (r: number) => `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(1)}%`;
const VERDICT_STYLE: Record<BenchmarkVerdict["verdict"], (s: string) => string> = {
  regression: (s) => styleText("red", s.toUpperCase()),
  improvement: (s) => styleText("green", s),
  no_change: (s) => s,
  inconclusive: (s) => styleText("yellow", s),
  not_comparable: (s) => styleText("yellow", s),
  missing: (s) => styleText("yellow", s),
};

/** Run `baselines verify`; returns the exit code. */
export async function baselinesVerifyCommand(flags: BaselinesVerifyFlags): Promise<number> {
  const { threshold, confidence } = flags; // parsed and range-checked (cli/_flags.ts)
  const strictOn = strictMode();
  const { verifyBaseline } = await import("../receipts/baseline.ts");
  const { compareToBaseline } = await import("../receipts/baseline_compare.ts");
  const { verifyReceipt } = await import("../receipts/verify.ts");
  let baselineJson: unknown;
  try {
    baselineJson = JSON.parse(await Deno.readTextFile(flags.baseline));
  } catch (e) {
    throw new UsageError(
      `Cannot read the baseline "${flags.baseline}": ${
        (e as Error).message
      }. Generate one with: crossval bench && crossval baselines gen`,
    );
  }
  const bp = verifyBaseline(baselineJson as Record<string, unknown>);
  if (bp.length) {
    throw new UsageError(
      `The baseline "${flags.baseline}" is not valid: ${bp.slice(0, 3).map(formatProblem).join("; ")}. ` +
        `Regenerate it with crossval baselines gen`,
    );
  }
  const read = await readReceipts(flags.receipts);
  const invalid: { file: string; problems: ReceiptProblem[] }[] = [];
  const warnings: string[] = [];
  const receipts: BenchReceipt[] = [];
  for (const { file, json } of read) {
    const problems = verifyReceipt(json);
    const serious = problems.filter((p) => p.code !== "engine_faults");
    if (serious.length) invalid.push({ file, problems: serious });
    else {
      if (problems.length) warnings.push(`${file}: ${problems.map((p) => p.message).join("; ")}`);
      receipts.push(json as BenchReceipt);
    }
  }
  const comparison: BaselineComparison = compareToBaseline(baselineJson as never, receipts, { threshold, confidence });
  // BITNET_STRICT_MODE=1: every warning (receipt warnings, not comparable, inconclusive, missing) fails too.
  const strict = strictOn ? [...warnings.map((w) => `warning: ${w}`), ...strictBaselineProblems(comparison)] : [];
  const failed = comparison.status === "fail" || invalid.length > 0 || strict.length > 0;
  if (flags.json) {
    printJson({
      status: failed ? "fail" : "pass",
      baseline: flags.baseline,
      invalid_receipts: invalid,
      warnings,
      ...(strictOn ? { strict } : {}),
      comparison,
    });
    return failed ? 1 : 0;
  }
  console.log(renderTable(
    ["benchmark", "baseline t/s", "now t/s", "change [95% CI]", "p", "llama.cpp (control)", "verdict"],
    comparison.verdicts.map((v) => {
      const e = v.engine;
      return [
        v.id,
        e ? e.base_median.toFixed(1) : "",
        e ? e.current_median.toFixed(1) : "",
        e ? `${pct(e.ratio.estimate)} [${pct(e.ratio.low)}, ${pct(e.ratio.high)}]` : "",
        e ? e.p.toPrecision(2) : "",
        v.control ? `${pct(v.control.ratio.estimate)}${v.control.significant ? " (moved)" : ""}` : "n/a",
        VERDICT_STYLE[v.verdict](v.verdict),
      ];
    }),
  ));
  for (const v of comparison.verdicts) {
    if (v.verdict === "no_change" && v.notes.length === 0) continue;
    console.log(`${v.id}: ${v.verdict}: ${v.reason}`);
    for (const n of v.notes) console.log(`  note: ${n}`);
  }
  for (const w of [...warnings, ...comparison.warnings]) console.log(`${styleText("yellow", "warning:")} ${w}`);
  for (const i of invalid) {
    console.log(`${styleText("red", "✗")} ${i.file} fails verification (not compared):`);
    for (const p of i.problems) console.log(`    ${formatProblem(p)}`);
  }
  console.log(
    `baseline ${flags.baseline} (${comparison.baseline.date}, ${comparison.baseline.cpu}); threshold ${
      threshold * 100
    }%, confidence ${confidence * 100}%`,
  );
  console.log(
    comparison.status === "fail"
      ? styleText("red", `BASELINES FAIL: ${comparison.counts.regression} REGRESSION(S)`)
      : invalid.length
      ? styleText("red", "BASELINES FAIL: invalid receipts")
      : strict.length
      ? styleText("red", `BASELINES FAIL (BITNET_STRICT_MODE=1): ${strict.length} warning(s) count as failures`)
      : styleText(
        "green",
        `BASELINES PASS${comparison.counts.improvement ? ` (${comparison.counts.improvement} improvement(s))` : ""}`,
      ),
  );
  return failed ? 1 : 0;
}
