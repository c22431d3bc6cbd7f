/**
 * `crossval validate [--tier ci]`: the one command that says whether this checkout is correct. It provisions the
 * tier's models from the lockfile (the CI model is generated and verified by its pinned SHA-256), runs parity on
 * each, writes the receipts (`ci/parity.json`), prints a short table and a final PASS/FAIL line (`--json`: the
 * receipt summaries). Steps are a list: the benchmark joins it as another {@link ValidateStep}. Then it renders the
 * receipts it wrote as `report.html` beside them (`crossval report`) and prints its path.
 *
 * Exit codes: 0 only when every step passed; 1 when a check failed; 2 when a step could not run (reference
 * library missing, model not provisioned, ...) or for usage errors; 3 when the reference crashed (its receipt says
 * `reference_crashed`).
 *
 * @module
 */

import { styleText } from "node:util";
import { printJson, renderTable } from "./_output.ts";
import { EXIT_REFERENCE_CRASHED, exitCodeOf, formatError } from "./_errors.ts";
import { strictMode } from "./_strict.ts";
import { benchValidateStep } from "./bench.ts";
import { type ModelTarget, provisionTier } from "./_targets.ts";
import { exitCodeOfStatus, runOptionsFromFlags, runParityTarget, startReferenceEarly } from "./parity.ts";

/** Flags of `validate` as commander parses them. */
export interface ValidateFlags {
  tier: string;
  out: string;
  steps?: number;
  backend: string;
  /** Kernel sets: parity checks each against its gates, the benchmark measures each (default exact, fast). */
  numerics?: string[];
  threads?: number;
  timeout?: number;
  lockfile?: string;
  json?: boolean;
}

/**
 * Where the parity receipt of a profile goes: `out` for `exact` (the profile parity against the pinned llama.cpp
 * defaults to), `<stem>-<profile>.json` beside it for the others.
 *
 * @param out The `--out` path.
 * @param numerics The profile.
 * @returns The path.
 */
export function parityOutFor(out: string, numerics: string): string {
  return numerics === "exact" ? out : `${out.replace(/\.json$/, "")}-${numerics}.json`;
}

/** What one step reports for the final table. */
export interface StepResult {
  /** Step name (`parity`, later `bench`). */
  readonly step: string;
  /** Model. */
  readonly model: string;
  /** 0 pass, 1 fail, 2 not run, 3 reference crashed. */
  readonly code: number;
  /** One-line detail. */
  readonly detail: string;
  /** Receipt path. */
  readonly receipt: string;
  /** Compact JSON for `--json`. */
  readonly summary: unknown;
}

/** A validation step: runs on the provisioned models and reports one result per model. */
export interface ValidateStep {
  /** Name in the table. */
  readonly name: string;
  /** Run it. */
  run(targets: readonly ModelTarget[], flags: ValidateFlags): Promise<StepResult[]>;
}

/** The reference process `validateCommand` started early, for the parity step's first model. */
let earlyReference: Awaited<ReturnType<typeof startReferenceEarly>> | undefined;

const parityStep: ValidateStep = {
  name: "parity",
  async run(targets, flags) {
    const lib = await import("../parity/mod.ts");
    const json = flags.json ?? false;
    const out: StepResult[] = [];
    for (const numerics of flags.numerics ?? ["exact", "fast"]) {
      const run = runOptionsFromFlags({ ...flags, numerics });
      for (const t of targets) {
        const { receipt: r, path, strict } = await runParityTarget(t, {
          run: { ...run, ...(t === targets[0] ? earlyReference?.take() : {}) },
          out: parityOutFor(flags.out, numerics),
          nTargets: targets.length,
          json,
        });
        out.push(parityResult(lib, numerics, t, r, path, strict));
      }
    }
    return out;
  },
};

/** One parity receipt as a row of validate's table. */
function parityResult(
  lib: typeof import("../parity/mod.ts"),
  numerics: string,
  t: ModelTarget,
  r: import("../receipts/parity_receipt.ts").ParityReceipt,
  path: string,
  strict: readonly string[],
): StepResult {
  const s = r.checks.logits.summary;
  return {
    step: `parity ${numerics}`,
    model: t.lockName ?? t.path,
    code: Math.max(exitCodeOfStatus(r.status), strict.length ? 1 : 0),
    detail: strict.length
      ? `strict: ${strict[0]}`
      : r.status === "pass"
      ? `min cos ${s?.cosine_min?.toFixed(5)}, KLD mean ${s?.kld.mean?.toExponential(1)}, top-1 ` +
        `${((s?.same_top.p ?? 0) * 100).toFixed(1)}%, greedy ${r.metrics.greedy_steps_compared} steps`
      : r.reasons[0]?.message.split("\n")[0] ?? r.status,
    receipt: path,
    summary: strict.length ? { ...lib.summarizeParityReceipt(r), strict } : lib.summarizeParityReceipt(r),
  };
}

/** The steps of `validate`, in order. The benchmark issue appends its step here. */
export const VALIDATE_STEPS: readonly ValidateStep[] = [parityStep, benchValidateStep];

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Run `validate`; returns the exit code. */
export async function validateCommand(flags: ValidateFlags): Promise<number> {
  runOptionsFromFlags({ ...flags, numerics: undefined }); // flag errors before any work
  strictMode(); // and an invalid BITNET_STRICT_MODE
  const log = (line: string) => {
    if (!flags.json) console.error(line);
  };
  // The reference process starts now, so its start-up overlaps provisioning; parity's first model takes it over.
  earlyReference = await startReferenceEarly(runOptionsFromFlags({ ...flags, numerics: undefined }));
  let targets: ModelTarget[];
  try {
    targets = await provisionTier(flags.tier, flags.lockfile, log);
  } catch (e) {
    await earlyReference.close();
    throw e;
  }
  const results: StepResult[] = [];
  for (const step of VALIDATE_STEPS) {
    try {
      results.push(...await step.run(targets, flags));
    } catch (e) {
      // A step that cannot run is reported in the table with its fix; the other steps still run.
      const message = e instanceof Error ? e.message : String(e);
      if (!flags.json) console.error(formatError(e));
      results.push({
        step: step.name,
        model: "-",
        code: exitCodeOf(e),
        detail: message.split("\n")[0],
        receipt: "-",
        summary: { error: message },
      });
    }
  }
  await earlyReference.close();
  let code = results.reduce((c, r) => Math.max(c, r.code), 0);
  // The report of the receipts this run wrote, beside them. It cannot change a verdict; failing to write it is an
  // environment error (exit 2) that does not hide the verdict, which is still printed.
  const receipts = [...new Set(results.map((r) => r.receipt).filter((p) => p !== "-"))];
  let report: string | null = null;
  if (receipts.length) {
    const dir = flags.out.includes("/") ? flags.out.slice(0, flags.out.lastIndexOf("/")) : ".";
    try {
      report = (await (await import("./report.ts")).writeReport(receipts, { out: `${dir}/report.html` })).path;
    } catch (e) {
      if (!flags.json) console.error(formatError(e));
      code = Math.max(code, 2);
    }
  }
  if (flags.json) {
    printJson({
      status: code === 0
        ? "pass"
        : code === 1
        ? "fail"
        : code === EXIT_REFERENCE_CRASHED
        ? "reference_crashed"
        : "not_run",
      tier: flags.tier,
      steps: results.map((r) => ({ step: r.step, model: r.model, receipt: r.receipt, summary: r.summary })),
      report,
    });
    return code;
  }
  const word = (c: number) =>
    c === 0
      ? styleText("green", "PASS")
      : c === 1
      ? styleText("red", "FAIL")
      : c === EXIT_REFERENCE_CRASHED
      ? styleText("red", "REFERENCE CRASHED")
      : styleText("yellow", "NOT RUN");
  // One row per step and model once there is more than one (the benchmark joins here).
  if (results.length > 1) {
    console.log(
      renderTable(
        ["step", "model", "status", "detail", "receipt"],
        results.map((r) => [r.step, r.model, word(r.code), clip(r.detail, 72), r.receipt]),
      ),
    );
  }
  if (report) console.log(`report: ${report}`);
  console.log(
    code === 0
      ? styleText("green", "VALIDATE PASS")
      : code === 1
      ? styleText("red", "VALIDATE FAIL")
      : code === EXIT_REFERENCE_CRASHED
      ? styleText("red", "VALIDATE REFERENCE CRASHED (see the receipt's reference.error.crash)")
      : styleText("yellow", "VALIDATE NOT RUN (see above for the fix)"),
  );
  return code;
}
