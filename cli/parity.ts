/**
 * `crossval parity --model M | --tier ci`: our engine against llama.cpp (tokenization, logits at every position,
 * greedy decoding, op-by-op localization), one receipt per model (`ci/parity.json` by default), a summary table,
 * or with `--json` the receipt itself.
 *
 * Exit codes: 0 pass; 1 parity failed; 2 not run (the reference library is missing, the model does not load in
 * llama.cpp, the reference timed out, nothing was compared) or a usage/environment error; 3 the reference crashed
 * (its process aborted, was killed, hung or outgrew its memory limit; the receipt says `reference_crashed`).
 *
 * @module
 */

import { styleText } from "node:util";
import type { ParityEvent, ParityPrompt, ParityRunOptions } from "../parity/mod.ts";
import type { ParityOverallStatus, ParityReceipt } from "../receipts/parity_receipt.ts";
import { printJson, renderTable } from "./_output.ts";
import { EXIT_REFERENCE_CRASHED, UsageError } from "./_errors.ts";
import { isBackendKind } from "../engine/backends/backend.ts";
import { isNumericsProfile } from "../engine/backends/type_kernels.ts";
import { type ModelTarget, provisionTier, resolveModelFlag } from "./_targets.ts";
import { strictMode, strictParityProblems } from "./_strict.ts";
import { preflightSkipped } from "./preflight.ts";

/** Flags of `parity` as commander parses them. */
export interface ParityFlags {
  model?: string;
  tier?: string;
  prompts?: string;
  steps: number;
  out: string;
  backend: string;
  numerics?: string;
  threads?: number;
  ctx?: number;
  timeout?: number;
  lockfile?: string;
  json?: boolean;
  /** `--reference`: `llama.cpp`, `ik_llama` or a path (default by architecture). */
  reference?: string;
  /** `--ik-format`: `f32` or `iq2_bn`. */
  ikFormat?: string;
}

/** Exit code of a receipt status: 0 pass, 1 fail, 2 not_run, 3 reference_crashed. */
export function exitCodeOfStatus(s: ParityOverallStatus): number {
  return s === "pass" ? 0 : s === "fail" ? 1 : s === "reference_crashed" ? EXIT_REFERENCE_CRASHED : 2;
}

/** Where the receipt of model `i` of `n` goes: `out` itself for one model, `<stem>-<name>.json` for several. */
function receiptPath(out: string, target: ModelTarget, n: number): string {
  if (n === 1) return out;
  const stem = out.replace(/\.json$/, "");
  const name = target.lockName ?? target.path.replace(/^.*\//, "").replace(/\.gguf$/, "");
  return `${stem}-${name}.json`;
}

/** Progress lines on stderr (phases only; the harness is fast on CI models). */
function progressLogger(enabled: boolean): (e: ParityEvent) => void {
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
const mark = (s: ParityOverallStatus) =>
  s === "pass"
    ? styleText("green", "PASS")
    : s === "fail"
    ? styleText("red", "FAIL")
    : s === "reference_crashed"
    ? styleText("red", "REFERENCE CRASHED")
    : styleText("yellow", "NOT RUN");

/**
 * The human summary of one receipt: a table of checks and the reasons.
 *
 * @param r The receipt.
 * @param path Where it was written.
 * @returns Text to print.
 */
function renderParitySummary(r: ParityReceipt, path: string): string {
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
  const lib = r.reference.library;
  const st = r.reference.settings, tc = r.reference.input?.transcode;
  const ref = r.reference.ran
    ? `${lib} ${r.reference.release ?? ""} (${r.reference.version}), ${st?.threads} thread(s), ` +
      `KV ${st?.type_k}${st && st.type_v !== st.type_k ? `/${st.type_v}` : ""}, flash attention ${st?.flash_attn}` +
      (tc ? `, on its lossless ${tc.to.toUpperCase()} transcode` : "")
    : r.reference.error?.kind === "crashed"
    ? `${lib} crashed (${r.reference.error.crash?.message ?? "?"}${
      r.reference.error.crash?.location ? ` at ${r.reference.error.crash.location}` : ""
    })`
    : `${lib} did not run`;
  const lines = [
    `${styleText("bold", "parity")} ${r.model.lock_name ?? r.model.path} (sha256 ${r.model_sha256.slice(0, 12)}…)`,
    `engine ${r.engine.backend ?? "n/a"}${r.engine.device ? ` on ${r.engine.device}` : ""}, ${
      r.engine.numerics ?? "exact"
    } numerics (${r.engine.kernels.length} kernels, ${r.engine.activations ?? "int8"} activations, ` +
    `gates ${r.thresholds.id}) vs ${ref}` +
    (r.reference.selection?.by === "architecture" ? ` (default for ${r.model.arch})` : ""),
    renderTable(["check", "status", "detail"], rows),
    ...r.reasons.map((x) => `  ${styleText("red", "•")} ${x.check}: ${x.message}`),
    `receipt: ${path}`,
  ];
  return lines.join("\n");
}

/** Options that `parity` and `validate` share, as engine/run options. */
export function runOptionsFromFlags(flags: {
  steps?: number;
  backend?: string;
  numerics?: string;
  threads?: number;
  ctx?: number;
  timeout?: number;
  reference?: string;
  ikFormat?: string;
  json?: boolean;
}): ParityRunOptions {
  const { steps, threads, ctx: nCtx, timeout } = flags; // parsed and range-checked (cli/_flags.ts)
  const backend = flags.backend ?? "wasm";
  if (!isBackendKind(backend)) {
    throw new UsageError(`Invalid --backend "${backend}": expected wasm, ref or webgpu`);
  }
  const numerics = flags.numerics ?? "exact";
  if (!isNumericsProfile(numerics)) {
    throw new UsageError(`Invalid --numerics "${numerics}": expected exact or fast`);
  }
  if (flags.reference !== undefined && flags.reference.trim() === "") {
    throw new UsageError(`Invalid --reference "": expected llama.cpp, ik_llama or a path`);
  }
  if (flags.ikFormat !== undefined && flags.ikFormat !== "f32" && flags.ikFormat !== "iq2_bn") {
    throw new UsageError(`Invalid --ik-format "${flags.ikFormat}": expected f32 or iq2_bn`);
  }
  return {
    backend,
    numerics,
    ...(flags.reference !== undefined ? { reference: flags.reference } : {}),
    ...(flags.ikFormat !== undefined ? { ikFormat: flags.ikFormat as "f32" | "iq2_bn" } : {}),
    onBuildEvent: buildProgress(flags.json ?? false),
    ...(preflightSkipped() ? { skipPreflight: true } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(nCtx !== undefined ? { nCtx } : {}),
    ...(timeout !== undefined ? { referenceTimeoutMs: timeout * 1000 } : {}),
  };
}

/** Run parity on one model, turning a prompt that does not fit the context into a usage error (exit 2). */
async function runParityUsage(path: string, opts: ParityRunOptions): Promise<ParityReceipt> {
  const { runParityOnModel } = await import("../parity/mod.ts");
  try {
    return await runParityOnModel(path, opts);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`${e.message} (--ctx sets the context length)`);
    throw e;
  }
}

/**
 * One model's parity run as `parity` and `validate` do it: progress on stderr, the receipt written to its path, its
 * summary printed (all but the receipt silent with `json`).
 *
 * @param target The model.
 * @param opts Run options, the `--out` path, how many models run (for the receipt path), `--json`.
 * @returns The receipt, where it was written, and why it fails in strict mode (empty: it does not).
 */
export async function runParityTarget(
  target: ModelTarget,
  opts: { readonly run: ParityRunOptions; readonly out: string; readonly nTargets: number; readonly json: boolean },
): Promise<{ receipt: ParityReceipt; path: string; strict: string[] }> {
  if (!opts.json) console.error(`parity ${target.lockName ?? target.path}`);
  const receipt = await runParityUsage(target.path, {
    ...opts.run,
    lockName: target.lockName,
    sha256: target.sha256,
    onEvent: progressLogger(!opts.json),
  });
  const path = receiptPath(opts.out, target, opts.nTargets);
  const { writeJsonAtomic } = await import("../receipts/write.ts");
  await writeJsonAtomic(path, receipt);
  if (!opts.json) console.log(renderParitySummary(receipt, path));
  return { receipt, path, strict: strictParityProblems(receipt) };
}

/** Run `parity`; returns the exit code. */
export async function parityCommand(flags: ParityFlags): Promise<number> {
  if ((flags.model === undefined) === (flags.tier === undefined)) {
    throw new UsageError("Pass exactly one of --model <gguf|name> or --tier <tier>");
  }
  const base = runOptionsFromFlags(flags);
  strictMode(); // an invalid BITNET_STRICT_MODE is a usage error before any work
  // The reference process starts now, so its start-up overlaps loading the rest of the tool and provisioning.
  const early = await startReferenceEarly(base);
  try {
    return await parityTargets(flags, base, early);
  } finally {
    await early.close();
  }
}

/**
 * Start the reference process of a parity run before anything else (the first target takes it over).
 *
 * @param run The run options (budget, library directory).
 * @returns `take()` hands the process to the first run; `close()` ends it if nobody took it.
 */
export async function startReferenceEarly(
  run: ParityRunOptions,
): Promise<{ take(): ParityRunOptions; close(): Promise<void> }> {
  if (run.reference !== undefined && run.reference !== "llama.cpp") return { take: () => ({}), close: async () => {} };
  const { CppSubject, parityReferenceOptions } = await import("../parity/cpp_subject.ts");
  let spawned: ParityRunOptions["spawnedReference"] = CppSubject.spawn(parityReferenceOptions(run));
  spawned.catch(() => {}); // reported by the run that awaits it
  return {
    take() {
      const s = spawned;
      spawned = undefined;
      return s ? { spawnedReference: s } : {};
    },
    async close() {
      const s = spawned;
      spawned = undefined;
      await s?.then((p) => p.close(), () => {});
    },
  };
}

async function parityTargets(
  flags: ParityFlags,
  base: ParityRunOptions,
  early: { take(): ParityRunOptions },
): Promise<number> {
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
    : [await resolveModelFlag(flags.model!, flags.lockfile)];
  const run = { ...base, ...(prompts ? { prompts } : {}) };
  const json = flags.json ?? false;
  let code = 0;
  const receipts: ParityReceipt[] = [];
  for (const target of targets) {
    const { receipt, strict } = await runParityTarget(target, {
      run: { ...run, ...early.take() },
      out: flags.out,
      nTargets: targets.length,
      json,
    });
    receipts.push(receipt);
    if (!json) { for (const s of strict) console.log(`  ${styleText("red", "•")} strict: ${s}`); }
    code = Math.max(code, exitCodeOfStatus(receipt.status), strict.length ? 1 : 0);
  }
  if (json) printJson(receipts.length === 1 ? receipts[0] : receipts);
  else {
    console.log(
      code === 0 ? styleText("green", "PARITY PASS") : styleText(
        "red",
        `PARITY ${code === 2 ? "NOT RUN" : code === EXIT_REFERENCE_CRASHED ? "REFERENCE CRASHED" : "FAIL"}`,
      ),
    );
  }
  return code;
}

/** Flags of the hidden `parity-calibrate` command. */
export interface CalibrateFlags {
  backend: string;
  numerics?: string;
  faults?: boolean;
  out?: string;
  /** Calibrate against ik_llama.cpp on this input (`f32`, `iq2_bn`). */
  ikFormat?: string;
  /** Record each op's clean-row NMSE instead of judging it. */
  measure?: boolean;
}

/** Run the calibration behind docs/parity.md: one JSON line per run on stdout (and in `--out`). */
export async function parityCalibrateCommand(flags: CalibrateFlags): Promise<number> {
  if (!isBackendKind(flags.backend)) {
    throw new UsageError(`Invalid --backend "${flags.backend}": expected wasm, ref or webgpu`);
  }
  const numerics = flags.numerics ?? "exact";
  if (!isNumericsProfile(numerics)) {
    throw new UsageError(`Invalid --numerics "${numerics}": expected exact or fast`);
  }
  const { calibrate } = await import("../parity/calibrate.ts");
  if (flags.ikFormat !== undefined && flags.ikFormat !== "f32" && flags.ikFormat !== "iq2_bn") {
    throw new UsageError(`Invalid --ik-format "${flags.ikFormat}": expected f32 or iq2_bn`);
  }
  const records = await calibrate({
    backend: flags.backend,
    numerics,
    faults: flags.faults ?? false,
    ...(flags.ikFormat ? { ikFormat: flags.ikFormat as "f32" | "iq2_bn" } : {}),
    measure: flags.measure ?? false,
    onRecord: (r) => console.log(JSON.stringify(r)),
  });
  if (flags.out) {
    const { writeFileAtomic } = await import("../receipts/write.ts");
    await writeFileAtomic(flags.out, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  }
  return 0;
}

/**
 * Progress of a reference build during a parity run (the first ik_llama.cpp build takes minutes): the same display
 * as `crossval reference build`, on stderr; nothing with `--json` (stdout is the receipt).
 */
export function buildProgress(json: boolean): ParityRunOptions["onBuildEvent"] {
  if (json) return undefined;
  let renderer: { event(e: Parameters<NonNullable<ParityRunOptions["onBuildEvent"]>>[0]): void } | undefined;
  const pending: Parameters<NonNullable<ParityRunOptions["onBuildEvent"]>>[0][] = [];
  const load = import("./reference.ts").then((m) => {
    renderer = m.buildEventRenderer(false);
    for (const e of pending.splice(0)) renderer.event(e);
  });
  load.catch(() => {});
  return (e) => {
    // A cached build says nothing: only work the user waits for is shown.
    if (e.type === "cached") return;
    if (renderer) renderer.event(e);
    else pending.push(e);
  };
}
