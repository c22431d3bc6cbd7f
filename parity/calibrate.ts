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
import type { ReferenceParitySubject } from "./subject.ts";
import type { ParityReceipt } from "../receipts/parity_receipt.ts";
import { CppSubject } from "./cpp_subject.ts";
import { EngineSubject } from "./engine_subject.ts";
import { runParity } from "./harness.ts";
import { describeModelFile } from "./model_facts.ts";
import { DEFAULT_PROMPTS, type ParityPrompt } from "./prompts.ts";
import { runParityOnModel } from "./run_model.ts";
import type { IkInputFormat } from "./reference_plan.ts";
import { gatesFor } from "../receipts/parity_gates.ts";
import type { ParityThresholds } from "../receipts/parity_receipt.ts";

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
  const flips = rows.filter((x) => x.ref_top1 !== x.eng_top1);
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
    // Where the top-1 tokens differ: the largest top-1/top-2 gap of either side and the largest rank of one side's
    // choice in the other's logits (what tie_logit_epsilon and tie_top_k must cover for a comparison to pass).
    flip_gap_max: flips.length
      ? Math.max(...flips.map((x) => Math.max(x.eng_gap ?? Infinity, x.ref_gap ?? Infinity)))
      : null,
    flip_rank_max: flips.length
      ? Math.max(...flips.map((x) => Math.max(x.eng_rank_of_ref_top1, x.ref_rank_of_eng_top1)))
      : null,
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
    // Per kind, the largest per-row NMSE among rows whose inputs matched (what the tolerances are chosen from).
    loc_clean_max: Object.fromEntries(
      Object.entries(
        loc.tensors.reduce<Record<string, number>>((m, t) => {
          if (t.clean_row_nmse_max !== undefined && t.clean_row_nmse_max !== null) {
            m[t.kind] = Math.max(m[t.kind] ?? 0, t.clean_row_nmse_max);
          }
          return m;
        }, {}),
      ).map(([k, v]) => [k, Number(v.toExponential(2))]),
    ),
    thresholds: r.thresholds.id,
    reference: r.reference.library,
    activations: r.engine.activations ?? "int8",
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
    thresholds: gatesFor({ library: "llama.cpp", input: null, activations: "int8", numerics })!,
  });
  // Our exact profile as the reference describes itself as llama.cpp (its bit-for-bit twin): the record says which.
  return { ...calibrationLine(spec, faults, r), reference: stock ? "llama.cpp" : "engine-exact" };
}

/**
 * The generated `bitnet-b1.58` models the ik_llama.cpp gates are calibrated on: the tiny shape (rows of 256), 512-wide
 * (IQ2_BN needs rows of at least 512), deeper, other seeds, and 2B4T's exact shape with two layers (the full 30-layer
 * model's F32 transcode is ~9.6 GB, beyond these machines: docs/parity.md).
 */
export const IK_CALIBRATION_MODELS: readonly Partial<SynthSpec>[] = [
  { arch: "bitnet-b1.58", type: "i2_s" },
  { arch: "bitnet-b1.58", type: "i2_s", seed: 2 },
  { arch: "bitnet-b1.58", type: "i2_s", layers: 8 },
  { arch: "bitnet-b1.58", type: "i2_s", embd: 512 },
  { arch: "bitnet-b1.58", type: "i2_s", embd: 512, seed: 3 },
  { arch: "bitnet-b1.58", type: "i2_s", embd: 512, layers: 8 },
  { arch: "bitnet-b1.58", type: "i2_s", preset: "2b4t", layers: 2 },
];

/**
 * Faults against ik_llama.cpp, at layer 1 of the 512-wide model unless stated (the gates must catch each). Not
 * `perTokenActQuant`: it changes the TQ2_0/TQ1_0 activation quantizer, which an I2_S model does not use.
 */
export const IK_CALIBRATION_FAULTS: readonly Faults[] = [
  { swapActivation: 1 },
  { ropeNorm: 1 },
  { positionOffByOne: 1 },
  { skipSubNorm: 1 },
  { flipTernarySign: { layer: 1 } },
  { flipTernarySign: { layer: 3 } },
];

/**
 * Gates for measuring: the gate set's logits and greedy gates and its clean-input threshold, but every op tolerance
 * out of reach, so each op's largest clean-row NMSE is recorded instead of judged.
 */
function measuring(t: ParityThresholds): ParityThresholds {
  const tol = Object.fromEntries(Object.keys(t.localization.new_error_row_nmse).map((k) => [k, Number.MAX_VALUE]));
  return { ...t, id: `${t.id}+measure`, localization: { ...t.localization, new_error_row_nmse: tol } };
}

async function runOneReference(
  dir: string,
  spec: Partial<SynthSpec>,
  faults: Faults | null,
  backend: BackendKind,
  how: {
    ikFormat: IkInputFormat;
    measure: boolean;
    numerics: NumericsProfile;
    prompts: readonly ParityPrompt[];
    steps: number;
  },
) {
  const { ikFormat, measure, numerics } = how;
  const path = `${dir}/${JSON.stringify(spec).replace(/[^a-z0-9]+/gi, "_")}.gguf`;
  try {
    await Deno.stat(path);
  } catch {
    await writeSyntheticModel(path, normalizeSpec(spec));
  }
  const gates = gatesFor({
    library: "ik_llama.cpp",
    input: ikFormat,
    activations: ikFormat === "f32" ? "float" : "int8",
    numerics,
  })!;
  const r = await runParityOnModel(path, {
    backend,
    numerics,
    reference: "ik_llama",
    ikFormat,
    prompts: how.prompts,
    steps: how.steps,
    thresholds: measure ? measuring(gates) : gates,
    ...(faults ? { faults } : {}),
  });
  return calibrationLine(spec, faults, r);
}

/** Options of {@link calibrate}. */
export interface CalibrateOptions {
  /** Our engine's backend (default `wasm`). */
  readonly backend?: BackendKind;
  /** Our engine's kernel set (default `exact`). */
  readonly numerics?: NumericsProfile;
  /** Calibrate against ik_llama.cpp on this input (`f32`, `iq2_bn`) instead of the pinned llama.cpp. */
  readonly ikFormat?: IkInputFormat;
  /** With `ikFormat`: record each op's clean-row NMSE instead of judging it (the tolerances' calibration). */
  readonly measure?: boolean;
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
    const ik = opts.ikFormat;
    const models = opts.models ?? (ik ? IK_CALIBRATION_MODELS : CALIBRATION_MODELS);
    const runs: [Partial<SynthSpec>, Faults | null][] = ik
      ? opts.faults
        ? IK_CALIBRATION_FAULTS.map((f) => [opts.models?.[0] ?? IK_CALIBRATION_MODELS[3], f])
        : models.filter((m) => ik === "f32" || (m.embd ?? 0) >= 512 || m.preset === "2b4t").map((m) => [m, null])
      : opts.faults
      ? CALIBRATION_FAULTS.map((f) => [models[0], f])
      : models.map((m) => [m, null]);
    const prompts = opts.prompts ?? DEFAULT_PROMPTS, steps = opts.steps ?? 32;
    for (const [spec, faults] of runs) {
      const record = {
        backend,
        numerics,
        ...(ik
          ? await runOneReference(dir, spec, faults, backend, {
            ikFormat: ik,
            measure: opts.measure ?? false,
            numerics,
            prompts,
            steps,
          })
          : await runOne(dir, spec, faults, backend, numerics, prompts, steps)),
      };
      opts.onRecord?.(record);
      out.push(record);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}
