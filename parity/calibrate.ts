/**
 * The calibration behind docs/parity.md: our engine vs llama.cpp on generated models, with and without injected
 * faults, one record per run with the numbers the gates are chosen from. Rerun it after any change to the
 * engine's numerics or to the gates:
 * `crossval parity-calibrate [--backend wasm|ref] [--numerics exact|fast] [--faults] [--out FILE]`.
 *
 * The model set covers every family the engine runs: `bitnet` and `llama` models run against the pinned llama.cpp;
 * `bitnet-b1.58` models (squared-ReLU FFN, which stock llama.cpp does not compute, and I2_S weights, which it does
 * not load) run against our engine's `exact` profile, the bit-for-bit twin of llama.cpp's x86 float order
 * (docs/performance.md "Numerics and speed"): what calibrates the `fast` profile's distance from that order. Such
 * records say `reference: "engine-exact"`.
 *
 * @module
 */

import { normalizeSpec, type SynthSpec, writeSyntheticModel } from "../engine/synth/mod.ts";
import type { Faults } from "./faults.ts";
import type { BackendKind } from "../engine/backends/backend.ts";
import type { NumericsProfile } from "../engine/backends/type_kernels.ts";
import { REFERENCE_NOT_LOADED } from "./assemble.ts";
import { thresholdsFor } from "../receipts/parity_gates.ts";
import type { ReferenceParitySubject } from "./subject.ts";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import { CppSubject } from "./cpp_subject.ts";
import { EngineSubject } from "./engine_subject.ts";
import { runParity } from "./harness.ts";
import { describeModelFile } from "./model_facts.ts";
import { DEFAULT_PROMPTS, type ParityPrompt } from "./prompts.ts";

/** The generated models calibration covers: shapes, ternary types, embedding types, scales, seeds, depth. */
export const CALIBRATION_MODELS: readonly Partial<SynthSpec>[] = [
  { layers: 4 },
  { layers: 4, seed: 2 },
  { layers: 4, seed: 3 },
  { layers: 4, type: "tq1_0" },
  { layers: 4, embedType: "bf16" },
  { layers: 4, embedType: "q8_0" },
  { layers: 4, embedType: "q6_k" },
  { layers: 4, heads: 4, headsKv: 4 },
  { layers: 4, heads: 8, headsKv: 2 },
  { layers: 4, heads: 4, headsKv: 1 },
  { layers: 4, scales: true },
  { layers: 2 },
  { layers: 8 },
  { layers: 4, arch: "bitnet-b1.58" },
  { layers: 4, arch: "bitnet-b1.58", type: "i2_s" },
  { layers: 4, arch: "bitnet-b1.58", embedType: "bf16", seed: 2 },
  { preset: "tiny-llama", arch: "llama" },
  { preset: "tiny-llama", arch: "llama", layers: 4, seed: 2 },
  { preset: "tiny-llama", arch: "llama", untied: true, outputType: "q6_k", ropeFreqs: true },
];

/** Architectures stock llama.cpp computes correctly (the others are calibrated against the exact profile). */
const LLAMA_CPP_ARCHS: ReadonlySet<string> = new Set(["bitnet", "llama"]);

/** Faults injected at layer 2 of the first model. */
export const CALIBRATION_FAULTS: readonly Faults[] = [
  { ropeNorm: 2 },
  { positionOffByOne: 2 },
  { skipSubNorm: 2 },
  { swapActivation: 2 },
  { flipTernarySign: { layer: 2 } },
  { flipTernarySign: { layer: 3 } },
  { perTokenActQuant: 2 },
  { perTokenActQuant: 3 },
];

/**
 * The numbers of one run that calibration looks at.
 *
 * @param spec Model spec.
 * @param faults Injected faults, or null.
 * @param r The run's receipt.
 * @returns A flat record (JSON-serialisable).
 */
export function calibrationLine(
  spec: Partial<SynthSpec>,
  faults: Faults | null,
  r: ParityReceipt,
): Record<string, unknown> {
  const s = r.checks.logits.summary;
  const rows = r.checks.logits.rows;
  const dl = rows.map((x) => x.max_abs_dlogit ?? Infinity).sort((a, b) => a - b);
  const loc = r.checks.localization;
  const dens = loc.tensors.filter((t) => t.clean_rows > 0).map((t) =>
    [t.name, t.new_error_rows / t.clean_rows, t.clean_rows] as const
  );
  const worst = dens.reduce<readonly [string, number, number] | null>(
    (a, b) => (a === null || b[1] > a[1] ? b : a),
    null,
  );
  return {
    model: spec,
    faults,
    status: r.status,
    failed: r.reasons.map((x) => x.code),
    tokens: s?.compared_tokens,
    cos_min: s?.cosine_min,
    kld_mean: s?.kld.mean,
    kld_median: s?.kld.median,
    kld_p99: s?.kld.p99,
    kld_max: s?.kld.max,
    same_top: s?.same_top.p,
    decisive_flips: s?.decisive_top1_flips,
    dlogit_p99: dl[Math.floor(0.99 * (dl.length - 1))],
    dlogit_max: s?.max_abs_dlogit,
    rms_dp: s?.rms_dp,
    greedy: r.checks.greedy.prompts.flatMap((g) =>
      g.divergences.map((
        d,
      ) => [
        g.prompt,
        d.step,
        d.engine_gap,
        d.reference_gap,
        d.engine_rank_of_reference_token,
        d.reference_rank_of_engine_token,
      ])
    ),
    loc_status: loc.status,
    loc_worst_new_error_fraction: worst,
    loc_undetermined: loc.tensors.filter((t) => t.status === "undetermined").map((t) => t.name),
    loc_first: loc.first_exceedance && {
      name: loc.first_exceedance.name,
      new_error_rows: loc.first_exceedance.new_error_rows,
      clean_rows: loc.first_exceedance.clean_rows,
      status: loc.first_exceedance.status,
    },
    engine_ms: r.metrics.inference_time_engine_ms,
    cpp_ms: r.metrics.inference_time_cpp_ms,
  };
}

/** Our engine's exact profile as the reference side (models stock llama.cpp cannot compute). */
function exactEngineReference(e: EngineSubject): ReferenceParitySubject & Disposable {
  return {
    nVocab: e.nVocab,
    nCtx: e.nCtx,
    tokenize: (text, v) => e.tokenize(text, v),
    piece: (id) => e.piece(id),
    evalAll: (ids) => e.evalAll(ids),
    begin: (ids) => e.begin(ids),
    step: (id) => e.step(id),
    capture: (ids) => e.capture(ids),
    describe: () => ({ ...REFERENCE_NOT_LOADED, library: "llama.cpp" }),
    [Symbol.dispose]: () => e.close(),
  };
}

async function runOne(
  dir: string,
  spec: Partial<SynthSpec>,
  faults: Faults | null,
  backend: BackendKind,
  numerics: NumericsProfile,
  prompts: readonly ParityPrompt[],
  steps: number,
) {
  const path = `${dir}/${JSON.stringify(spec).replace(/[^a-z0-9]+/gi, "_")}.gguf`;
  try {
    await Deno.stat(path);
  } catch {
    await writeSyntheticModel(path, normalizeSpec(spec));
  }
  const facts = await describeModelFile(path);
  const common = { threads: 1, nCtx: 512 };
  using eng = await EngineSubject.open(path, { ...common, backend, numerics, ...(faults ? { faults } : {}) });
  const stock = LLAMA_CPP_ARCHS.has(normalizeSpec(spec).arch) && normalizeSpec(spec).type !== "i2_s";
  await using ref = stock
    ? await CppSubject.open(path, { ...common, greedySteps: steps })
    : exactEngineReference(await EngineSubject.open(path, { ...common, backend: "wasm", numerics: "exact" }));
  const r = await runParity(eng, ref, prompts, {
    model: facts.model,
    tokenizer: facts.tokenizer,
    steps,
    thresholds: thresholdsFor(numerics),
  });
  return { reference: stock ? "llama.cpp" : "engine-exact", ...calibrationLine(spec, faults, r) };
}

/** Options of {@link calibrate}. */
export interface CalibrateOptions {
  /** Our engine's backend (default `wasm`). */
  readonly backend?: BackendKind;
  /** Our engine's kernel set (default `exact`). */
  readonly numerics?: NumericsProfile;
  /** Run the fault set on the first model instead of the model set without faults. */
  readonly faults?: boolean;
  /** Called with each record as it is produced. */
  readonly onRecord?: (record: Record<string, unknown>) => void;
  /**
   * The models (default {@link CALIBRATION_MODELS}; with `faults`, the faults are injected into the first). A
   * subset, with fewer `prompts` and `steps`, is a quick look; the gates are chosen from the full set.
   */
  readonly models?: readonly Partial<SynthSpec>[];
  /** Prompts (default `DEFAULT_PROMPTS`). */
  readonly prompts?: readonly ParityPrompt[];
  /** Greedy steps per prompt (default 32). */
  readonly steps?: number;
}

/**
 * Run the calibration set (models in a temporary directory, removed afterwards).
 *
 * @param opts Backend, which set, progress.
 * @returns One record per run.
 * @throws Whatever loading a side throws (the llama.cpp library must be available).
 * @example
 * ```ts
 * import { calibrate } from "./calibrate.ts";
 * // The full fault set (`{ faults: true }`) takes minutes; one small model, one prompt and 4 steps take a second.
 * const prompts = [{ text: "Once upon a time", parseSpecial: false }];
 * const records = await calibrate({ models: [{ layers: 2 }], prompts, steps: 4 });
 * console.log(records[0].status, records[0].kld_max); // "pass" 0
 * ```
 */
export async function calibrate(opts: CalibrateOptions = {}): Promise<Record<string, unknown>[]> {
  const backend = opts.backend ?? "wasm", numerics = opts.numerics ?? "exact";
  const dir = await Deno.makeTempDir({ prefix: "crossval-calibrate-" });
  const out: Record<string, unknown>[] = [];
  try {
    const models = opts.models ?? CALIBRATION_MODELS;
    const runs: [Partial<SynthSpec>, Faults | null][] = opts.faults
      ? CALIBRATION_FAULTS.map((f) => [models[0], f])
      : models.map((m) => [m, null]);
    const prompts = opts.prompts ?? DEFAULT_PROMPTS, steps = opts.steps ?? 32;
    for (const [spec, faults] of runs) {
      const record = { backend, numerics, ...(await runOne(dir, spec, faults, backend, numerics, prompts, steps)) };
      opts.onRecord?.(record);
      out.push(record);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}
