/**
 * `crossval parity --model M | --tier ci`: our engine against llama.cpp (tokenization, logits at every position,
 * greedy decoding, op-by-op localization), one receipt per model (`ci/parity.json` by default), a summary table,
 * or with `--json` the receipt itself.
 *
 * Exit codes: 0 pass; 1 parity failed; 2 not run (the reference library is missing, the model does not load in
 * llama.cpp, the reference timed out, nothing was compared) or a usage/environment error.
 *
 * @module
 */

import { styleText } from "node:util";
import type { ParityEvent, ParityPrompt, ParityRunOptions } from "../parity/mod.ts";
import type { ParityReceipt, ParityStatus } from "../receipts/parity_receipt.ts";
import { printJson, renderTable } from "./_output.ts";
import { UsageError } from "./_errors.ts";
import { strictMode, strictParityProblems } from "./_strict.ts";

/** Flags of `parity` as commander parses them. */
export interface ParityFlags {
  model?: string;
  tier?: string;
  prompts?: string;
  steps: string;
  out: string;
  backend: string;
  threads?: string;
  ctx?: string;
  timeout?: string;
  lockfile?: string;
  json?: boolean;
}

/** A model to run parity on. */
export interface ParityTarget {
  /** GGUF path. */
  readonly path: string;
  /** Lockfile name, when it came from the lockfile. */
  readonly lockName: string | null;
  /** SHA-256 verified by the fetcher, when known. */
  readonly sha256: string | null;
}

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(`Invalid --${name} "${v}": expected an integer >= ${min}`);
  }
  return n;
}

/** Exit code of a receipt status: 0 pass, 1 fail, 2 not_run. */
export function exitCodeOfStatus(s: ParityStatus): number {
  return s === "pass" ? 0 : s === "fail" ? 1 : 2;
}

/** Provision the models of a tier through the lockfile (generated models are generated, downloads verified). */
export async function provisionTier(
  tier: string,
  lockfile: string | undefined,
  log: (line: string) => void,
): Promise<ParityTarget[]> {
  const { defaultLockfilePath, fetchModels, Lockfile } = await import("../lock/mod.ts");
  const lock = await Lockfile.load(lockfile ?? defaultLockfilePath());
  const report = await fetchModels(lock, { tier });
  const bad = report.models.filter((m) => m.error);
  if (bad.length) {
    const first = bad[0];
    throw Object.assign(
      new Error(
        `Cannot provision the ${tier} models: ${first.name}: ${first.error!.message}\n` +
          `Retry with: crossval fetch --tier ${tier}`,
        { cause: first.error },
      ),
      { exitCode: 2 },
    );
  }
  for (const m of report.models) log(`model ${m.name} ${m.status} (${m.path})`);
  return report.models.map((m) => ({ path: m.path, lockName: m.name, sha256: m.sha256 }));
}

/** Resolve `--model`: an existing file, or a lockfile model name already in the cache. */
async function resolveTarget(model: string, lockfile: string | undefined): Promise<ParityTarget> {
  try {
    if ((await Deno.stat(model)).isFile) return { path: model, lockName: null, sha256: null };
  } catch {
    // not a file: try it as a lockfile name
  }
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(model)) {
    throw new UsageError(
      `Cannot find model "${model}": no such file, and it is not a lockfile model name. Check the path.`,
    );
  }
  const { resolveModel } = await import("../lock/mod.ts");
  const r = await resolveModel(model, lockfile ? { lockfile } : {});
  return { path: r.path, lockName: r.entry?.name ?? model, sha256: r.sha256 };
}

/** Where the receipt of model `i` of `n` goes: `out` itself for one model, `<stem>-<name>.json` for several. */
export function receiptPath(out: string, target: ParityTarget, n: number): string {
  if (n === 1) return out;
  const stem = out.replace(/\.json$/, "");
  const name = target.lockName ?? target.path.replace(/^.*\//, "").replace(/\.gguf$/, "");
  return `${stem}-${name}.json`;
}

/** Progress lines on stderr (phases only; the harness is fast on CI models). */
export function progressLogger(enabled: boolean): (e: ParityEvent) => void {
  return (e) => {
    if (!enabled || e.type !== "phase") return;
    if (e.state === "start") return;
    const mark = e.state === "pass"
      ? styleText("green", "✓")
      : e.state === "fail"
      ? styleText("red", "✗")
      : styleText("yellow", "-");
    console.error(`  ${mark} ${e.phase} ${e.state}`);
  };
}

const sci = (x: number | null, digits = 2) => (x === null ? "n/a" : x === 0 ? "0" : x.toExponential(digits));
const mark = (s: ParityStatus) =>
  s === "pass" ? styleText("green", "PASS") : s === "fail" ? styleText("red", "FAIL") : styleText("yellow", "NOT RUN");

/**
 * The human summary of one receipt: a table of checks and the reasons.
 *
 * @param r The receipt.
 * @param path Where it was written.
 * @returns Text to print.
 */
export function renderParitySummary(r: ParityReceipt, path: string): string {
  const c = r.checks, s = c.logits.summary;
  const ties = c.greedy.prompts.reduce((n, g) => n + g.divergences.filter((d) => d.tie).length, 0);
  const fe = c.localization.first_exceedance;
  const rows: string[][] = [
    [
      "tokenization",
      mark(c.tokenization.status),
      `${c.tokenization.cases.filter((x) => x.match).length}/${c.tokenization.cases.length} cases exact`,
    ],
    [
      "logits",
      mark(c.logits.status),
      s
        ? `${s.compared_tokens} positions; min cos ${s.cosine_min?.toFixed(6) ?? "n/a"}; KLD mean ${sci(s.kld.mean)} ` +
          `max ${sci(s.kld.max)}; top-1 ${(s.same_top.p * 100).toFixed(2)}%`
        : "not compared",
    ],
    [
      "greedy",
      mark(c.greedy.status),
      `${r.metrics.greedy_steps_compared} steps, ${r.metrics.greedy_exact_match ? "exact" : `${ties} near-tie(s)`}` +
      (r.first_divergence && !r.first_divergence.tie
        ? `; diverged at prompt ${r.first_divergence.prompt} step ${r.first_divergence.step}`
        : ""),
    ],
    [
      "localization",
      mark(c.localization.status),
      c.localization.tensors.length
        ? fe
          ? `first divergent op: ${fe.name} (${fe.status})`
          : `${c.localization.tensors.length} intermediates match op by op`
        : c.localization.reason,
    ],
  ];
  const ref = r.reference.ran
    ? `llama.cpp ${r.reference.release ?? ""} (${r.reference.version}), ${r.reference.settings?.threads} thread(s), ` +
      `KV ${r.reference.settings?.type_k}, flash attention ${r.reference.settings?.flash_attn}`
    : "llama.cpp did not run";
  const lines = [
    `${styleText("bold", "parity")} ${r.model.lock_name ?? r.model.path} (sha256 ${r.model_sha256.slice(0, 12)}…)`,
    `engine ${r.engine.backend ?? "n/a"} (${r.engine.kernels.length} kernels) vs ${ref}`,
    renderTable(["check", "status", "detail"], rows),
    ...r.reasons.map((x) => `  ${styleText("red", "•")} ${x.check}: ${x.message}`),
    `receipt: ${path}`,
  ];
  return lines.join("\n");
}

/** Options that `parity` and `validate` share, as engine/run options. */
export function runOptionsFromFlags(flags: {
  steps?: string;
  backend?: string;
  threads?: string;
  ctx?: string;
  timeout?: string;
}): ParityRunOptions {
  const steps = int("steps", flags.steps, 0);
  const threads = int("threads", flags.threads, 1);
  const nCtx = int("ctx", flags.ctx, 16);
  const timeout = int("timeout", flags.timeout, 1);
  const backend = flags.backend ?? "wasm";
  if (backend !== "wasm" && backend !== "ref") {
    throw new UsageError(`Invalid --backend "${backend}": expected wasm or ref`);
  }
  return {
    backend,
    ...(steps !== undefined ? { steps } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(nCtx !== undefined ? { nCtx } : {}),
    ...(timeout !== undefined ? { referenceTimeoutMs: timeout * 1000 } : {}),
  };
}

/**
 * Run parity on one model, turning a prompt that does not fit the context into a usage error (exit 2).
 *
 * @param path GGUF path.
 * @param opts Run options.
 * @returns The receipt.
 */
export async function runParityUsage(path: string, opts: ParityRunOptions): Promise<ParityReceipt> {
  const { runParityOnModel } = await import("../parity/mod.ts");
  try {
    return await runParityOnModel(path, opts);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`${e.message} (--ctx sets the context length)`);
    throw e;
  }
}

/** Run `parity`; returns the exit code. */
export async function parityCommand(flags: ParityFlags): Promise<number> {
  if ((flags.model === undefined) === (flags.tier === undefined)) {
    throw new UsageError("Pass exactly one of --model <gguf|name> or --tier <tier>");
  }
  const base = runOptionsFromFlags(flags);
  strictMode(); // an invalid BITNET_STRICT_MODE is a usage error before any work
  let prompts: ParityPrompt[] | undefined;
  const lib = await import("../parity/mod.ts");
  if (flags.prompts) {
    let text: string;
    try {
      text = await Deno.readTextFile(flags.prompts);
    } catch (e) {
      throw new UsageError(`Cannot read --prompts "${flags.prompts}": ${(e as Error).message}`);
    }
    prompts = lib.parsePromptFile(text);
  }
  const log = (line: string) => {
    if (!flags.json) console.error(line);
  };
  const targets = flags.tier
    ? await provisionTier(flags.tier, flags.lockfile, log)
    : [await resolveTarget(flags.model!, flags.lockfile)];
  const { writeJsonAtomic } = await import("../receipts/write.ts");
  let code = 0;
  const receipts: ParityReceipt[] = [];
  for (const target of targets) {
    log(`parity ${target.lockName ?? target.path}`);
    const receipt = await runParityUsage(target.path, {
      ...base,
      ...(prompts ? { prompts } : {}),
      lockName: target.lockName,
      sha256: target.sha256,
      onEvent: progressLogger(!flags.json),
    });
    const path = receiptPath(flags.out, target, targets.length);
    await writeJsonAtomic(path, receipt);
    receipts.push(receipt);
    if (!flags.json) console.log(renderParitySummary(receipt, path));
    const strict = strictParityProblems(receipt);
    if (!flags.json) { for (const s of strict) console.log(`  ${styleText("red", "•")} strict: ${s}`); }
    code = Math.max(code, exitCodeOfStatus(receipt.status), strict.length ? 1 : 0);
  }
  if (flags.json) printJson(receipts.length === 1 ? receipts[0] : receipts);
  else {
    const all = code === 0;
    console.log(
      all ? styleText("green", "PARITY PASS") : styleText("red", `PARITY ${code === 2 ? "NOT RUN" : "FAIL"}`),
    );
  }
  return code;
}

/** Flags of the hidden `parity-calibrate` command. */
export interface CalibrateFlags {
  backend: string;
  faults?: boolean;
  out?: string;
}

/** Run the calibration behind docs/parity.md: one JSON line per run on stdout (and in `--out`). */
export async function parityCalibrateCommand(flags: CalibrateFlags): Promise<number> {
  if (flags.backend !== "wasm" && flags.backend !== "ref") {
    throw new UsageError(`Invalid --backend "${flags.backend}": expected wasm or ref`);
  }
  const { calibrate } = await import("../parity/calibrate.ts");
  const records = await calibrate({
    backend: flags.backend,
    faults: flags.faults ?? false,
    onRecord: (r) => console.log(JSON.stringify(r)),
  });
  if (flags.out) await Deno.writeTextFile(flags.out, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return 0;
}
