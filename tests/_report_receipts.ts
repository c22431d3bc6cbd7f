/**
 * Real receipts for the report's tests and its screenshot: parity of our engine against llama.cpp on a generated
 * tiny model (passing), the same run with an injected layer fault (failing, localized), parity on a model llama.cpp
 * cannot load (not run), and two benchmark runs of the tiny model, the first made into a baseline for the second.
 * One prompt is hostile markup, so the page must escape a receipt's text. Needs the llama.cpp library.
 *
 * @module
 */

import type { Faults } from "../parity/faults.ts";
import { DEFAULT_PROMPTS, type ParityPrompt, runParityOnModel } from "../parity/mod.ts";
import { benchModelFile } from "../bench/bench_model.ts";
import { type Baseline, generateBaseline } from "../receipts/baseline.ts";
import type { BenchReceipt } from "../receipts/bench_receipt.ts";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import { writeJsonAtomic } from "../receipts/write.ts";
import { fixtureModel } from "./_fixtures.ts";

/** A prompt that is markup: the report must show it as text. */
export const HOSTILE_PROMPT: ParityPrompt = {
  text: `<script>alert("x")</script><img src=x onerror="alert(1)"> & done`,
  parseSpecial: false,
};

/** The injected fault of the failing receipt (wrong RoPE pairing in layer 1: caught at the logits, localized). */
export const FAULT: { readonly faults: Faults; readonly layer: number } = { faults: { ropeNorm: 1 }, layer: 1 };

/** The receipts. */
export interface ReportReceipts {
  /** Passing parity. */
  readonly pass: ParityReceipt;
  /** Failing parity (injected fault). */
  readonly fail: ParityReceipt;
  /** Parity whose reference could not run. */
  readonly notRun: ParityReceipt;
  /** The current benchmark. */
  readonly bench: BenchReceipt;
  /** A baseline from an earlier benchmark of the same model on this machine. */
  readonly baseline: Baseline;
}

/**
 * Produce the receipts (about ten seconds on a shared two-core machine).
 *
 * @param dir Where the models are put (under plain names, as a user's would be): keep it while the receipts are used.
 * @returns Them.
 */
export async function makeReportReceipts(dir: string): Promise<ReportReceipts> {
  const model = `${dir}/tiny.gguf`;
  await Deno.copyFile(await fixtureModel({ layers: 4 }), model);
  const prompts = [DEFAULT_PROMPTS[0]!, DEFAULT_PROMPTS[2]!, HOSTILE_PROMPT];
  const pass = await runParityOnModel(model, { prompts, steps: 8 });
  const fail = await runParityOnModel(model, { prompts, steps: 8, faults: FAULT.faults });
  // The pinned llama.cpp cannot compute bitnet-b1.58 or I2_S (type 36): chosen anyway, it is refused, nothing is
  // validated (its default reference, ik_llama.cpp, would run it).
  const i2s = `${dir}/tiny-b1.58-i2_s.gguf`;
  await Deno.copyFile(await fixtureModel({ layers: 2, arch: "bitnet-b1.58", type: "i2_s" }), i2s);
  const notRun = await runParityOnModel(i2s, { prompts: prompts.slice(0, 1), steps: 4, reference: "llama.cpp" });
  const opts = { threads: 1, tests: ["pp32", "tg8"], reps: 5, warmup: 1, name: "tiny" };
  const before = await benchModelFile(model, opts);
  const bench = await benchModelFile(model, opts);
  return { pass, fail, notRun, bench, baseline: generateBaseline([before]) };
}

/**
 * Write the receipts as files, as the commands would.
 *
 * @param r The receipts.
 * @param dir Directory.
 * @returns Paths of the receipts (parity pass, fail, not run, bench) and of the baseline.
 */
export async function writeReportReceipts(
  r: ReportReceipts,
  dir: string,
): Promise<{ readonly receipts: string[]; readonly baseline: string }> {
  const files: [string, unknown][] = [
    [`${dir}/parity_fail.json`, r.fail],
    [`${dir}/parity_pass.json`, r.pass],
    [`${dir}/parity_not_run.json`, r.notRun],
    [`${dir}/bench_tiny.json`, r.bench],
  ];
  for (const [path, json] of files) await writeJsonAtomic(path, json);
  await writeJsonAtomic(`${dir}/baseline.json`, r.baseline);
  return { receipts: files.map(([p]) => p), baseline: `${dir}/baseline.json` };
}
